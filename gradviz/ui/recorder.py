"""Recording a run as an animated GIF (Pillow) or an MP4 (an ``ffmpeg`` on PATH).

Frames come from the controller's ``frame_rendered`` signal: each time the
panels were drawn, the panel area is grabbed, at most ``fps`` times a
second and scaled to at most ``max_width`` pixels, on the GUI thread.  A
writer thread turns frames into file data as they arrive (only the part
that changed since the last frame is encoded for a GIF), so memory stays
bounded however long the run.  Each frame is shown for as long as it was on
screen, so the file plays at the speed the class saw.

Data go to a hidden temporary file beside the target, which replaces the
target only when the recording ends: the file is whole or absent.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PySide6.QtCore import QObject, Qt, SignalInstance, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from gradviz.engine.files import give_new_file_mode

__all__ = [
    "DEFAULT_FPS", "DEFAULT_MAX_WIDTH", "RECORD_SUFFIXES", "FrameRecorder", "RecordingError", "check_record_path",
]

RECORD_SUFFIXES = (".gif", ".mp4")
DEFAULT_FPS = 10.0
DEFAULT_MAX_WIDTH = 960
#: How long the last frame stays up before a GIF loops: long enough to read the result.
FINAL_FRAME_S = 3.0
_TRANSPARENT = 255  # GIF palette index for "unchanged since the last frame"
# A frame left on screen longer (the class talking, the run paused) lasts this
# long in the recording: a GIF cannot hold more than 655 s per frame, and an
# MP4 would repeat the frame for the whole pause.
MAX_FRAME_S = 60.0
_QUEUE_FRAMES = 6  # frames waiting for the writer; more are dropped (the previous one is shown longer)


class RecordingError(Exception):
    """A recording that cannot start or finish; the message names the file and the reason."""


def check_record_path(path: str | Path) -> Path:
    """``path`` (``~`` expanded) once a recording can be written there.

    Raises
    ------
    RecordingError
        Unknown suffix, MP4 without ``ffmpeg``, a folder that is missing or
        not writable, or a path that is a folder.
    """
    path = Path(path).expanduser()
    name = repr(str(path))
    suffix = path.suffix.lower()
    if suffix not in RECORD_SUFFIXES:
        raise RecordingError(f"cannot record to {name}: the file must end in .gif or .mp4")
    if suffix == ".mp4" and shutil.which("ffmpeg") is None:
        raise RecordingError(f"cannot record to {name}: MP4 needs the ffmpeg program on PATH; "
                             "install it or record a .gif instead")
    if path.is_dir():
        raise RecordingError(f"cannot record to {name}: it is a folder")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise RecordingError(f"cannot record to {name}: {str(folder)!r} is a file, not a folder")
    if not folder.is_dir():
        raise RecordingError(f"cannot record to {name}: folder {str(folder)!r} does not exist")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RecordingError(f"cannot record to {name}: {exc.strerror or exc}") from None
    return path


@dataclass(frozen=True, slots=True)
class _Frame:
    """One grabbed frame: RGB pixels and when it was shown (``time.monotonic``)."""

    pixels: np.ndarray  # (height, width, 3) uint8
    shown_at: float


class _GifSink:
    """Writes GIF frames as they come: only the changed rectangle of each, with its own palette."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._previous: np.ndarray | None = None  # the last frame written
        self.frames = 0

    def write(self, frame: np.ndarray, duration_s: float) -> None:
        from PIL import GifImagePlugin, Image

        previous = self._previous
        if previous is None:
            top, left, bottom, right = 0, 0, frame.shape[0], frame.shape[1]
        else:
            changed = np.any(previous != frame, axis=2)
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if not rows.size:
                rows, cols = np.array([0]), np.array([0])
            top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = frame[top:bottom, left:right]
        part = Image.fromarray(crop, "RGB").quantize(_TRANSPARENT, method=Image.Quantize.MEDIANCUT,
                                                     dither=Image.Dither.NONE)
        params: dict[str, object] = {
            # centiseconds; browsers show anything under 2 cs at 10 cs
            "duration": max(20, round(min(duration_s, MAX_FRAME_S) * 100) * 10),
            "disposal": 1,  # keep the frame: the next one draws only what changed
            "include_color_table": True,
        }
        if previous is not None:
            # Unchanged pixels inside the rectangle become transparent: long runs of
            # one index, which LZW packs into next to nothing.
            indices = np.asarray(part).copy()
            indices[~changed[top:bottom, left:right]] = _TRANSPARENT
            palette = part.getpalette() or []
            part = Image.fromarray(indices, "P")
            part.putpalette(palette + [0] * (768 - len(palette)))
            params["transparency"] = _TRANSPARENT
        else:
            header, _palette = GifImagePlugin.getheader(part, None, {"loop": 0})
            for chunk in header:
                self._fh.write(chunk)
        for chunk in GifImagePlugin.getdata(part, offset=(int(left), int(top)), **params):
            self._fh.write(chunk)
        self._previous = frame
        self.frames += 1

    def close(self) -> None:
        self._fh.write(b";")  # GIF trailer


class _Mp4Sink:
    """Pipes raw RGB frames to ``ffmpeg`` at a constant rate; a frame shown longer is repeated."""

    def __init__(self, target: Path, fps: float) -> None:
        self._target = target
        self._fps = fps
        self._process: subprocess.Popen | None = None
        self.frames = 0

    def write(self, frame: np.ndarray, duration_s: float) -> None:
        if self._process is None:
            height, width = frame.shape[:2]
            ffmpeg = shutil.which("ffmpeg")
            if ffmpeg is None:
                raise RecordingError("MP4 needs the ffmpeg program on PATH; record a .gif instead")
            self._process = subprocess.Popen(
                [ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
                 "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{self._fps:g}", "-i", "-",
                 "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4",
                 str(self._target)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
        assert self._process.stdin is not None
        data = np.ascontiguousarray(frame).tobytes()
        for _ in range(max(1, round(min(duration_s, MAX_FRAME_S) * self._fps))):
            self._process.stdin.write(data)
        self.frames += 1

    def close(self) -> None:
        process = self._process
        if process is None:
            raise RecordingError("no frame was recorded")
        assert process.stdin is not None and process.stderr is not None
        process.stdin.close()
        errors = process.stderr.read().decode(errors="replace").strip()
        if process.wait() != 0:
            raise RecordingError(f"ffmpeg failed: {errors.splitlines()[-1] if errors else process.returncode}")

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


class _Writer:
    """The writer thread: frames in through a bounded queue, file data out to a temporary file."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        give_new_file_mode(fd, path)
        self._tmp = Path(tmp)
        self._fh: IO[bytes] = os.fdopen(fd, "wb")
        self._sink: _GifSink | _Mp4Sink
        if path.suffix.lower() == ".mp4":
            self._fh.close()  # ffmpeg writes the file itself
            self._sink = _Mp4Sink(self._tmp, fps)
        else:
            self._sink = _GifSink(self._fh)
        self._queue: queue.Queue[_Frame | None] = queue.Queue(_QUEUE_FRAMES)
        self._pending: _Frame | None = None
        self.error: str | None = None
        self.dropped = 0
        self._thread = threading.Thread(target=self._loop, name="gradviz-recorder", daemon=True)
        self._thread.start()

    @property
    def frames(self) -> int:
        return self._sink.frames

    def put(self, frame: _Frame) -> None:
        try:
            self._queue.put_nowait(frame)
        except queue.Full:
            self.dropped += 1

    def _loop(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is None:
                return
            if self.error is not None:
                continue  # drain: the recording is lost, the GUI reports it
            try:
                self._take(frame)
            except Exception as exc:  # reported by finish(), never lost in a thread
                self.error = str(exc) or type(exc).__name__

    def _take(self, frame: _Frame) -> None:
        pending = self._pending
        if pending is not None and np.array_equal(pending.pixels, frame.pixels):
            return  # nothing moved: the pending frame just stays up longer
        if pending is not None:
            self._sink.write(pending.pixels, frame.shown_at - pending.shown_at)
        self._pending = frame

    def finish(self) -> Path:
        """Write the last frame, close the file and put it in place."""
        self._queue.put(None)
        self._thread.join()
        try:
            if self.error is None and self._pending is not None:
                self._sink.write(self._pending.pixels, FINAL_FRAME_S)
            if self.error is not None:
                raise RecordingError(self.error)
            if self.frames == 0:
                raise RecordingError("no frame was recorded")
            if isinstance(self._sink, _GifSink):
                self._sink.close()
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            else:
                self._sink.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Stop and leave nothing behind."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if isinstance(self._sink, _Mp4Sink):
            self._sink.kill()
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


class FrameRecorder(QObject):
    """Records what ``area()`` shows each time a frame was rendered.

    Connect the controller's ``frame_rendered`` to :meth:`on_frame_rendered`
    (:meth:`attach` does), then :meth:`finish` (file written) or
    :meth:`abort` (nothing written).

    Parameters
    ----------
    path
        Target ``.gif`` or ``.mp4``, checked by :func:`check_record_path`.
    area
        Returns the widget to grab (the panel area); called for each frame.
    fps
        At most this many frames a second are grabbed.
    max_width
        Frames wider than this are scaled down (aspect kept).
    """

    def __init__(self, path: str | Path, area: Callable[[], QWidget], *, fps: float = DEFAULT_FPS,
                 max_width: int = DEFAULT_MAX_WIDTH, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not fps > 0 or max_width < 16:
            raise ValueError(f"fps must be positive and max_width at least 16, not {fps!r}, {max_width!r}")
        self.path = check_record_path(path)
        self._area = area
        self._interval = 1.0 / fps
        self._max_width = int(max_width)
        self._size: tuple[int, int] | None = None  # (width, height) of every frame, fixed by the first
        self._last_grab = -1e9
        self._writer: _Writer | None = _Writer(self.path, fps)
        self._signal: SignalInstance | None = None
        #: Frames in the file, once :meth:`finish` wrote it.
        self.frames = 0

    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def frame_size(self) -> tuple[int, int] | None:
        return self._size

    @property
    def error(self) -> str | None:
        """Why the recording failed, as soon as the writer knows; ``None`` while all is well."""
        return self._writer.error if self._writer is not None else None

    def attach(self, frame_rendered: SignalInstance) -> FrameRecorder:
        """Grab a frame each time ``frame_rendered`` is emitted (until finish or abort)."""
        frame_rendered.connect(self.on_frame_rendered)
        self._signal = frame_rendered
        return self

    @Slot(int)
    def on_frame_rendered(self, _epoch: int = -1) -> None:
        now = time.monotonic()
        if now - self._last_grab < self._interval:
            return
        self.grab(now)

    def grab(self, now: float | None = None) -> None:
        """Grab the area now (regardless of the frame rate)."""
        writer = self._writer
        if writer is None:
            return
        now = time.monotonic() if now is None else now
        self._last_grab = now
        widget = self._area()
        image = widget.grab().toImage()
        if image.isNull():
            return
        if self._size is None:
            width, height = image.width(), image.height()
            if width > self._max_width:
                height = round(height * self._max_width / width)
                width = self._max_width
            self._size = (max(2, width - width % 2), max(2, height - height % 2))  # even sides: yuv420p
        width, height = self._size
        if (image.width(), image.height()) != (width, height):
            image = image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
        image = image.convertToFormat(QImage.Format.Format_RGB888)
        rows = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
        pixels = rows.reshape(height, image.bytesPerLine())[:, : width * 3].reshape(height, width, 3).copy()
        writer.put(_Frame(pixels, now))

    def finish(self) -> Path:
        """Grab the final frame, write the file and put it in place; returns its path.

        Raises
        ------
        RecordingError
            The file could not be written (nothing is left behind).
        """
        writer = self._writer
        if writer is None:
            raise RecordingError("not recording")
        self.grab()
        self._detach()
        try:
            writer.finish()
        except OSError as exc:
            raise RecordingError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None
        except RecordingError as exc:
            raise RecordingError(f"cannot write {str(self.path)!r}: {exc}") from None
        self.frames = writer.frames
        return self.path

    def abort(self) -> None:
        """Stop recording and write nothing."""
        writer = self._writer
        self._detach()
        if writer is not None:
            writer.abort()

    def _detach(self) -> None:
        if self._signal is not None:
            self._signal.disconnect(self.on_frame_rendered)
            self._signal = None
        self._writer = None
