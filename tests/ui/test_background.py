"""wait_off_thread: the work runs on a thread while timers and paints go on, under a busy cursor."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QStatusBar

from gradviz.engine.session import SessionError
from gradviz.ui.background import wait_off_thread
from tests.ui.test_window import REPO


def test_quick_work_returns_its_value_without_a_busy_cursor(qapp) -> None:
    bar = QStatusBar()
    assert wait_off_thread(lambda: 6 * 7, busy="Saving…", status_bar=bar) == 42
    assert bar.currentMessage() == "" and QApplication.overrideCursor() is None


def test_slow_work_runs_off_the_gui_thread_while_timers_fire(qtbot) -> None:
    bar = QStatusBar()
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    gui = threading.get_ident()
    cursor_during: list[object] = []

    QTimer.singleShot(100, lambda: cursor_during.append(QApplication.overrideCursor().shape()))

    def work() -> int:
        assert threading.get_ident() != gui
        time.sleep(0.5)
        return threading.get_ident()

    started = time.monotonic()
    worker = wait_off_thread(work, busy="Saving 20,001 epochs…", status_bar=bar)
    ended = time.monotonic()
    timer.stop()

    assert worker != gui
    assert len([t for t in ticks if started < t < ended]) >= 10  # the event loop ran throughout
    assert cursor_during == [Qt.CursorShape.WaitCursor] and QApplication.overrideCursor() is None
    assert bar.currentMessage() == "Saving 20,001 epochs…"


def test_the_work_s_exception_is_raised_on_the_calling_thread(qapp) -> None:
    def fail() -> None:
        time.sleep(0.1)
        raise SessionError("cannot write session 'x': Permission denied")

    with pytest.raises(SessionError, match="Permission denied"):
        wait_off_thread(fail)
    assert QApplication.overrideCursor() is None


_QUIT_DURING_WORK = """
import sys, time
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from gradviz.ui.background import wait_off_thread
app = QApplication([])
def go():
    app.exit(0)  # the app quits (--quit-when-done, a log-out) while a session is being written
    cpu = time.process_time()
    assert wait_off_thread(lambda: time.sleep(1.0) or "written") == "written"
    print(round(time.process_time() - cpu, 3))
QTimer.singleShot(0, go)
app.exec()
"""


def test_work_under_way_when_the_app_quits_is_waited_for_without_spinning() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", _QUIT_DURING_WORK, str(REPO)], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    cpu_s = float(done.stdout.split()[-1])
    assert cpu_s < 0.3  # a second of waiting, not a second of a busy loop (Qt runs no event loop after exit)
