"""wait_off_thread: slow file work on another thread while the window keeps drawing and training goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication, QStatusBar

__all__ = ["wait_off_thread"]

T = TypeVar("T")

# Work done within this long returns at once, with no busy cursor and no event loop.
QUICK_S = 0.05
POLL_MS = 15


def wait_off_thread(work: Callable[[], T], *, busy: str = "", status_bar: QStatusBar | None = None) -> T:
    """Run ``work()`` on a thread and return its result, or raise its exception, here.

    Meanwhile the GUI thread goes on painting and taking the run's reports, so
    the panels stay live, under a busy cursor and with ``busy`` in
    ``status_bar``.  Qt holds the window system's mouse and key input back
    until the work is done.  ``work`` must not touch Qt objects, and the
    caller must not be entered again meanwhile (timers still fire).
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # raised again on the calling thread
            outcome["error"] = exc

    # Not a daemon: a file being written when the app quits is finished, never cut short.
    thread = threading.Thread(target=run, name="gradviz-file-work")
    thread.start()
    thread.join(QUICK_S)
    if thread.is_alive():
        if busy and status_bar is not None:
            status_bar.showMessage(busy)
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(POLL_MS)
        poll.timeout.connect(lambda: None if thread.is_alive() else loop.quit())
        poll.start()
        try:
            while thread.is_alive():
                if loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents) != 0:
                    # The application is quitting: Qt runs no event loop any more.
                    thread.join()
        finally:
            poll.stop()
            QApplication.restoreOverrideCursor()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
