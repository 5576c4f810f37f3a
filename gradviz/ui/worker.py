"""TrainingWorker: runs ``engine.trainer.iter_run`` on a QThread and streams its reports.

The worker owns every Keras object of its run: the trainer is imported, the
generator created, iterated and closed on the worker thread.  The GUI steers
it only through the run's :class:`~gradviz.engine.control.RunControl`, whose
flags the engine checks between batches; a queued signal would never reach a
worker whose event loop is busy inside the training loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from gradviz.engine.control import RunControl
from gradviz.engine.errors import SpecError
from gradviz.engine.report import EpochReport
from gradviz.engine.resume import Resume
from gradviz.engine.spec import RunSpec

__all__ = ["IterRun", "TrainingWorker", "failure_message", "start_worker_thread"]

IterRun = Callable[..., Iterator[EpochReport]]


def failure_message(exc: BaseException) -> str:
    """What a learner reads when a run fails: a spec problem verbatim, anything else typed."""
    if isinstance(exc, SpecError):
        return str(exc)
    return f"Training failed: {type(exc).__name__}: {exc}"


class TrainingWorker(QObject):
    """Trains one run on the thread it was moved to.

    Parameters
    ----------
    spec
        The run to train.
    control
        Stop, pause, step and pace flags shared with the GUI thread.
    weights_dir
        Passed through to ``iter_run``.
    resume
        Continue a recorded run (passed through to ``iter_run``).
    iter_run
        The generator function to iterate; ``None`` imports
        ``gradviz.engine.trainer.iter_run`` on the worker thread.  Only tests of
        the worker's own error handling pass anything else.

    Signals
    -------
    report_ready(EpochReport)
        One per epoch, epoch 0 (initialization) first.  Reports are frozen and
        hold read-only arrays, so they cross threads as they are.
    reports_waiting()
        New reports wait in :meth:`take_reports`.  Emitted only when the
        queue was empty, so a run training hundreds of epochs a second
        posts the GUI thread one event per batch it collects, not one per
        epoch (a steady stream of posted events also holds back Qt's timers).
    failed(str)
        The run ended with an error; the message is meant for the learner.
    finished()
        Always emitted last, after a normal end, a stop or a failure.
    """

    report_ready = Signal(object)
    reports_waiting = Signal()
    failed = Signal(str)
    finished = Signal()

    def __init__(
        self,
        spec: RunSpec,
        control: RunControl,
        *,
        weights_dir: Path | None = None,
        resume: Resume | None = None,
        iter_run: IterRun | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.control = control
        self._weights_dir = weights_dir
        self._resume = resume
        self._iter_run = iter_run
        self._queue: list[EpochReport] = []
        self._queue_lock = threading.Lock()

    def take_reports(self) -> list[EpochReport]:
        """The reports waiting since the last call, oldest first (any thread)."""
        with self._queue_lock:
            reports, self._queue = self._queue, []
        return reports

    @Slot()
    def run(self) -> None:
        """Iterate the run to its end, a stop, or an error; then emit ``finished``."""
        reports: Iterator[EpochReport] | None = None
        try:
            iter_run = self._iter_run
            if iter_run is None:
                # Imported here, on the worker thread: it imports TensorFlow.
                from gradviz.engine.trainer import iter_run
            extra = {} if self._resume is None else {"resume": self._resume}
            reports = iter_run(self.spec, self.control, weights_dir=self._weights_dir, **extra)
            for report in reports:
                if self.control.stopped:
                    break
                self.report_ready.emit(report)
                with self._queue_lock:
                    first = not self._queue
                    self._queue.append(report)
                if first:
                    self.reports_waiting.emit()
        except Exception as exc:  # every failure must reach the window, never only a console
            self.failed.emit(failure_message(exc))
        finally:
            # Close the generator here so the trainer frees its Keras objects on this thread.
            close = getattr(reports, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self.failed.emit(failure_message(exc))
            reports = None
            self.finished.emit()

    def work(self) -> None:
        """Run synchronously on the calling thread (for tests of the logic alone)."""
        self.run()


def start_worker_thread(worker: TrainingWorker) -> QThread:
    """Move ``worker`` to a new QThread, wire its lifetime to the thread's, and start it.

    ``finished`` quits the thread through a direct connection: a queued one
    would need the GUI event loop, which is blocked while the GUI thread waits
    for this thread to end.  Worker and thread delete themselves once done;
    callers keep their Python references until ``thread.finished``.
    """
    thread = QThread()
    thread.setObjectName("gradviz-training")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    worker.finished.connect(worker.deleteLater)
    thread.finished.connect(thread.deleteLater)
    thread.start()
    return thread
