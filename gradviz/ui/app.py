"""run_app: the GUI entry point, with the switches the CLI and the smoke tests use.

The window is shown before TensorFlow is imported; the import runs in the
background and Play is enabled when it is done.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from gradviz.engine.errors import SpecError
from gradviz.engine.lessons import Lesson, lesson_names, resolve
from gradviz.engine.session import Session, SessionError, load_session
from gradviz.ui.controller import RunState
from gradviz.ui.garbage import GuiGarbageCollector
from gradviz.ui.main_window import MainWindow
from gradviz.ui.recorder import RecordingError, check_record_path
from gradviz.ui.settings import SettingsStore, remembered_lesson

__all__ = ["run_app"]

# After the window closes, how long to let a TensorFlow import still in
# progress finish, so the process does not exit in the middle of it.
_IMPORT_GRACE_S = 60.0


def _choose_lesson(lesson: str, epochs: int | None) -> Lesson:
    chosen = resolve(lesson)
    if epochs is not None:
        chosen = dataclasses.replace(chosen, spec=chosen.spec.replace(epochs=epochs))
    return chosen


class _Session(QObject):
    """What ``--play``, ``--screenshot``, ``--record`` and ``--quit-when-done`` ask of one window."""

    def __init__(self, app: QApplication, window: MainWindow, *, play: bool,
                 screenshot: str | None, quit_when_done: bool, record: str | None = None) -> None:
        super().__init__(window)
        self._app = app
        self._window = window
        self._play = play
        self._screenshot = screenshot
        self._quit = quit_when_done
        self.exit_code = 0
        self._record = record
        if record is not None:
            # From the first drawn epoch on, not the empty panels while TensorFlow loads.
            window.controller.history_started.connect(self._on_first_history)
        if play:
            # Connected after the window's own handler, so the run to play exists.
            window.loader.ready.connect(self._on_tensorflow_ready)
            window.loader.failed.connect(self._on_tensorflow_failed)
            window.controller.state_changed.connect(self._on_run_state_change)
            window.controller.failed.connect(self._on_run_failed)
        elif screenshot is not None or quit_when_done:
            QTimer.singleShot(0, self._on_first_frame)

    @Slot(object)
    def _on_first_history(self, _history: object) -> None:
        self._window.controller.history_started.disconnect(self._on_first_history)
        if self._record is None:
            return
        if self._window.export_actions.start_recording(self._record, grab_now=False) is None:
            print(f"gradviz: error: {self._window.export_actions.last_error}", file=sys.stderr)
            self._finish(1)
            return
        # Epoch 0 drawn and recorded now: a short run can end before the first frame tick.
        self._window.controller.render_now()

    def finish_recording(self) -> int:
        """Write the ``--record`` file now; 0, or 1 (after one line on stderr) if it failed."""
        actions = self._window.export_actions
        if self._record is None or actions.recorder is None:
            return 0
        self._record = None
        if actions.stop_recording() is None:
            print(f"gradviz: error: {actions.last_error}", file=sys.stderr)
            return 1
        return 0

    @Slot()
    def _on_tensorflow_ready(self) -> None:
        self._window.controller.play()

    @Slot(str)
    def _on_tensorflow_failed(self, message: str) -> None:
        print(f"gradviz: error: {message}", file=sys.stderr)
        self._finish(1)

    @Slot()
    def _on_first_frame(self) -> None:
        self._app.processEvents()
        self._finish(0)

    @Slot(object)
    def _on_run_state_change(self, state: RunState) -> None:
        if state is RunState.FINISHED:
            self._finish(0)

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        print(f"gradviz: error: {message}", file=sys.stderr)
        self._finish(1)

    def _finish(self, code: int) -> None:
        code = self.finish_recording() or code
        if self._screenshot is not None:
            self._window.controller.render_now()
            self._app.processEvents()
            path = Path(self._screenshot)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                saved = self._window.grab().save(str(path))
            except OSError:  # an exception here would leave the event loop running: the app would never exit
                saved = False
            if not saved:
                print(f"gradviz: error: cannot write screenshot {str(path)!r}", file=sys.stderr)
                code = code or 1
            self._screenshot = None  # one screenshot per session
        self.exit_code = self.exit_code or code
        if self._quit or not self._play:
            self._app.exit(self.exit_code)


def run_app(
    lesson: str | None = "race",
    play: bool = False,
    epochs: int | None = None,
    screenshot: str | None = None,
    quit_when_done: bool = False,
    argv: list[str] | None = None,
    record: str | None = None,
    presentation: bool = False,
    open_path: str | None = None,
) -> int:
    """Open the window on ``lesson`` and run the Qt event loop; returns the exit code.

    Parameters
    ----------
    lesson
        A lesson name (``race``, ``vanishing`` ...) or the path of a SPEC.json;
        ``None``: the lesson open when the window last closed (else ``race``).
    play
        Start training as soon as TensorFlow is ready.
    epochs
        Override the spec's epochs.
    screenshot
        Save a PNG of the whole window: with ``play``, when the run ends;
        without, the first frame (then exit).
    quit_when_done
        Exit when the run ends (0) or fails (1).
    record
        Record the panels from the first epoch to a ``.gif`` (or ``.mp4``,
        with ``ffmpeg``), written when the run ends (or the window closes).
    argv
        Arguments for QApplication (Qt's own switches); ``sys.argv[:1]`` if ``None``.
    presentation
        Open in presentation mode (full screen, large text; F5 or Esc leaves it).
    open_path
        A saved session to show instead of ``lesson``, without importing
        TensorFlow until the learner trains.  If it cannot be opened, the
        window says why (with ``quit_when_done``: stderr and exit code 2).

    Returns
    -------
    int
        0 on success, 1 if the run, the screenshot or the recording failed, 2 for a bad lesson,
        spec or recording path.
    """
    # A scripted run (screenshots for slides, smoke tests) reads the learner's
    # settings but leaves them as they were.
    settings = SettingsStore(writable=screenshot is None and not quit_when_done)
    if lesson is None:
        lesson = remembered_lesson(settings.load(), lesson_names())
    try:
        chosen = _choose_lesson(lesson, epochs)
        if record is not None:
            check_record_path(record)
    except (SpecError, RecordingError) as exc:
        print(f"gradviz: error: {exc}", file=sys.stderr)
        return 2
    opened: Session | None = None
    open_error = ""
    if open_path is not None:
        try:
            opened = load_session(open_path)  # numpy only: the window shows it before TensorFlow exists
        except SessionError as exc:
            if quit_when_done:
                print(f"gradviz: error: {exc}", file=sys.stderr)
                return 2
            open_error = str(exc)

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("gradviz")
    collector = GuiGarbageCollector(parent=app)
    collector.start()
    window = MainWindow(chosen, settings=settings)
    if presentation:
        window.presentation.enter()
    window.loader.ready.connect(collector.freeze)
    collector.follow(window.controller)
    session = _Session(app, window, play=play, screenshot=screenshot, quit_when_done=quit_when_done,
                       record=record)
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    if opened is not None and open_path is not None:
        window.sessions.open(open_path, opened)
        window.controller.render_now()
    else:
        QTimer.singleShot(0, window.start_tensorflow)  # only once the window is up
    if open_error:
        window.show_error(open_error)
    code = app.exec()
    code = session.finish_recording() or code
    window.shutdown(3.0)
    window.loader.wait(_IMPORT_GRACE_S)
    code = session.exit_code or code
    app.aboutToQuit.disconnect(window.shutdown)
    # Delete the window's C++ side now, while the QApplication exists: left to
    # interpreter shutdown (reference cycles keep it alive), the process can
    # crash after the QApplication is gone.
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del session, window
    collector.stop()
    gc.collect()
    return code
