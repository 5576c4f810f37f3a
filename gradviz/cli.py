"""The ``gradviz`` command: the window by default, headless subcommands beside it.

::

    gradviz [--lesson LESSON|SPEC.json] [--play] [--epochs N] [--screenshot PATH] [--record RUN.gif|RUN.mp4]
            [--quit-when-done] [--presentation]
    gradviz --open SESSION.gradviz [--screenshot PATH] [--quit-when-done] [--presentation]
    gradviz --self-test
    gradviz lessons
    gradviz spec LESSON
    gradviz run LESSON|SPEC.json [--epochs N] [--seed S] [--out DIR]

Bad input ends with one line on stderr naming the problem and exit code 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from gradviz import __version__

if TYPE_CHECKING:
    from gradviz.engine.history import RunHistory

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _error(message: str) -> int:
    one_line = "".join(c if c.isprintable() else " " for c in message)
    print(f"gradviz: error: {one_line}", file=sys.stderr)
    return EXIT_USAGE


def _unwritable_file(name: str) -> str:
    """Why a file cannot be written at ``name`` (its folders are created if missing), or ``""``."""
    import os

    path = Path(name).expanduser()
    if path.is_dir():
        return f"{name!r} is a folder"
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"cannot write {name!r}: {str(folder)!r} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write {name!r}: {str(folder)!r} is not writable"
    return ""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one ``gradviz: error:`` line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        _error(f"{message} (see {self.prog} --help)")
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="gradviz",
        description="Watch neural networks learn. Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"gradviz {__version__}")
    parser.add_argument("--lesson", default=None, metavar="LESSON|SPEC.json",
                        help="lesson name or spec file to open (default: the last one opened, else race)")
    parser.add_argument("--play", action="store_true", help="start training as soon as the window is ready")
    parser.add_argument("--epochs", type=_positive_int, metavar="N", help="train for N epochs instead")
    parser.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window to PATH")
    parser.add_argument("--record", metavar="RUN.gif|RUN.mp4",
                        help="record the panels as an animated GIF (or MP4, needs ffmpeg), written when the run ends")
    parser.add_argument("--open", metavar="SESSION.gradviz", dest="open_path",
                        help="show a saved session (every recorded epoch) without training")
    parser.add_argument("--quit-when-done", action="store_true",
                        help="exit after the run ends (with --play) or after the first frame")
    parser.add_argument("--presentation", action="store_true",
                        help="start in presentation mode: full screen, large text (F5 or Esc leaves it)")
    parser.add_argument("--self-test", action="store_true",
                        help="train a tiny run offscreen, render every panel, print one line; exit 0 if all is well")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("lessons", help="list the lessons")
    spec = sub.add_parser("spec", help="print a lesson's spec as JSON (a starting point for your own)")
    spec.add_argument("lesson", metavar="LESSON")
    run = sub.add_parser("run", help="train headless and write the results to files")
    run.add_argument("target", metavar="LESSON|SPEC.json")
    run.add_argument("--epochs", type=_positive_int, metavar="N", dest="run_epochs")
    run.add_argument("--seed", type=_positive_int, metavar="S")
    run.add_argument("--out", metavar="DIR",
                     help="folder to write spec, data, metrics, weights, figures and session.gradviz to")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gradviz`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.self_test:
        from gradviz.selftest import main as self_test

        return self_test()
    if args.command == "lessons":
        return _cmd_lessons()
    if args.command == "spec":
        return _cmd_spec(args.lesson)
    if args.command == "run":
        return _cmd_run(args)
    return _cmd_gui(args)


def _cmd_gui(args: argparse.Namespace) -> int:
    if args.open_path is not None and (args.play or args.epochs is not None):
        return _error("--open shows a session as it was recorded; --play and --epochs do not apply "
                      "(use Continue training in the window)")
    if args.record is not None:
        # Checked before the window opens: a bad path must not cost a whole run.
        from gradviz.ui.recorder import RecordingError, check_record_path

        try:
            check_record_path(args.record)
        except RecordingError as exc:
            return _error(str(exc))
    if args.screenshot is not None:
        problem = _unwritable_file(args.screenshot)
        if problem:
            return _error(f"--screenshot: {problem}")
    from gradviz.ui.app import run_app

    return run_app(
        lesson=args.lesson,
        play=args.play,
        epochs=args.epochs,
        screenshot=args.screenshot,
        record=args.record,
        quit_when_done=args.quit_when_done,
        presentation=args.presentation,
        open_path=args.open_path,
    )


def _cmd_lessons() -> int:
    from gradviz.engine.lessons import lesson_names, load_lesson

    lessons = [load_lesson(name) for name in lesson_names()]
    width = max(len(lesson.name) for lesson in lessons)
    for lesson in lessons:
        print(f"{lesson.name:<{width}}  {lesson.title}: {lesson.summary}")
    return EXIT_OK


def _cmd_spec(name: str) -> int:
    from gradviz.engine.errors import SpecError
    from gradviz.engine.lessons import load_lesson

    try:
        lesson = load_lesson(name)
    except SpecError as exc:
        return _error(str(exc))
    sys.stdout.write(lesson.spec.dumps())
    return EXIT_OK


def _prepare_out(out: str | None) -> Path | None:
    from gradviz.engine.errors import SpecError

    if out is None:
        return None
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise SpecError("--out", f"{out!r} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gradviz-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SpecError("--out", f"cannot write to {out!r}: {exc.strerror or exc}") from None
    return path


def _cmd_run(args: argparse.Namespace) -> int:
    from gradviz.engine.errors import SpecError
    from gradviz.engine.lessons import resolve

    try:
        lesson = resolve(args.target)
        spec = lesson.spec
        if args.run_epochs is not None:
            spec = spec.replace(epochs=args.run_epochs)
        if args.seed is not None:
            spec = spec.replace(seed=args.seed)
        out = _prepare_out(args.out)
    except SpecError as exc:
        return _error(str(exc))

    from gradviz.engine.control import RunControl
    from gradviz.engine.export import write_run_files
    from gradviz.engine.history import RunHistory
    from gradviz.engine.session import save_session
    from gradviz.engine.trainer import iter_run

    control = RunControl()
    progress = _Progress(sys.stderr, spec.epochs, enabled=not args.quiet)
    history: RunHistory | None = None
    interrupted = False
    try:
        for report in iter_run(spec, control, weights_dir=None if out is None else out / "weights"):
            if history is None:
                history = RunHistory(report.layout)
            history.append(report)
            progress.update(report.epoch, report.loss, spec.lane_names)
            for message in report.messages:
                progress.note(message)
    except SpecError as exc:
        progress.close()
        return _error(str(exc))
    except ImportError as exc:  # a broken TensorFlow install: say so in one line, not a traceback
        progress.close()
        _error(f"TensorFlow could not be loaded: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        control.stop()
        interrupted = True
    progress.close()
    if history is None:
        return EXIT_INTERRUPTED if interrupted else EXIT_FAILED
    _print_summary(history)
    if out is not None:
        written = write_run_files(history, out)
        written.append(save_session(out / "session.gradviz", history, lesson.name))
        written += _write_figures(history, out / "figures")
        weights = " and lane weights" if (out / "weights").is_dir() else ""
        print(f"wrote {len(written)} files{weights} to {out}", file=sys.stderr)
    if interrupted:
        print(f"gradviz: interrupted after epoch {history.last_epoch}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _write_figures(history: RunHistory, folder: Path) -> list[Path]:
    """Each panel rendered offscreen by the window's own panel classes."""
    import os

    # Nobody sees these windows: never reach for a display (or fail without one).
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gradviz.ui.figures import panels_for, render_figures

    return render_figures(history, folder, panels=panels_for(history))


def _print_summary(history: RunHistory) -> None:
    import numpy as np

    names = history.layout.lane_names
    width = max(8, *(len(n) for n in names))
    loss = history.loss
    diverged_at = history.diverged_epoch()
    print(f"{'lane':<{width}}  {'final loss':>12}  {'best loss':>12}  status")
    for lane, name in enumerate(names):
        final = loss[lane, -1]
        finite = loss[lane][np.isfinite(loss[lane])]
        best = float(finite.min()) if finite.size else math.nan
        status = f"diverged at epoch {diverged_at[lane]}" if diverged_at[lane] >= 0 else "ok"
        print(f"{name:<{width}}  {final:>12.6g}  {best:>12.6g}  {status}")


class _Progress:
    """A one-line progress bar on a terminal; a few plain lines otherwise."""

    def __init__(self, stream: TextIO, total: int, enabled: bool = True) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.enabled = enabled
        self.tty = enabled and stream.isatty()
        self._last_draw = 0.0
        self._last_quarter = -1
        self._drawn = False

    def update(self, epoch: int, loss: object, names: tuple[str, ...]) -> None:
        if not self.enabled:
            return
        frac = min(epoch / self.total, 1.0)
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and epoch < self.total:
                return
            self._last_draw = now
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r[{bar:<30}] epoch {epoch}/{self.total}")
            self.stream.flush()
            self._drawn = True
        else:
            quarter = int(frac * 4)
            if quarter != self._last_quarter:
                self._last_quarter = quarter
                self.stream.write(f"epoch {epoch}/{self.total}\n")

    def note(self, message: str) -> None:
        self.close()
        self.stream.write(message + "\n")

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
