"""Before its first epoch a large run builds and traces its models: the window says how far it has got."""

from __future__ import annotations

import time

import pytest

from gradviz.engine.control import Preparation
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunController, RunState
from gradviz.ui.main_window import MainWindow
from gradviz.ui.preparation import preparation_message
from gradviz.ui.watchdog import EpochWatchdog
from tests.ui.test_controller import RUN_TIMEOUT_MS, FakePanel
from tests.ui.test_window import as_lesson

LANES = 6


def deep_spec(width: int) -> RunSpec:
    """Six lanes of six layers: a few seconds of building and tracing, as a small lab.

    Each test uses its own ``width``: a run of the same shape would reuse the
    previous test's traced functions and have nothing to prepare.
    """
    optimizers = ("sgd", "adam", "rmsprop")
    lanes = [
        {
            "name": f"lane {i}",
            "model": {"input_dim": 1, "layers": [{"units": width, "activation": ("tanh", "sigmoid")[i % 2]}] * 5
                      + [{"units": 1}]},
            "optimizer": {"name": optimizers[i % 3], "learning_rate": 0.01},
        }
        for i in range(LANES)
    ]
    return RunSpec.from_json({"seed": 5, "epochs": 3, "batch_size": 16, "shuffle": True,
                              "dataset": {"name": "cubic", "n_samples": 40}, "lanes": lanes})


@pytest.mark.parametrize(("preparation", "words"), [
    (Preparation("building", 3, 36, 36), "creating the model of lane 3 of 36"),
    (Preparation("tracing", 12, 72, 36), "building the training step of lane 12 of 36"),
    (Preparation("tracing", 36, 72, 36), "building the training step of lane 36 of 36"),
    (Preparation("tracing", 37, 72, 36), "building the probes of lane 1 of 36"),
    (Preparation("compiling", 72, 72, 36), "compiling the 36 lanes' training step"),
])
def test_the_message_names_the_stage_and_the_lane(preparation: Preparation, words: str) -> None:
    message = preparation_message(preparation)
    assert message.startswith("Preparing the first epoch: ") and words in message


def test_the_fraction_moves_forward_through_the_stages() -> None:
    steps = ([Preparation("building", i, 4, 4) for i in range(1, 5)]
             + [Preparation("tracing", i, 8, 4) for i in range(1, 9)] + [Preparation("compiling", 8, 8, 4)])
    fractions = [p.fraction for p in steps]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1


@pytest.mark.usefixtures("tensorflow")
def test_the_window_says_how_far_a_large_run_has_got_before_its_first_epoch(qtbot) -> None:
    win = MainWindow(as_lesson(deep_spec(12), "deep"))
    qtbot.addWidget(win)
    win.show()
    shown: list[tuple[Preparation | None, str, str, str]] = []

    def look(preparation: Preparation | None) -> None:  # connected after the window's own handler
        banner = win.banner.text if win.banner.isVisibleTo(win) else ""
        shown.append((preparation, banner, win.transport.epoch_text.text(), win.statusBar().currentMessage()))

    win.controller.preparing.connect(look)
    with qtbot.waitSignal(win.controller.history_started, timeout=RUN_TIMEOUT_MS):
        win.start_tensorflow()

    steps = [s for s in shown if s[0] is not None]
    assert steps, "a run of six deep lanes takes seconds to prepare: the window must say so"
    for preparation, banner, counter, status in steps:
        assert banner == status == preparation_message(preparation)
        assert counter == f"preparing… {round(100 * preparation.fraction)} %"
        assert preparation.lanes == LANES
    assert [p.fraction for p, *_ in steps] == sorted(p.fraction for p, *_ in steps)
    assert shown[-1][0] is None  # cleared when epoch 0 arrived
    assert win.controller.preparation is None and not win.banner.isVisibleTo(win)
    assert win.transport.epoch_text.text() == "epoch 0 / 3"
    assert win.statusBar().currentMessage().startswith("Paused.")
    win.close()
    assert win.loader.wait(60)


@pytest.mark.usefixtures("tensorflow")
def test_a_run_preparing_lane_by_lane_is_not_overdue(qtbot) -> None:
    first_s = 1.5  # shorter than the whole preparation, longer than any one step of it
    controller = RunController([FakePanel()], pace=None, preparation_shown_after_s=0.0)
    watchdog = EpochWatchdog(controller, min_s=0.3, factor=3.0, first_s=first_s, check_ms=50)
    overdue = []
    watchdog.overdue.connect(overdue.append)
    progress = []
    controller.preparing.connect(progress.append)
    started = time.monotonic()
    controller.start(deep_spec(10), paused=True)
    qtbot.waitUntil(lambda: controller.history is not None, timeout=RUN_TIMEOUT_MS)
    prepared_s = time.monotonic() - started
    try:
        assert prepared_s > first_s, "the preparation must outlast the bound for this test to mean anything"
        assert len([p for p in progress if p is not None]) >= LANES
        assert overdue == []
        assert controller.state is RunState.PAUSED
    finally:
        watchdog.stop()
        assert controller.shutdown(10.0)


@pytest.mark.usefixtures("tensorflow")
def test_an_overdue_report_is_cleared_as_soon_as_the_preparation_moves_on(qtbot) -> None:
    controller = RunController([FakePanel()], pace=None, preparation_shown_after_s=0.0)
    # A bound shorter than one lane's trace: overdue between steps, cleared at the next one.
    watchdog = EpochWatchdog(controller, min_s=0.05, factor=3.0, first_s=0.1, check_ms=20)
    events: list[str] = []
    watchdog.overdue.connect(lambda _slow: events.append("overdue"))
    watchdog.cleared.connect(lambda: events.append("cleared"))
    controller.start(deep_spec(14), paused=True)
    qtbot.waitUntil(lambda: controller.history is not None, timeout=RUN_TIMEOUT_MS)
    try:
        shown = [kind for i, kind in enumerate(events) if i == 0 or kind != events[i - 1]]
        assert shown.count("overdue") >= 2 and shown.count("cleared") >= 2  # not one banner left up throughout
        assert watchdog.current is None
    finally:
        watchdog.stop()
        assert controller.shutdown(10.0)


@pytest.mark.usefixtures("tensorflow")
def test_stopping_a_run_while_it_prepares_clears_what_the_window_said(qtbot) -> None:
    win = MainWindow(as_lesson(deep_spec(16), "deep"))
    qtbot.addWidget(win)
    win.show()
    win.start_tensorflow()
    qtbot.waitUntil(lambda: win.controller.preparation is not None, timeout=RUN_TIMEOUT_MS)
    assert win.banner.isVisibleTo(win) and win.transport.epoch_text.text().startswith("preparing…")

    control = win.controller.control
    win.controller.stop()  # returns at once; the trace is abandoned on its own thread

    assert win.controller.preparation is None and not win.banner.isVisibleTo(win)
    assert win.transport.epoch_text.text() == "epoch – / 3" and win.transport.epoch_text.toolTip() == ""
    assert win.statusBar().currentMessage() == "Stopped at epoch 0."
    qtbot.waitUntil(lambda: not win.controller.is_busy(), timeout=RUN_TIMEOUT_MS)
    assert win.controller.history is None
    # The engine gave up at the step it was on instead of tracing on to the end and compiling.
    assert control.preparation is not None and control.preparation.stage != "compiling"
    win.close()
    assert win.loader.wait(60)
