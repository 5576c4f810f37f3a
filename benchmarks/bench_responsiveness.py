"""How smooth is the window while the race lesson trains flat out?

Opens the real window offscreen with every panel live (stacked, not in tabs),
plays the race lesson for a few thousand epochs at pace "max", and measures:

- event-loop lateness: how late a 5 ms timer fires (p50, p99, max), which is
  what a learner feels as stutter when dragging the timeline or pressing Pause;
- epochs per second trained while the window draws;
- frame delay: from the moment the worker emitted an epoch to the end of the
  frame that drew it (for the epochs that got drawn);
- headless epochs per second of ``iter_run`` in the same process, no window.

Usage: ``python benchmarks/bench_responsiveness.py [--epochs 3000] [--lesson race]``
(``--epochs 20000`` for a long race: it also prints how many points the race's
loss curve draws against the epochs recorded).
The last line printed is the summary, ``key=value`` separated by spaces.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A benchmark window must not rewrite the learner's settings when it closes.
os.environ.setdefault("GRADVIZ_SETTINGS", str(Path(tempfile.mkdtemp(prefix="gradviz-bench-")) / "settings.ini"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication

from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunState
from gradviz.ui.garbage import GuiGarbageCollector
from gradviz.ui.main_window import MainWindow

PROBE_MS = 5


class Probe(QObject):
    """A 5 ms timer on the GUI thread; records how late each tick is."""

    def __init__(self) -> None:
        super().__init__()
        self.lateness_ms: list[float] = []
        self.at_s: list[float] = []
        self._last = 0.0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._on_tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @Slot()
    def _on_tick(self) -> None:
        now = time.perf_counter()
        self.lateness_ms.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self.at_s.append(now)
        self._last = now


def headless_epochs_per_second(spec: RunSpec) -> float:
    from gradviz.engine.trainer import iter_run

    stamps = [time.perf_counter() for _ in iter_run(spec)]
    # From epoch 1 on: epoch 0 includes building and compiling.
    return (len(stamps) - 2) / (stamps[-1] - stamps[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--lesson", default="race")
    parser.add_argument("--headless-epochs", type=int, default=1000)
    parser.add_argument("--layout", choices=("tabs", "stacked"), default="tabs",
                        help="tabs: the lesson's panel on screen, as the window opens; stacked: every panel at once")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    collector = GuiGarbageCollector()
    collector.start()
    lesson = load_lesson(args.lesson)
    lesson = dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=args.epochs))
    window = MainWindow(lesson)
    window.resize(1280, 800)
    window.set_all_panels_visible(args.layout == "stacked")
    window.show()
    controller = window.controller
    collector.follow(controller)

    probe = Probe()
    emitted: dict[int, float] = {}
    frame_delays_ms: list[float] = []
    frames = 0
    timing: dict[str, float] = {}
    failure: list[str] = []

    def on_emit(report: object) -> None:  # on the worker thread (direct connection)
        emitted[report.epoch] = time.perf_counter()  # type: ignore[attr-defined]

    def on_ready() -> None:
        collector.freeze()
        run = controller._run  # the run Reset prepared, paused at epoch 0
        assert run is not None and run.worker is not None
        run.worker.report_ready.connect(on_emit, Qt.ConnectionType.DirectConnection)
        controller.set_pace(None)
        timing["start"] = time.perf_counter()
        probe.start()
        controller.play()

    def on_frame(epoch: int) -> None:
        nonlocal frames
        frames += 1
        sent = emitted.get(epoch)
        if sent is not None and epoch > 0:
            frame_delays_ms.append((time.perf_counter() - sent) * 1000)

    def on_state(state: RunState) -> None:
        if state in (RunState.FINISHED, RunState.FAILED, RunState.STOPPED):
            timing["end"] = time.perf_counter()
            probe.stop()
            QTimer.singleShot(0, app.quit)

    controller.failed.connect(failure.append)
    controller.frame_rendered.connect(on_frame)
    controller.state_changed.connect(on_state)
    window.loader.ready.connect(on_ready)
    window.loader.failed.connect(lambda message: (failure.append(message), app.quit()))
    QTimer.singleShot(0, window.start_tensorflow)
    app.exec()
    race = next(panel for panel in window.panels if panel.name == "race")
    shown = race.curve(0).getData()[0] if race.history is not None else None
    race_points = None if shown is None else (len(shown), len(race.history))
    window.close()
    if failure:
        print(f"benchmark failed: {failure[0]}", file=sys.stderr)
        return 1

    history = controller.history
    epochs = history.last_epoch
    first_epoch_at = min(t for e, t in emitted.items() if e >= 1)
    gui_eps = (epochs - 1) / (timing["end"] - first_epoch_at)
    headless = headless_epochs_per_second(lesson.spec.replace(epochs=args.headless_epochs))

    late = np.array(probe.lateness_ms)
    delays = np.array(frame_delays_ms)
    print(f"layout={args.layout} lesson={args.lesson} lanes={history.layout.n_lanes} epochs={epochs} frames={frames} "
          f"wall_s={timing['end'] - timing['start']:.2f} probe_ticks={late.size}")
    worst = int(np.argmax(late))
    print(f"lateness_ms: p50={np.percentile(late, 50):.2f} p99={np.percentile(late, 99):.2f} max={late.max():.2f} "
          f"(worst at {probe.at_s[worst] - timing['start']:.2f} s after Play; first epoch trained at "
          f"{first_epoch_at - timing['start']:.2f} s)")
    steady = late[np.array(probe.at_s) > first_epoch_at + 1.0]
    if steady.size:
        print(f"lateness_ms from 1 s after the first trained epoch: p99={np.percentile(steady, 99):.2f} "
              f"max={steady.max():.2f}")
    print(f"frame_delay_ms: p50={np.percentile(delays, 50):.1f} p99={np.percentile(delays, 99):.1f} "
          f"max={delays.max():.1f}")
    if race_points is not None:  # long runs stay readable: few points drawn, every epoch recorded
        print(f"race curve: {race_points[0]} points drawn for {race_points[1]} recorded epochs")
    print(
        f"lateness_p99_ms={np.percentile(late, 99):.2f} lateness_max_ms={late.max():.2f} "
        f"epochs_per_s={gui_eps:.1f} headless_epochs_per_s={headless:.1f} "
        f"frame_delay_ms={np.percentile(delays, 50):.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
