"""``gradviz --self-test``: prove an installation (or a frozen bundle) works end to end.

Imports TensorFlow the way the window does, trains a tiny two-lane run through
the real QThread :class:`~gradviz.ui.worker.TrainingWorker` offscreen, renders
every panel to PNG in a temporary folder and checks the numbers.  Prints one
line and returns 0 when all is well; prints one ``FAILED`` line and returns 1
otherwise.  A windowed build has no ``sys.stdout``: then nothing is printed and
the exit code alone tells.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["SelfTestFailure", "main", "run_self_test"]

EPOCHS = 5
LANES = 2
# Seconds to wait for the worker thread to finish the tiny run (TensorFlow is already imported).
TRAIN_TIMEOUT_S = 120.0


class SelfTestFailure(RuntimeError):
    """A check of the self-test did not hold; the message says which."""


def _spec_json() -> dict:
    def lane(name: str, optimizer: dict) -> dict:
        return {
            "name": name,
            "model": {"input_dim": 1, "layers": [{"units": 8, "activation": "tanh"}, {"units": 1}]},
            "optimizer": optimizer,
        }

    return {
        "seed": 3,
        "epochs": EPOCHS,
        "batch_size": 16,
        "shuffle": True,
        "dataset": {"name": "cubic", "n_samples": 40},
        "lanes": [
            lane("SGD", {"name": "sgd", "learning_rate": 0.05}),
            lane("Adam", {"name": "adam", "learning_rate": 0.01}),
        ],
    }


_HEAPS = {"system": "the system heap", "pymalloc": "pymalloc", "hooked": "a hooked allocator",
          "other": "another allocator"}


def _train(spec, timeout_s: float):  # -> tuple[RunHistory, set[str]]
    """Train ``spec`` on the real worker thread; the reports, in a RunHistory, and where the trace's objects went."""
    from PySide6.QtCore import QEventLoop, QObject, QTimer, Slot

    from gradviz.engine.control import RunControl
    from gradviz.engine.history import RunHistory
    from gradviz.ui.worker import TrainingWorker, start_worker_thread

    class Collector(QObject):
        """Lives on this (GUI) thread, so the worker's signals arrive queued, in order."""

        def __init__(self, loop: QEventLoop) -> None:
            super().__init__()
            self.loop = loop
            self.history: RunHistory | None = None
            self.failures: list[str] = []
            self.thread_done = False
            self.timed_out = False

        @Slot(object)
        def on_report(self, report) -> None:
            if self.history is None:
                self.history = RunHistory(report.layout)
            self.history.append(report)

        @Slot(str)
        def on_failed(self, message: str) -> None:
            self.failures.append(message)

        @Slot()
        def on_thread_finished(self) -> None:
            self.thread_done = True
            self.loop.quit()

        @Slot()
        def on_timeout(self) -> None:
            self.timed_out = True
            self.loop.quit()

    from gradviz.engine.graph_memory import python_heap

    heaps: set[str] = set()

    class HeapWatching(RunControl):
        """Notes where Python's objects come from while the run is traced (see graph_memory.system_heap)."""

        def report_preparation(self, stage: str, done: int, total: int, lanes: int) -> None:
            if stage == "tracing":
                heaps.add(_HEAPS[python_heap()])
            super().report_preparation(stage, done, total, lanes)

    loop = QEventLoop()
    collector = Collector(loop)
    control = HeapWatching()
    worker = TrainingWorker(spec, control)
    worker.report_ready.connect(collector.on_report)
    worker.failed.connect(collector.on_failed)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(collector.on_timeout)
    thread = start_worker_thread(worker)
    thread.finished.connect(collector.on_thread_finished)
    if thread.isFinished():  # ended before the connection was made
        collector.thread_done = True
    if not collector.thread_done:
        timer.start(int(timeout_s * 1000))
        loop.exec()
    timer.stop()
    if collector.timed_out and not collector.thread_done:
        control.stop()
        thread.wait(10_000)
        raise SelfTestFailure(f"training did not finish within {timeout_s:.0f} s")
    # Deliver anything still queued from the worker (reports precede finished, but be sure).
    from PySide6.QtCore import QCoreApplication

    QCoreApplication.processEvents()
    if collector.failures:
        raise SelfTestFailure(collector.failures[0])
    if collector.history is None:
        raise SelfTestFailure("the worker sent no report")
    return collector.history, heaps


def _check_numbers(history, epochs: int, lanes: int) -> None:
    import numpy as np

    if history.layout.n_lanes != lanes:
        raise SelfTestFailure(f"expected {lanes} lanes, got {history.layout.n_lanes}")
    if history.last_epoch != epochs or len(history) != epochs + 1:
        raise SelfTestFailure(f"expected epochs 0..{epochs}, got {len(history)} reports ending at {history.last_epoch}")
    loss = np.asarray(history.loss)[:, 1:]  # epoch 0 has no fit loss (NaN by design)
    full = np.asarray(history.full_loss)
    if not np.all(np.isfinite(loss)):
        raise SelfTestFailure(f"non-finite epoch loss: {loss.tolist()}")
    if not np.all(np.isfinite(full)):
        raise SelfTestFailure(f"non-finite full loss: {full.tolist()}")
    if np.any(history.diverged_epoch() >= 0):
        raise SelfTestFailure("a lane diverged")
    for lane, name in enumerate(history.layout.lane_names):
        if not full[lane, -1] < full[lane, 0]:
            raise SelfTestFailure(
                f"lane {name!r} did not learn: loss {full[lane, 0]:.6g} at start, {full[lane, -1]:.6g} at the end"
            )


def _render(history) -> int:
    from gradviz.ui.figures import panels_for, render_figures

    panels = panels_for(history)
    with tempfile.TemporaryDirectory(prefix="gradviz-self-test-") as tmp:
        paths = render_figures(history, Path(tmp), size=(640, 400), panels=panels)
        if len(paths) != len(panels):
            raise SelfTestFailure(f"rendered {len(paths)} of {len(panels)} panels")
        for path in paths:
            if not path.is_file() or path.stat().st_size == 0:
                raise SelfTestFailure(f"figure {path.name} is missing or empty")
            with path.open("rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    raise SelfTestFailure(f"figure {path.name} is not a PNG")
    return len(paths)


def run_self_test(timeout_s: float = TRAIN_TIMEOUT_S) -> str:
    """Run every check; the success line, or :class:`SelfTestFailure` (or any error) on failure."""
    start = time.monotonic()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gradviz.engine.runtime import import_tensorflow

    tf = import_tensorflow()
    from gradviz.engine.spec import RunSpec
    from gradviz.ui.figures import ensure_app

    ensure_app()
    spec = RunSpec.from_json(_spec_json())
    history, heaps = _train(spec, timeout_s)
    _check_numbers(history, EPOCHS, LANES)
    n_figures = _render(history)
    elapsed = time.monotonic() - start
    return (
        f"gradviz self-test passed: TensorFlow {tf.__version__}, {LANES} lanes x {EPOCHS} epochs, "
        f"traced in {' and '.join(sorted(heaps)) or 'no trace'}, {n_figures} figures, {elapsed:.1f} s"
    )


def _say(line: str) -> None:
    """Print one line, if there is anywhere to print it (a windowed build has no stdout)."""
    stream = sys.stdout
    if stream is None:
        return
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def _one_line(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def main() -> int:
    """Entry point of ``gradviz --self-test``: 0 when every check passed, 1 otherwise."""
    try:
        line = run_self_test()
    except SelfTestFailure as exc:
        _say(f"gradviz self-test FAILED: {_one_line(str(exc))}")
        return 1
    except BaseException as exc:  # any failure, even an import error in a frozen build, is one line
        if isinstance(exc, KeyboardInterrupt):
            _say("gradviz self-test FAILED: interrupted")
            return 1
        _say(f"gradviz self-test FAILED: {type(exc).__name__}: {_one_line(str(exc))}")
        return 1
    _say(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
