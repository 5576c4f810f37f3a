"""TrainingWorker on a real QThread, training real Keras models through iter_run."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal, Slot

from gradviz.engine.control import RunControl
from gradviz.engine.errors import SpecError
from gradviz.engine.report import EpochReport
from gradviz.engine.spec import RunSpec
from gradviz.ui.worker import TrainingWorker, failure_message, start_worker_thread

pytestmark = pytest.mark.usefixtures("tensorflow")


class Recorder(QObject):
    """Collects a worker's signals on the GUI thread and re-emits them there.

    Tests wait on these signals, not on the worker's: in PySide6 a worker
    signal connected to a plain callable (as ``qtbot.waitSignal`` does) runs
    it on the worker thread, which races with the waiting event loop.
    """

    report = Signal(object)
    done = Signal()

    def __init__(self, worker: TrainingWorker) -> None:
        super().__init__()
        self.reports: list[EpochReport] = []
        self.failures: list[str] = []
        self.finished = 0
        worker.report_ready.connect(self._on_report_ready)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)

    @Slot(object)
    def _on_report_ready(self, report: EpochReport) -> None:
        self.reports.append(report)
        self.report.emit(report)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.failures.append(message)

    @Slot()
    def _on_finished(self) -> None:
        self.finished += 1
        self.done.emit()


def test_worker_trains_every_epoch_on_its_thread(qtbot, tiny_spec) -> None:
    from gradviz.engine.trainer import iter_run

    spec = tiny_spec(epochs=6)
    control = RunControl()
    threads: set[int] = set()

    def recording_iter_run(spec: RunSpec, control: RunControl, **kwargs: object) -> Iterator[EpochReport]:
        for report in iter_run(spec, control, **kwargs):
            threads.add(threading.get_ident())
            yield report

    worker = TrainingWorker(spec, control, iter_run=recording_iter_run)
    seen = Recorder(worker)
    with qtbot.waitSignal(seen.done, timeout=60_000):
        thread = start_worker_thread(worker)
    assert thread.wait(5000)

    assert [r.epoch for r in seen.reports] == list(range(7))
    assert {r.run_id for r in seen.reports} == {control.run_id}
    assert seen.failures == []
    assert threads and threading.get_ident() not in threads
    losses = np.array([r.loss for r in seen.reports[1:]])
    assert np.isfinite(losses).all()
    assert losses[-1].mean() < losses[0].mean()  # it learned something


def test_default_worker_imports_the_real_trainer(qtbot, tiny_spec) -> None:
    worker = TrainingWorker(tiny_spec(epochs=2), RunControl())
    seen = Recorder(worker)
    with qtbot.waitSignal(seen.done, timeout=60_000):
        thread = start_worker_thread(worker)
    assert thread.wait(5000)
    assert [r.epoch for r in seen.reports] == [0, 1, 2]
    assert seen.finished == 1


def test_spec_error_is_reported_verbatim(qtbot, bad_input_spec: RunSpec) -> None:
    from gradviz.engine.trainer import check_run

    spec = bad_input_spec
    with pytest.raises(SpecError) as expected:
        check_run(spec)
    worker = TrainingWorker(spec, RunControl())
    seen = Recorder(worker)
    with qtbot.waitSignal(seen.done, timeout=60_000):
        thread = start_worker_thread(worker)
    assert thread.wait(5000)
    assert seen.failures == [str(expected.value)]
    assert "input_dim" in seen.failures[0]
    assert seen.reports == []


def test_stop_ends_a_long_run_between_batches(qtbot, tiny_spec) -> None:
    control = RunControl(epochs_per_second=None)
    worker = TrainingWorker(tiny_spec(epochs=100_000), control)
    seen = Recorder(worker)
    thread = start_worker_thread(worker)
    qtbot.waitUntil(lambda: len(seen.reports) >= 3, timeout=60_000)
    with qtbot.waitSignal(seen.done, timeout=10_000):
        control.stop()
        # finished -> thread.quit is a direct connection: this wait ends although
        # the GUI thread processes no events while it blocks.
        assert thread.wait(5000)
    assert seen.failures == []
    assert seen.reports[-1].epoch < 100_000


def test_paused_run_reports_epoch_zero_and_holds(qtbot, tiny_spec) -> None:
    control = RunControl(paused=True)
    worker = TrainingWorker(tiny_spec(epochs=5), control)
    seen = Recorder(worker)
    thread = start_worker_thread(worker)
    qtbot.waitUntil(lambda: len(seen.reports) == 1, timeout=60_000)
    with qtbot.waitSignal(seen.report, timeout=10_000) as blocker:
        control.step()
    assert blocker.args[0].epoch == 1
    with qtbot.waitSignal(seen.done, timeout=10_000):
        control.stop()
    assert thread.wait(5000)
    assert [r.epoch for r in seen.reports] == [0, 1]


def test_unexpected_errors_name_their_type_and_still_finish(qtbot, tiny_spec) -> None:
    # A stand-in generator is the only way to make the engine itself break.
    def broken(spec: RunSpec, control: RunControl, **kwargs: object) -> Iterator[EpochReport]:
        raise RuntimeError("the GPU caught fire")
        yield  # pragma: no cover

    worker = TrainingWorker(tiny_spec(), RunControl(), iter_run=broken)
    seen = Recorder(worker)
    worker.work()  # synchronously, like superqt's tests
    assert seen.failures == ["Training failed: RuntimeError: the GPU caught fire"]
    assert seen.finished == 1


def test_failure_message() -> None:
    assert failure_message(SpecError("lanes[0].name", "is missing")) == "lanes[0].name: is missing"
    assert failure_message(ValueError("x")) == "Training failed: ValueError: x"
