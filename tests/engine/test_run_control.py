"""RunControl steering a real run: stop, pause and step, pace, and live hyperparameter edits.

Runs that are steered from another thread are consumed on a worker thread
(as the GUI's worker does) and observed through a queue with timeouts; no
test sleeps.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from engine_kit import assert_reports_identical, lane, layer, load_lane_weights, make_spec, run_all, stacked

from gradviz.engine.control import PREPARATION_STAGES, Preparation, RunControl
from gradviz.engine.report import EpochReport
from gradviz.engine.spec import RunSpec
from gradviz.engine.trainer import iter_run, lane_folder_names

pytestmark = pytest.mark.usefixtures("tf")

FIRST_REPORT_TIMEOUT = 120.0  # the first reports include tracing, slow on a loaded 2-core machine
QUIET = 0.3  # how long "nothing more arrives" is watched for


def tiny_spec(epochs: int, **kw) -> RunSpec:
    return make_spec([lane("tiny", [layer(4, "tanh"), layer(1)])], {"name": "cubic", "n_samples": 40},
                     epochs=epochs, **kw)


class ThreadedRun:
    """``iter_run`` consumed on its own thread; reports arrive on ``self.reports``."""

    DONE = object()

    def __init__(self, spec: RunSpec, control: RunControl) -> None:
        self.reports: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self._spec, self._control = spec, control
        self.thread = threading.Thread(target=self._run, name="test-run", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for report in iter_run(self._spec, self._control):
                self.reports.put(report)
        except BaseException as exc:  # surfaced by the test through self.error
            self.error = exc
        finally:
            self.reports.put(self.DONE)

    def next(self, timeout: float = FIRST_REPORT_TIMEOUT) -> EpochReport | object:
        return self.reports.get(timeout=timeout)

    def assert_quiet(self) -> None:
        with pytest.raises(queue.Empty):
            self.reports.get(timeout=QUIET)

    def drain(self) -> list:
        items = []
        while True:
            item = self.next()
            if item is self.DONE:
                return items
            items.append(item)

    def join(self) -> None:
        self.thread.join(timeout=FIRST_REPORT_TIMEOUT)
        assert not self.thread.is_alive(), "the run did not end"
        assert self.error is None, repr(self.error)


@pytest.fixture
def threaded() -> Iterator[list[ThreadedRun]]:
    """Collects runs a test starts and makes sure none is left running."""
    started: list[ThreadedRun] = []
    yield started
    for run in started:
        run._control.stop()
        run.thread.join(timeout=FIRST_REPORT_TIMEOUT)
        assert not run.thread.is_alive()


# stop ---------------------------------------------------------------------------------------------


def test_stop_from_the_consumer_ends_the_run_and_still_saves_final_weights(tmp_path: Path) -> None:
    spec = tiny_spec(epochs=50)
    control = RunControl()
    seen = []
    for report in iter_run(spec, control, weights_dir=tmp_path):
        seen.append(report.epoch)
        if report.epoch == 2:
            control.stop()
    assert seen == [0, 1, 2]
    assert control.stopped
    folder = tmp_path / lane_folder_names(spec.lane_names)[0]
    assert (folder / "epoch_0000.weights.h5").is_file()
    final = load_lane_weights(spec, 0, folder / "final.weights.h5")
    first = load_lane_weights(spec, 0, folder / "epoch_0000.weights.h5")
    assert not np.array_equal(final[0], first[0])


def test_closing_the_generator_early_releases_the_run() -> None:
    spec = tiny_spec(epochs=1000)
    run = iter_run(spec)
    assert next(run).epoch == 0
    assert next(run).epoch == 1
    run.close()  # runs the generator's clean-up; a fresh run afterwards still works
    assert [r.epoch for r in run_all(tiny_spec(epochs=1))] == [0, 1]


def test_stop_from_another_thread_ends_a_long_run(threaded) -> None:
    control = RunControl()
    run = ThreadedRun(tiny_spec(epochs=1_000_000), control)
    threaded.append(run)
    while True:
        report = run.next()
        assert report is not ThreadedRun.DONE
        if report.epoch >= 3:
            break
    control.stop()
    rest = run.drain()
    run.join()
    epochs = [report.epoch] + [r.epoch for r in rest]
    assert epochs == list(range(report.epoch, report.epoch + len(epochs)))
    assert epochs[-1] < 1_000_000


# pause and step -----------------------------------------------------------------------------------


def test_paused_run_gives_epoch_zero_then_exactly_one_epoch_per_step(threaded) -> None:
    control = RunControl(paused=True)
    run = ThreadedRun(tiny_spec(epochs=8), control)
    threaded.append(run)
    assert run.next().epoch == 0
    assert control.paused
    run.assert_quiet()

    control.step()
    assert run.next().epoch == 1
    run.assert_quiet()

    control.step()
    control.step()
    assert run.next().epoch == 2
    assert run.next().epoch == 3
    run.assert_quiet()

    # Stop from this thread while the run waits, paused, between epochs.
    control.stop()
    assert run.next() is ThreadedRun.DONE
    run.join()


def test_resume_after_steps_runs_to_the_end(threaded) -> None:
    control = RunControl(paused=True)
    run = ThreadedRun(tiny_spec(epochs=5), control)
    threaded.append(run)
    assert run.next().epoch == 0
    control.step()
    assert run.next().epoch == 1
    run.assert_quiet()
    control.resume()
    assert [r.epoch for r in run.drain()] == [2, 3, 4, 5]
    run.join()


# pace ---------------------------------------------------------------------------------------------


def test_pace_holds_the_run_to_the_target_epochs_per_second() -> None:
    control = RunControl(epochs_per_second=20)
    run = iter_run(tiny_spec(epochs=10), control)
    assert next(run).epoch == 0
    started = time.perf_counter()
    epochs = [r.epoch for r in run]
    elapsed = time.perf_counter() - started
    assert epochs == list(range(1, 11))
    assert elapsed >= 0.45, f"10 epochs at 20/s took only {elapsed:.3f} s"


# a display's hold ----------------------------------------------------------------------------------


def test_a_hold_slows_the_run_to_one_epoch_per_limit_until_released(threaded) -> None:
    from gradviz.engine.control import MAX_DISPLAY_HOLD_S

    control = RunControl()
    run = ThreadedRun(tiny_spec(epochs=1_000_000), control)
    threaded.append(run)
    assert run.next().epoch == 0
    control.hold()
    watch = 4 * MAX_DISPLAY_HOLD_S
    held: list[int] = []
    started = time.perf_counter()
    while time.perf_counter() - started < watch:
        try:
            held.append(run.reports.get(timeout=0.02).epoch)
        except queue.Empty:
            pass
    # The epoch under way when the hold came, then one per MAX_DISPLAY_HOLD_S at most.
    assert len(held) <= 1 + watch / MAX_DISPLAY_HOLD_S + 1, held

    control.release()
    released = time.perf_counter()
    following = [run.next().epoch for _ in range(20)]
    # Held, 20 epochs would take 20 * MAX_DISPLAY_HOLD_S; free, a tiny net trains them in far less.
    assert time.perf_counter() - released < 10 * MAX_DISPLAY_HOLD_S
    last = held[-1] if held else 0
    assert following == list(range(last + 1, last + 21))
    control.stop()
    run.drain()
    run.join()


def test_a_hold_never_outlasts_its_limit_and_stop_ends_it(threaded) -> None:
    from gradviz.engine.control import MAX_DISPLAY_HOLD_S

    control = RunControl()
    run = ThreadedRun(tiny_spec(epochs=3), control)
    threaded.append(run)
    assert run.next().epoch == 0
    control.hold()  # and never released: a display that hung must not stall training
    started = time.perf_counter()
    assert [r.epoch for r in run.drain()][-1] == 3
    run.join()
    # Three epochs, each waiting the longest hold at most (and one may have been under way).
    assert time.perf_counter() - started >= 2 * MAX_DISPLAY_HOLD_S * 0.9

    stopped = RunControl()
    stopped.hold()
    stopped.stop()
    began = time.perf_counter()
    assert stopped.wait_turn(time.perf_counter()) is False
    assert time.perf_counter() - began < MAX_DISPLAY_HOLD_S


@pytest.mark.parametrize("pace", [0, -1.0, float("nan")])
def test_a_pace_that_is_not_positive_is_refused(pace: float) -> None:
    with pytest.raises(ValueError):
        RunControl().set_pace(pace)


# live hyperparameter edits ------------------------------------------------------------------------

EDIT_EPOCH = 3  # edits requested after the report of epoch 2 apply to epoch 3
TOTAL = 5
NET = [layer(8, "tanh"), layer(1)]


def edit_spec(epochs: int) -> RunSpec:
    return make_spec(
        [
            lane("lr", NET, {"name": "sgd", "learning_rate": 0.05}),
            lane("momentum", NET, {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}),
            lane("untouched", NET, {"name": "sgd", "learning_rate": 0.05}),
            lane("adam", NET, {"name": "adam", "learning_rate": 0.01}),
        ],
        {"name": "cubic", "n_samples": 40},
        epochs=epochs,
        batch_size=16,
        shuffle=False,
    )


BAD_EDITS = [
    (3, "momentum", 0.5, "lanes[3].optimizer.momentum"),  # adam has no momentum
    (3, "beta_1", 1.5, "lanes[3].optimizer.beta_1"),  # out of range
    (2, "learning_rate", 0.0, "lanes[2].optimizer.learning_rate"),  # not > 0, like in a spec
    (2, "learning_rate", float("nan"), "lanes[2].optimizer.learning_rate"),
    (2, "learning_rate", "fast", "lanes[2].optimizer.learning_rate"),
    (7, "learning_rate", 0.1, "lane"),  # no such lane
]


@pytest.fixture(scope="module")
def edit_runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The edited run, the same run cut before the edit (for its weights), and a continuation from there."""
    edited_spec = edit_spec(TOTAL)
    control = RunControl()
    edited = []
    for report in iter_run(edited_spec, control):
        edited.append(report)
        if report.epoch == EDIT_EPOCH - 1:
            control.set_hyperparameter(0, "learning_rate", 0.2)
            control.set_hyperparameter(1, "momentum", 0.0)
            for lane_index, name, value, _ in BAD_EDITS:
                control.set_hyperparameter(lane_index, name, value)

    folder = tmp_path_factory.mktemp("before-edit")
    before_spec = edit_spec(EDIT_EPOCH - 1)
    before = run_all(before_spec, weights_dir=folder)
    names = lane_folder_names(before_spec.lane_names)
    weights = [load_lane_weights(before_spec, i, folder / names[i] / "final.weights.h5") for i in range(3)]

    # What the edits should amount to: plain SGD at the new settings, from the weights before the edit.
    continued_spec = make_spec(
        [
            lane("lr", NET, {"name": "sgd", "learning_rate": 0.2}),
            lane("momentum", NET, {"name": "sgd", "learning_rate": 0.05}),
            lane("untouched", NET, {"name": "sgd", "learning_rate": 0.05}),
        ],
        {"name": "cubic", "n_samples": 40},
        epochs=TOTAL - EDIT_EPOCH + 1,
        batch_size=16,
        shuffle=False,
    )
    continued = run_all(continued_spec, initial_weights=weights)
    return {"edited": edited, "before": before, "continued": continued}


def test_edits_are_reported_in_the_epoch_they_apply_to(edit_runs) -> None:
    edited = edit_runs["edited"]
    assert [r.epoch for r in edited] == list(range(TOTAL + 1))
    for report in edited:
        if report.epoch != EDIT_EPOCH:
            assert report.edits == () and report.messages == ()
    applied = {(e.lane, e.name): e for e in edited[EDIT_EPOCH].edits}
    assert set(applied) == {(0, "learning_rate"), (1, "momentum")}
    lr = applied[0, "learning_rate"]
    assert (lr.epoch, lr.value) == (EDIT_EPOCH, 0.2)
    assert lr.previous == pytest.approx(0.05)
    momentum = applied[1, "momentum"]
    assert (momentum.epoch, momentum.value, momentum.previous) == (EDIT_EPOCH, 0.0, 0.9)


def test_invalid_edits_become_messages_and_the_run_goes_on(edit_runs) -> None:
    messages = edit_runs["edited"][EDIT_EPOCH].messages
    assert len(messages) == len(BAD_EDITS)
    for message, (_, _, _, field) in zip(messages, BAD_EDITS):
        assert message.startswith("Edit not applied: ")
        assert field in message
    assert len(edit_runs["edited"]) == TOTAL + 1


def test_epochs_before_the_edit_are_untouched_by_it(edit_runs) -> None:
    edited, before = edit_runs["edited"], edit_runs["before"]
    for name in ("loss", "full_loss", "grad_norm", "weight_norm", "update_ratio", "prediction"):
        np.testing.assert_array_equal(stacked(edited[:EDIT_EPOCH], name), stacked(before, name), err_msg=name)


@pytest.mark.parametrize("lane_index", [0, 1, 2], ids=["learning-rate-edit", "momentum-edit", "no-edit"])
def test_edited_lane_trains_as_if_it_had_the_new_setting_from_that_epoch(edit_runs, lane_index: int) -> None:
    tail = edit_runs["edited"][EDIT_EPOCH:]
    continued = edit_runs["continued"][1:]
    for name in ("loss", "full_loss", "grad_norm", "bias_grad_norm", "weight_norm", "act_var", "prediction"):
        np.testing.assert_allclose(
            stacked(tail, name)[:, lane_index], stacked(continued, name)[:, lane_index],
            rtol=1e-6, atol=0, err_msg=name,
        )


def test_untouched_lanes_keep_their_course(edit_runs) -> None:
    # The adam lane only received refused edits: it matches an unedited run of the same spec.
    unedited = run_all(edit_spec(TOTAL))
    for name in ("loss", "full_loss", "grad_norm", "weight_norm", "prediction"):
        np.testing.assert_array_equal(
            stacked(edit_runs["edited"], name)[:, 2:], stacked(unedited, name)[:, 2:], err_msg=name
        )


def test_turning_momentum_on_for_a_plain_sgd_lane_applies_or_is_refused() -> None:
    spec = make_spec([lane("sgd", NET, {"name": "sgd", "learning_rate": 0.05})], {"name": "cubic", "n_samples": 40},
                     epochs=3, batch_size=16)
    control = RunControl()
    reports = []
    for report in iter_run(spec, control):
        reports.append(report)
        if report.epoch == 1:
            control.set_hyperparameter(0, "momentum", 0.9)
    assert [r.epoch for r in reports] == [0, 1, 2, 3]
    applied = [e.name for e in reports[2].edits]
    assert applied == ["momentum"]
    # Momentum now carries velocity: the weights move differently from plain SGD.
    plain = run_all(spec)
    assert not np.array_equal(reports[3].weight_norm, plain[3].weight_norm)
    np.testing.assert_array_equal(reports[1].weight_norm, plain[1].weight_norm)


class _PreparationLog(RunControl):
    """A RunControl that keeps every preparation step the engine reports."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[tuple[str, int, int, int]] = []
        self.fractions: list[float] = []

    def report_preparation(self, stage: str, done: int, total: int, lanes: int) -> None:
        super().report_preparation(stage, done, total, lanes)
        self.steps.append((stage, done, total, lanes))
        assert self.preparation is not None
        self.fractions.append(self.preparation.fraction)


def test_a_run_reports_building_and_tracing_lane_by_lane_before_its_first_epoch_only() -> None:
    lanes = [lane(f"l{i}", [layer(4, "tanh"), layer(1)], {"name": name, "learning_rate": 0.01})
             for i, name in enumerate(("sgd", "adam", "rmsprop"))]
    spec = make_spec(lanes, epochs=4, seed=31)
    control = _PreparationLog()
    seen_at_first_report = None
    for report in iter_run(spec, control):
        if report.epoch == 0:
            seen_at_first_report = len(control.steps)

    n = 3
    expected = ([("building", i, n, n) for i in range(1, n + 1)]
                + [("tracing", i, 2 * n, n) for i in range(1, 2 * n + 1)]
                + [("compiling", 2 * n, 2 * n, n)])
    assert control.steps == expected
    assert tuple(dict.fromkeys(stage for stage, *_ in control.steps)) == PREPARATION_STAGES
    assert seen_at_first_report == len(expected)  # nothing more once epochs run: it is trace-time only
    assert control.fractions == sorted(control.fractions) and 0 < control.fractions[0] < control.fractions[-1] <= 1
    assert control.preparation == Preparation("compiling", 2 * n, 2 * n, n)

    # Reset and New seed reuse the traced run: nothing to prepare, nothing reported.
    again = _PreparationLog()
    assert len(run_all(spec.replace(seed=32), again)) == 5
    assert again.steps == [] and again.preparation is None


class _StopWhileTracing(_PreparationLog):
    """Stop pressed while TensorFlow traces the run: at its third trace step."""

    def report_preparation(self, stage: str, done: int, total: int, lanes: int) -> None:
        super().report_preparation(stage, done, total, lanes)
        if stage == "tracing" and done == 3:
            self.stop()


def test_a_stop_while_tracing_abandons_the_trace_and_leaves_the_next_run_unharmed() -> None:
    from gradviz.engine.trainer import release_cached_run

    lanes = [lane(f"l{i}", [layer(7, "elu"), layer(7, "tanh"), layer(1)], {"name": name, "learning_rate": 0.01})
             for i, name in enumerate(("sgd", "adam", "rmsprop"))]
    spec = make_spec(lanes, epochs=3, seed=43)
    reference = run_all(spec)
    release_cached_run()  # the next run builds and traces afresh

    stopped = _StopWhileTracing()
    assert list(iter_run(spec, stopped)) == []
    # No step after the stop: the trace was abandoned there, not carried to its end.
    assert stopped.steps[-1] == ("tracing", 3, 6, 3)

    # The abandoned run is not kept for Reset: the next run prepares anew, and its numbers are the reference's.
    again = _PreparationLog()
    reports = run_all(spec, again)
    assert again.steps[-1][0] == "compiling"
    assert_reports_identical(reports, reference)
