"""A long lesson in one window: does memory or the thread count creep up run after run?

Opens the real window offscreen and trains many runs one after another, as a
class does in an hour: lessons switched through the picker (the lab among
them), Reset and New seed in the middle of runs, and in every other run one
lane made to diverge (SGD at learning rate 10).  It
measures:

- resident memory (``VmRSS`` of ``/proc/self/status``) after the first run
  and after the last, after a full garbage collection each time, and the
  peak (``VmHWM``: the lab's 36 lanes);
- the thread count (``threading.active_count()`` and the tasks in
  ``/proc/self/task``) when TensorFlow is ready, after the first run and at
  the end, with every run's worker thread joined;
- per run: lesson, epochs trained, lanes diverged, whether the other lanes'
  losses stayed finite and whether the panels drew the last epoch.

Usage: ``python benchmarks/bench_long_session.py [--runs 50] [--epochs 30]``.
The last line printed is ``rss_growth_mb=… threads_start=… threads_end=…``
(threads counted in ``/proc/self/task``; "start" is after the first run, once
TensorFlow's thread pools exist).  Target: growth under 100 MB and the same
thread count at the end as after the first run.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GRADVIZ_SETTINGS", str(Path(tempfile.mkdtemp(prefix="gradviz-bench-")) / "settings.ini"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunController, RunState
from gradviz.ui.garbage import GuiGarbageCollector
from gradviz.ui.main_window import MainWindow

# The order a class might take; the lab (36 lanes) is the heavy one.
ROTATION = ("race", "vanishing", "init", "surface-ravine", "dead-relus", "lab", "exploding", "lr-too-high",
            "surface-rosenbrock", "race")
TIMEOUT_S = 600.0


def status_mb(key: str) -> float:
    """A memory figure of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return status_mb("VmRSS")


def rss_parts() -> str:
    """Resident memory split into the heap (anonymous) and files mapped in (TensorFlow's code)."""
    return f"anon={status_mb('RssAnon'):.0f} file={status_mb('RssFile'):.0f}"


def task_count() -> int:
    return len(os.listdir("/proc/self/task"))


def wait_until(app: QApplication, done: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Run the event loop until ``done()``; polls every 10 ms."""
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: done() and loop.quit())
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        timer.start()
        loop.exec()
        timer.stop()


def halfway(c: RunController, epoch: int) -> bool:
    return c.history is not None and (c.history.last_epoch >= epoch or c.state is not RunState.RUNNING)


def diverging(spec: RunSpec) -> RunSpec:
    """``spec`` with lane 0 trained by SGD at learning rate 10 (most lessons' models blow up)."""
    data = spec.to_json()
    data["lanes"][0]["optimizer"] = {"name": "sgd", "learning_rate": 10.0}
    return RunSpec.from_json(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=30, help="epochs per run (the lab: a fifth of it)")
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    collector = GuiGarbageCollector()
    collector.start()
    lessons = {name: load_lesson(name) for name in set(ROTATION)}
    window = MainWindow(lessons["race"])
    window.resize(1280, 800)
    window.show()
    collector.follow(window.controller)
    c = window.controller
    failures: list[str] = []
    c.failed.connect(failures.append)
    window.loader.ready.connect(collector.freeze)
    window.start_tensorflow()
    wait_until(app, lambda: window.tf_ready and c.history is not None, "TensorFlow")
    threads_ready = (threading.active_count(), task_count())
    c.set_pace(None)

    rows: list[str] = []
    rss_first = threads_first = rss_rotation = None
    parts_first = ""
    started = time.perf_counter()
    for i in range(args.runs):
        name = ROTATION[i % len(ROTATION)]
        lesson = lessons[name]
        epochs = max(2, args.epochs // 5) if name == "lab" else args.epochs
        spec = lesson.spec.replace(epochs=epochs)
        blowup = i % 2 == 1
        if blowup:
            spec = diverging(spec)
        t0 = time.perf_counter()
        window.set_lesson(dataclasses.replace(lesson, spec=spec))  # restarts, paused at epoch 0
        wait_until(app, lambda spec=spec: c.history is not None and c.history.layout.spec == spec, f"run {i} epoch 0")
        c.play()
        how = "played"
        if i % 5 == 2:  # Reset in the middle of the run, then play it again
            wait_until(app, lambda half=epochs // 2: halfway(c, half), "half the run")
            c.reset()
            wait_until(app, lambda: c.history is not None and c.history.last_epoch == 0, "reset")
            c.play()
            how = "reset mid-run"
        elif i % 5 == 4:  # New seed in the middle of the run
            wait_until(app, lambda half=epochs // 2: halfway(c, half), "half the run")
            c.new_seed(1000 + i)
            wait_until(app, lambda: c.history is not None and c.history.last_epoch == 0, "new seed")
            c.play()
            how = "new seed mid-run"
        wait_until(app, lambda: c.state in (RunState.FINISHED, RunState.FAILED), f"run {i} to end")
        wait_until(app, lambda: not c.is_busy(), f"run {i} thread")
        c.render_now()
        app.processEvents()
        h = c.history
        diverged = [lane for lane, at in enumerate(h.diverged_epoch()) if at >= 0]
        others = [lane for lane in range(h.layout.n_lanes) if lane not in diverged]
        finite = bool(np.isfinite(h.loss[others, 1:]).all()) if others else True
        drawn = [p.epoch for p in window.panels if p.isVisible() and p.history is h]
        rows.append(f"run {i + 1:2d} {name:<18} {how:<16} epochs={h.last_epoch:<3d} lanes={h.layout.n_lanes:<2d} "
                    f"diverged={diverged if diverged else '-'} others_finite={finite} "
                    f"drawn_at={sorted(set(drawn))} state={c.state.value} {time.perf_counter() - t0:.1f}s "
                    f"rss_mb={rss_mb():.0f} ({rss_parts()})")
        print(rows[-1], flush=True)
        if i == 0:
            gc.collect()
            rss_first = rss_mb()
            parts_first = rss_parts()
            threads_first = (threading.active_count(), task_count())
        if i == len(ROTATION) - 1:  # every lesson has been shown once
            gc.collect()
            rss_rotation = rss_mb()
    total = time.perf_counter() - started
    window.close()
    gc.collect()
    rss_end = rss_mb()
    threads_end = (threading.active_count(), task_count())
    collector.stop()
    assert rss_first is not None and threads_first is not None
    if failures:
        print(f"runs failed: {failures}", file=sys.stderr)
    print(f"runs={args.runs} wall_s={total:.0f} failures={len(failures)}")
    print(f"rss_mb: after first run={rss_first:.0f} ({parts_first}) at end={rss_end:.0f} ({rss_parts()}) "
          f"peak={status_mb('VmHWM'):.0f}")
    if rss_rotation is not None:
        print(f"rss_mb after every lesson was shown once (run {len(ROTATION)}): {rss_rotation:.0f}; "
              f"growth from there to the end: {rss_end - rss_rotation:.1f}")
    print(f"threads (python, tasks): TensorFlow ready={threads_ready} after first run={threads_first} "
          f"at end={threads_end}")
    print(f"rss_growth_mb={rss_end - rss_first:.1f} threads_start={threads_first[1]} threads_end={threads_end[1]}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
