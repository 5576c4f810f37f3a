"""RunController with real training runs and no window (views are stand-ins, ndv-style)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from gradviz.engine.history import RunHistory
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunController, RunState

pytestmark = pytest.mark.usefixtures("tensorflow")

RUN_TIMEOUT_MS = 60_000


class FakePanel:
    """Records what the controller asks of a panel; visible unless told otherwise."""

    def __init__(self, visible: bool = True) -> None:
        self.visible = visible
        self.bound: list[RunHistory] = []
        self.rendered: list[int] = []
        self.lane_visibility: dict[int, bool] = {}
        self.unbound = 0  # times told to let go of its run

    def bind(self, history: RunHistory) -> None:
        self.bound.append(history)
        self.lane_visibility = {}

    def unbind(self) -> None:
        self.unbound += 1

    def render(self, epoch: int) -> None:
        self.rendered.append(epoch)

    def set_lane_visible(self, lane: int, visible: bool) -> None:
        self.lane_visibility[lane] = visible

    def isVisible(self) -> bool:
        return self.visible


@pytest.fixture
def make_controller(qtbot) -> Callable[..., RunController]:
    made: list[RunController] = []

    def make(*panels: FakePanel, pace: float | None = None) -> RunController:
        controller = RunController(panels, pace=pace)
        made.append(controller)
        return controller

    yield make
    for controller in made:
        assert controller.shutdown(10.0)
        controller.deleteLater()


def flat_out(qtbot, controller: RunController, spec: RunSpec, epochs: int = 2) -> RunController:
    """``controller`` training ``spec`` at max pace, once ``epochs`` epochs are recorded."""
    controller.set_spec(spec)
    controller.play()
    qtbot.waitUntil(lambda: controller.history is not None and len(controller.history) >= epochs,
                    timeout=RUN_TIMEOUT_MS)
    return controller


def report_times(controller: RunController) -> list[float]:
    """When each report of the current run leaves its worker, from now on (on the worker's thread)."""
    times: list[float] = []
    controller._run.worker.report_ready.connect(lambda _: times.append(time.perf_counter()),
                                                Qt.ConnectionType.DirectConnection)
    return times


def play_to_end(qtbot, controller: RunController) -> None:
    with qtbot.waitSignal(controller.state_changed, timeout=RUN_TIMEOUT_MS,
                          check_params_cb=lambda s: s in (RunState.FINISHED, RunState.FAILED)):
        controller.play()
    assert controller.state is RunState.FINISHED, controller.last_error
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=10_000)


def test_play_records_every_epoch_and_renders_the_last(qtbot, make_controller, tiny_spec) -> None:
    panel, hidden = FakePanel(), FakePanel(visible=False)
    controller = make_controller(panel, hidden)
    controller.set_spec(tiny_spec(epochs=8))
    recorded: list[int] = []
    controller.epoch_recorded.connect(recorded.append)
    play_to_end(qtbot, controller)

    history = controller.history
    assert recorded == list(range(9))
    assert list(history.epochs) == list(range(9))
    assert np.isfinite(history.loss[:, 1:]).all()
    assert panel.bound == [history]
    qtbot.waitUntil(lambda: bool(panel.rendered) and panel.rendered[-1] == 8, timeout=5000)
    assert hidden.rendered == []  # hidden panels are never drawn ...
    assert hidden.bound == []  # ... nor built: their plot items wait until they are shown
    assert hidden.unbound == 1  # and whatever run they showed before is let go
    assert panel.unbound == 0
    hidden.visible = True
    controller.render_now()
    assert hidden.bound == [history] and hidden.rendered == [8]
    panel.visible = False
    controller.reset()  # a new history: the panel now off screen lets go of this one
    qtbot.waitUntil(lambda: controller.history not in (None, history), timeout=RUN_TIMEOUT_MS)
    assert panel.unbound == 1 and hidden.unbound == 1
    assert hidden.bound[-1] is controller.history
    # Coalesced: far fewer frames than epochs would be allowed, never more.
    assert len(panel.rendered) <= len(recorded)


def test_step_advances_exactly_one_epoch(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel(), pace=None)
    controller.set_spec(tiny_spec(epochs=20))
    with qtbot.waitSignal(controller.epoch_recorded, timeout=RUN_TIMEOUT_MS) as first:
        controller.step()  # no run yet: starts one, paused at initialization
    assert first.args == [0]
    assert controller.state is RunState.PAUSED
    for expected in (1, 2, 3):
        with qtbot.waitSignal(controller.epoch_recorded, timeout=10_000) as blocker:
            controller.step()
        assert blocker.args == [expected]
    with qtbot.assertNotEmitted(controller.epoch_recorded, wait=500):
        pass
    assert controller.history.last_epoch == 3
    assert len(controller.history) == 4
    assert controller.state is RunState.PAUSED


def test_pause_holds_and_resume_continues(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel(), pace=50.0)
    controller.set_spec(tiny_spec(epochs=10_000))
    controller.play()
    qtbot.waitUntil(lambda: controller.history is not None and controller.history.last_epoch >= 3,
                    timeout=RUN_TIMEOUT_MS)
    controller.pause()
    assert controller.state is RunState.PAUSED
    at_pause = controller.history.last_epoch
    arrived: list[int] = []
    controller.epoch_recorded.connect(arrived.append)
    qtbot.waitSignal(controller.state_changed, timeout=600, raising=False).wait()
    assert len(arrived) <= 1  # only the epoch already in progress may still land
    held = controller.history.last_epoch
    assert held <= at_pause + 1
    with qtbot.waitSignal(controller.epoch_recorded, timeout=10_000):
        controller.resume()
    assert controller.state is RunState.RUNNING
    assert controller.history.last_epoch == held + 1


def test_reset_replays_identically(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel())
    controller.set_spec(tiny_spec(epochs=10))
    play_to_end(qtbot, controller)
    first = np.array(controller.history.loss)
    first_run = controller.history.run_id

    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        controller.reset()
    assert controller.state is RunState.PAUSED
    assert controller.history.last_epoch == 0
    play_to_end(qtbot, controller)
    again = np.array(controller.history.loss)
    assert controller.history.run_id != first_run
    np.testing.assert_array_equal(again, first)


def test_new_seed_changes_the_run(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel())
    controller.set_spec(tiny_spec(epochs=3))
    play_to_end(qtbot, controller)
    first = np.array(controller.history.loss)
    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        seed = controller.new_seed(1234)
    assert controller.spec.seed == seed == 1234
    play_to_end(qtbot, controller)
    assert not np.array_equal(np.array(controller.history.loss), first)


def test_reports_of_a_stopped_run_never_reach_the_next(qtbot, make_controller, tiny_spec) -> None:
    controller = flat_out(qtbot, make_controller(FakePanel(), pace=None), tiny_spec(epochs=100_000))
    old_run = controller.history.run_id
    # Hold the GUI thread until the worker has queued more reports it cannot deliver yet.
    emitted = threading.Semaphore(0)
    controller._run.worker.report_ready.connect(lambda _: emitted.release(), Qt.ConnectionType.DirectConnection)
    for _ in range(5):
        assert emitted.acquire(timeout=30)
    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        controller.start(tiny_spec(epochs=3))  # stops the old run; its queued reports arrive now
    assert controller.stale_reports_dropped >= 5
    history = controller.history
    assert history.run_id != old_run
    qtbot.waitUntil(lambda: controller.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
    assert list(history.epochs) == [0, 1, 2, 3]


def test_stop_joins_the_thread_and_keeps_the_history(qtbot, make_controller, tiny_spec) -> None:
    controller = flat_out(qtbot, make_controller(FakePanel(), pace=None), tiny_spec(epochs=100_000), epochs=3)
    assert controller.is_busy()
    assert controller.stop(timeout_s=5.0)
    assert not controller.is_busy()
    assert controller.state is RunState.STOPPED
    assert len(controller.history) >= 3


def test_failed_run_reports_and_the_next_run_works(qtbot, make_controller, tiny_spec,
                                                   bad_input_spec: RunSpec) -> None:
    controller = make_controller(FakePanel())
    controller.set_spec(bad_input_spec)
    with qtbot.waitSignal(controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        controller.play()
    assert "input_dim" in blocker.args[0]
    qtbot.waitUntil(lambda: not controller.is_busy(), timeout=10_000)
    assert controller.state is RunState.FAILED
    assert controller.last_error == blocker.args[0]

    controller.set_spec(tiny_spec(epochs=2))
    play_to_end(qtbot, controller)
    assert controller.last_error is None
    assert list(controller.history.epochs) == [0, 1, 2]


def test_lane_visibility_reaches_panels_and_survives_reset(qtbot, make_controller, tiny_spec) -> None:
    panel = FakePanel()
    controller = make_controller(panel)
    controller.set_spec(tiny_spec(epochs=2))
    controller.set_lane_visible(1, False)
    assert panel.lane_visibility == {}  # nothing is bound yet: applied at bind
    assert not controller.lane_visible(1)
    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        controller.reset()
    assert panel.lane_visibility == {1: False}  # re-applied after bind
    controller.set_lane_visible(1, True)
    assert panel.lane_visibility == {1: True}
    assert controller.lane_visible(1)


def test_timeline_scrubs_back_and_follows_again(qtbot, make_controller, tiny_spec) -> None:
    panel = FakePanel()
    controller = make_controller(panel)
    controller.set_spec(tiny_spec(epochs=6))
    play_to_end(qtbot, controller)
    controller.show_epoch(2)
    assert not controller.following
    assert controller.render_now() == 2
    assert panel.rendered[-1] == 2
    controller.show_epoch(None)
    assert controller.following
    with qtbot.waitSignal(controller.frame_rendered, timeout=2000) as frame:
        controller.request_render()
    assert frame.args == [6]


def test_pace_is_passed_to_the_running_control(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel(), pace=5.0)
    controller.set_spec(tiny_spec(epochs=10_000))
    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        controller.play()
    assert controller.control.pace == 5.0
    controller.set_pace(None)
    assert controller.control.pace is None and controller.pace is None
    first = controller.history.last_epoch
    qtbot.waitUntil(lambda: controller.history.last_epoch >= first + 20, timeout=RUN_TIMEOUT_MS)


# drawing makes room for the learner ------------------------------------------------------------


class SlowPanel(FakePanel):
    """A panel whose drawing takes ``cost_s`` of the GUI thread per frame."""

    def __init__(self, cost_s: float) -> None:
        super().__init__()
        self.cost_s = cost_s

    def render(self, epoch: int) -> None:
        super().render(epoch)
        deadline = time.perf_counter() + self.cost_s
        while time.perf_counter() < deadline:
            pass


def test_frames_that_cost_more_space_out_and_cheap_ones_come_back(qtbot, make_controller) -> None:
    from synthetic import make_history

    from gradviz.ui.controller import DISPLAY_SHARE, FRAME_INTERVAL_MS, MAX_FRAME_INTERVAL_MS

    panel = SlowPanel(0.040)
    controller = make_controller(panel)
    controller.show_history(make_history())
    # A learner dragging the timeline keeps asking for frames.
    keep_asking = QTimer()
    keep_asking.timeout.connect(controller.request_render)
    keep_asking.start(5)
    try:
        qtbot.waitUntil(lambda: len(panel.rendered) >= 6, timeout=10_000)
        expected = min(MAX_FRAME_INTERVAL_MS, 40 / DISPLAY_SHARE)
        assert expected * 0.9 <= controller.frame_interval_ms <= MAX_FRAME_INTERVAL_MS
        panel.cost_s = 0.0
        qtbot.waitUntil(lambda: controller.frame_interval_ms == FRAME_INTERVAL_MS, timeout=10_000)
    finally:
        keep_asking.stop()


def test_training_holds_while_the_window_draws(qtbot, make_controller, tiny_spec) -> None:
    controller = flat_out(qtbot, make_controller(FakePanel(), pace=None), tiny_spec(epochs=100_000), epochs=3)
    trained = report_times(controller)
    qtbot.waitUntil(lambda: len(trained) >= 3, timeout=RUN_TIMEOUT_MS)  # flat out before
    with controller.display_work():
        began = time.perf_counter()
        time.sleep(0.2)  # drawing, shorter than the longest hold
        ended = time.perf_counter()
    # At most the epoch already under way finished while the window drew.
    assert sum(began < t < ended for t in trained) <= 1
    qtbot.waitUntil(lambda: sum(t > ended for t in trained) >= 3, timeout=RUN_TIMEOUT_MS)  # and on after
    controller.stop()


def test_reports_cross_to_the_gui_thread_in_batches_and_all_arrive(qtbot, make_controller, tiny_spec) -> None:
    controller = make_controller(FakePanel(), pace=None)
    controller.set_spec(tiny_spec(epochs=40))
    controller.play()
    run = controller._run
    batches: list[int] = []
    original = run.worker.take_reports

    def counting_take() -> list:
        reports = original()
        batches.append(len(reports))
        return reports

    run.worker.take_reports = counting_take
    # Block the GUI thread until the worker is done: every report waits in one queue.
    assert run.wait(RUN_TIMEOUT_MS / 1000)
    qtbot.waitUntil(lambda: controller.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
    assert list(controller.history.epochs) == list(range(41))
    assert sum(batches) == 41
    assert len(batches) <= 2  # the first report may have been taken before the wait began


def test_frames_too_costly_to_space_out_do_not_hold_training(qtbot, make_controller, tiny_spec) -> None:
    # Drawing that takes longer than the longest frame interval would hold
    # training nearly all the time (one epoch per MAX_DISPLAY_HOLD_S).
    panel = SlowPanel(0.3)
    controller = flat_out(qtbot, make_controller(panel, pace=None), tiny_spec(epochs=100_000))
    qtbot.waitUntil(lambda: len(panel.rendered) >= 2, timeout=RUN_TIMEOUT_MS)
    trained = report_times(controller)
    qtbot.wait(1500)
    assert len(trained) >= 20, f"{len(trained)} epochs in 1.5 s while frames took 0.3 s each"
    controller.stop()
