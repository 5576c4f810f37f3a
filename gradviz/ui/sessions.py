"""Saving, opening and continuing sessions, and opening spec files, from the window (File and Run menus).

Opening a session never imports TensorFlow: the window replays the
recorded epochs at once, and only asks for TensorFlow when the learner
trains (Play, Reset, Continue training).  A spec file (``gradviz spec race``
writes one to start from) opens as a lesson of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QInputDialog

from gradviz.engine.errors import SpecError
from gradviz.engine.lessons import Lesson
from gradviz.engine.session import SUFFIX, Session, SessionError, load_session, snapshot_session, write_session
from gradviz.engine.spec import load_spec
from gradviz.ui.background import wait_off_thread

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = ["SessionActions"]

_FILTER = f"gradviz sessions (*{SUFFIX});;All files (*)"
_SPEC_FILTER = "Run specs (*.json);;All files (*)"


class SessionActions(QObject):
    """The window's file commands: Open session (Ctrl+O), Open spec (Ctrl+Shift+O), Save (Ctrl+S), Continue (C).

    Attributes
    ----------
    path
        The file the shown run was opened from or last saved to.
    spec_folder
        The folder of the last spec file opened.
    last_error
        The message of the last open or save that failed.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self.path: Path | None = None
        self.spec_folder = ""
        self._saving: Path | None = None  # a session still being written
        self.last_error = ""
        self.open_action = self._action("Open session…", QKeySequence.StandardKey.Open, self._on_open)
        self.open_spec_action = self._action("Open spec…", "Ctrl+Shift+O", self._on_open_spec)
        self.open_spec_action.setToolTip("Train a run described by a spec file (gradviz spec LESSON writes one)")
        self.save_action = self._action("Save session…", QKeySequence.StandardKey.Save, self._on_save)
        self.continue_action = self._action("Continue training…", "C", self._on_continue)
        self.open_action.setToolTip("Show a saved run, every epoch of it, without training")
        self.save_action.setToolTip("Save the run (spec, every recorded epoch, last weights) to one file")
        self.continue_action.setToolTip("Train more epochs from the run's last weights")
        menu = window.file_menu
        first = menu.actions()[0] if menu.actions() else None
        menu.insertActions(first, [self.open_action, self.open_spec_action, self.save_action])
        menu.insertSeparator(first)
        window.run_menu.insertAction(window.run_menu.actions()[-1] if window.run_menu.actions() else None,
                                     self.continue_action)
        window.controller.state_changed.connect(self._refresh)
        window.controller.history_started.connect(self._refresh)
        self._refresh()

    def _action(self, text: str, key: QKeySequence.StandardKey | str, slot: object) -> QAction:
        action = QAction(text, self._window)
        action.setShortcut(QKeySequence(key))
        action.triggered.connect(slot)
        self._window.addAction(action)  # keys work while the menu bar is hidden
        return action

    def _refresh(self, *_args: object) -> None:
        controller = self._window.controller
        history = controller.history
        self.save_action.setEnabled(history is not None and len(history) > 0)
        self.continue_action.setEnabled(controller.can_continue())

    # what the menus and tests call ------------------------------------------------

    def open(self, path: str | Path, session: Session | None = None) -> Session | None:
        """Show the session at ``path`` (already loaded, if ``session`` is given).

        On failure the banner says why and nothing on screen changes.
        """
        if session is None:
            try:
                session = load_session(path)
            except SessionError as exc:
                self._fail(str(exc))
                return None
        self.path = Path(path).expanduser()
        self._window.show_session(session, self.path)
        self._refresh()
        return session

    def open_spec(self, path: str | Path) -> Lesson | None:
        """Make the run described by the spec file at ``path`` the lesson to play.

        A spec that cannot be read or is not valid is refused with one line
        naming the problem, and the lesson on screen stays as it was.
        """
        path = Path(path).expanduser()
        try:
            spec = load_spec(path)
        except SpecError as exc:
            self._fail(str(exc))
            return None
        # Named by its full path: a file called race.json must not replace the race lesson.
        lesson = Lesson(f"spec:{path.resolve()}", f"Spec: {path.name}", "", f"Run described by {path.name}", spec, "")
        self._window.set_lesson(lesson, relist=True)  # picked again later, it is this version of the file
        self._window.statusBar().showMessage(f"Opened {path}. Press Play (Space) to train it.", 10000)
        self.spec_folder = str(path.parent)
        return lesson

    def save(self, path: str | Path) -> Path | None:
        """Save the shown run to ``path`` (``.gradviz`` is added if it has no suffix)."""
        history = self._window.controller.history
        if history is None or not len(history):
            self._fail("There is nothing to save yet: train at least the first epoch.")
            return None
        path = Path(path).expanduser()
        if not path.suffix:
            path = path.with_suffix(SUFFIX)
        if self._saving is not None:
            self._window.statusBar().showMessage(f"Still saving to {self._saving}; save again when it is done.", 8000)
            return None
        lesson = self._window.lesson
        self._saving = path
        try:
            # Taken now (the epochs on screen); the run may go on while a long one is compressed and written.
            snapshot = snapshot_session(history, lesson.name if lesson is not None else None)
            written = wait_off_thread(lambda: write_session(path, snapshot), status_bar=self._window.statusBar(),
                                      busy=f"Saving {snapshot.epochs:,} epochs to {path}…")
        except SessionError as exc:
            self._fail(str(exc))
            return None
        finally:
            self._saving = None
        self.path = written
        if shiboken6.isValid(self._window):  # the app may have quit while the file was written
            first = snapshot.meta["first_epoch"]
            self._window.statusBar().showMessage(
                f"Saved epochs {first}–{first + snapshot.epochs - 1} of {history.layout.n_lanes} lanes to {written}",
                10000,
            )
        return written

    def continue_training(self, epochs: int) -> bool:
        """Train ``epochs`` more epochs from the shown run's last weights (loading TensorFlow first if needed)."""
        controller = self._window.controller
        if not controller.can_continue():
            self._fail("This run cannot be continued: it holds no weights of its last epoch "
                       "(it is still training, or it was saved without them).")
            return False

        def go() -> None:
            if controller.can_continue():
                controller.continue_training(epochs)

        self._window.when_tensorflow_ready(go)
        return True

    # menu handlers ------------------------------------------------------------------

    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self._window, "Open session", self._folder(), _FILTER)
        if path:
            self.open(path)

    def _on_open_spec(self) -> None:
        folder = self.spec_folder or self._folder()
        path, _ = QFileDialog.getOpenFileName(self._window, "Open spec", folder, _SPEC_FILTER)
        if path:
            self.open_spec(path)

    def _on_save(self) -> None:
        suggested = self.path or Path(self._folder()) / f"{self._default_name()}{SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self._window, "Save session", str(suggested), _FILTER)
        if path:
            self.save(path)

    def _on_continue(self) -> None:
        controller = self._window.controller
        if not controller.can_continue():
            self._window.statusBar().showMessage("Nothing to continue: let the run finish or stop it first.", 8000)
            return
        spec = controller.spec
        most = controller.max_continue_epochs()
        default = min(spec.epochs if spec is not None else 100, most)
        epochs, ok = QInputDialog.getInt(
            self._window, "Continue training", "Train this many more epochs:", default, 1, most
        )
        if ok:
            self.continue_training(epochs)

    def _folder(self) -> str:
        return str(self.path.parent) if self.path is not None else str(Path.home())

    def _default_name(self) -> str:
        lesson = self._window.lesson
        return lesson.name.split(":")[-1] if lesson is not None else "session"

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._window.show_error(message)
