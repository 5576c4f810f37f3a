"""Time from launching gradviz to its first painted window, and to TensorFlow being ready.

Each launch is a fresh process (as a learner starts it), offscreen.  The
child paints the real main window with the race lesson, as ``gradviz`` does,
and reports the moment the first frame is painted and the moment the
background TensorFlow import finishes.

Run: ``python benchmarks/bench_startup.py [--launches 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication
from gradviz.ui.app import _choose_lesson
from gradviz.ui.main_window import MainWindow

app = QApplication(sys.argv[:1])
window = MainWindow(_choose_lesson("race", None))

class FirstPaint(QObject):
    done = False
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not self.done:
            self.done = True
            print("painted", flush=True)
        return False

spy = FirstPaint()
window.installEventFilter(spy)
window.loader.ready.connect(lambda: (print("tensorflow", flush=True), app.quit()))
window.loader.failed.connect(lambda message: (print("failed", message, flush=True), app.quit()))
window.show()
QTimer.singleShot(0, window.start_tensorflow)
app.exec()
window.shutdown(3.0)
"""


def launch() -> tuple[float, float]:
    # Its own settings file: a benchmark window must not rewrite the learner's when it closes.
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", GRADVIZ_SETTINGS=str(Path(tempfile.mkdtemp()) / "s.ini"))
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env)
    painted = ready = float("nan")
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith("painted"):
            painted = time.perf_counter() - start
        elif line.startswith(("tensorflow", "failed")):
            ready = time.perf_counter() - start
    child.wait(60)
    return painted, ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    args = parser.parse_args()
    results = [launch() for _ in range(args.launches)]
    painted = [p for p, _ in results]
    ready = [r for _, r in results]
    print(f"launches={args.launches} painted_s: median={statistics.median(painted):.2f} max={max(painted):.2f}; "
          f"tensorflow_ready_s: median={statistics.median(ready):.2f}")
    print(f"window_painted_s={statistics.median(painted):.2f} tensorflow_ready_s={statistics.median(ready):.2f}")


if __name__ == "__main__":
    main()
