"""Saving a long run's session: how long does the window stop drawing?

Trains the race lesson headless for many epochs (the predictions of 20 000
epochs are 60 MB), shows the run in the real window offscreen, and saves it
twice side by side in one process while a 5 ms timer measures how late the
GUI thread gets to it:

- ``on the GUI thread``: ``save_session`` called directly, as the window did
  before (compressing tens of megabytes there);
- ``the window's Save``: ``SessionActions.save``, which copies the history on
  the GUI thread and compresses and writes it on another thread.

Usage: ``python benchmarks/bench_save.py [--epochs 20000]``.  The last line is
``key=value`` pairs: the save time and the longest stall of each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GRADVIZ_SETTINGS", str(Path(tempfile.mkdtemp(prefix="gradviz-bench-")) / "settings.ini"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_responsiveness import Probe
from PySide6.QtWidgets import QApplication

from gradviz.engine.history import RunHistory
from gradviz.engine.lessons import load_lesson
from gradviz.engine.session import load_session, save_session
from gradviz.ui.garbage import GuiGarbageCollector
from gradviz.ui.main_window import MainWindow


def timed(app: QApplication, save: object) -> tuple[float, float]:
    """(seconds the save took, longest lateness of the 5 ms timer in ms) while ``save()`` runs."""
    probe = Probe()
    probe.start()
    app.processEvents()
    started = time.perf_counter()
    save()  # type: ignore[operator]
    took = time.perf_counter() - started
    app.processEvents()  # the tick that was held back by a blocking save lands now
    probe.stop()
    return took, max(probe.lateness_ms, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20_000)
    args = parser.parse_args()

    from gradviz.engine.trainer import iter_run

    lesson = load_lesson("race")
    spec = lesson.spec.replace(epochs=args.epochs)
    history = None
    for report in iter_run(spec):
        history = history or RunHistory(report.layout)
        history.append(report)
    assert history is not None

    app = QApplication(sys.argv[:1])
    collector = GuiGarbageCollector()  # as the app runs: collections on the GUI thread, after TensorFlow frozen
    collector.start()
    collector.freeze()
    window = MainWindow(lesson)
    window.resize(1280, 800)
    window.show()
    window.controller.show_history(history)
    app.processEvents()
    folder = Path(tempfile.mkdtemp(prefix="gradviz-bench-save-"))

    direct_s, direct_stall = timed(app, lambda: save_session(folder / "direct.gradviz", history, "race"))
    window_s, window_stall = timed(app, lambda: window.sessions.save(folder / "window.gradviz"))
    assert load_session(folder / "window.gradviz").history.last_epoch == args.epochs
    size_mb = (folder / "window.gradviz").stat().st_size / 2**20
    window.close()
    collector.stop()

    print(f"{args.epochs} epochs, {size_mb:.1f} MB session")
    print(f"on the GUI thread:  {direct_s:.2f} s, longest stall {direct_stall:.0f} ms")
    print(f"the window's Save:  {window_s:.2f} s, longest stall {window_stall:.0f} ms")
    print(f"epochs={args.epochs} size_mb={size_mb:.1f} direct_s={direct_s:.2f} direct_stall_ms={direct_stall:.0f} "
          f"window_s={window_s:.2f} window_stall_ms={window_stall:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
