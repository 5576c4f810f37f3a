"""The epoch watchdog: an overdue epoch is reported with the usual time, offers Stop, and clears."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from gradviz.ui.controller import RunController, RunState
from gradviz.ui.main_window import MainWindow
from gradviz.ui.watchdog import EpochWatchdog, SlowEpoch
from tests.ui.test_controller import RUN_TIMEOUT_MS, FakePanel
from tests.ui.test_window import as_lesson


def test_messages_name_the_epoch_the_wait_and_the_usual_time() -> None:
    slow = SlowEpoch(epoch=41, waited_s=12.3, usual_s=0.021)
    assert slow.message.startswith("Epoch 41 has taken 12 s, much longer than the usual 0.021 s.")
    assert "Stop" in slow.message
    assert SlowEpoch(0, 75.0, None).message.startswith("Building the models has taken 75 s")
    assert "compiling" in SlowEpoch(1, 61.0, None).message


@pytest.fixture
def watched(qtbot, tiny_spec) -> Iterator[tuple[RunController, EpochWatchdog]]:
    # Tight bounds so a pace of a few seconds per epoch counts as "much longer"; the first
    # epochs (tracing) get a generous bound as in the app.
    controller = RunController([FakePanel()], pace=50.0)
    watchdog = EpochWatchdog(controller, min_s=0.3, factor=3.0, first_s=60.0, check_ms=50)
    controller.set_spec(tiny_spec(epochs=10_000))
    yield controller, watchdog
    watchdog.stop()
    assert controller.shutdown(10.0)
    assert not watchdog.active


@pytest.mark.usefixtures("tensorflow")
def test_an_overdue_epoch_is_reported_and_cleared_when_it_arrives(qtbot, watched) -> None:
    controller, watchdog = watched
    controller.play()
    qtbot.waitUntil(lambda: controller.history is not None and controller.history.last_epoch >= 8,
                    timeout=RUN_TIMEOUT_MS)
    assert watchdog.active
    usual = watchdog.usual_epoch_s()
    assert usual is not None and usual < 0.3
    controller.set_pace(1.0)  # the next epoch now waits about a second: far longer than the usual 0.02 s
    with qtbot.waitSignal(watchdog.overdue, timeout=10_000,
                          check_params_cb=lambda s: s.usual_s is not None and s.waited_s >= 0.3) as blocker:
        pass
    slow = blocker.args[0]
    awaited = controller.history.last_epoch + 1
    assert slow.epoch in (awaited, awaited - 1)  # the epoch may land between the check and this line
    assert f"Epoch {slow.epoch} has taken" in slow.message and "usual" in slow.message
    with qtbot.waitSignal(watchdog.cleared, timeout=10_000):
        pass  # the epoch arrives
    assert watchdog.current is None or watchdog.current.epoch > slow.epoch


@pytest.mark.usefixtures("tensorflow")
def test_a_paused_run_is_never_overdue(qtbot, watched) -> None:
    controller, watchdog = watched
    with qtbot.waitSignal(controller.history_started, timeout=RUN_TIMEOUT_MS):
        controller.reset()  # paused at epoch 0
    watchdog.first_s = watchdog.min_s = 0.05
    with qtbot.assertNotEmitted(watchdog.overdue, wait=400):
        pass
    assert watchdog.current is None
    controller.stop()
    assert not watchdog.active  # no timer runs once nothing is live


@pytest.mark.usefixtures("tensorflow")
def test_the_window_shows_the_overdue_epoch_and_its_stop_button_stops(qtbot, tiny_spec) -> None:
    window = MainWindow(as_lesson(tiny_spec(epochs=10_000)))
    qtbot.addWidget(window)
    window.show()
    try:
        with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
            window.start_tensorflow()
        c, banner = window.controller, window.slow_epoch_banner
        window.watchdog.min_s, window.watchdog.factor = 0.3, 3.0
        c.set_pace(50.0)
        c.play()
        qtbot.waitUntil(lambda: c.history.last_epoch >= 8, timeout=RUN_TIMEOUT_MS)
        assert not banner.isVisible()
        c.set_pace(0.1)  # ten seconds for the next epoch
        qtbot.waitUntil(banner.isVisible, timeout=10_000)
        assert f"Epoch {c.history.last_epoch + 1} has taken" in banner.text
        recorded = c.history.last_epoch
        qtbot.mouseClick(banner.stop_button, Qt.MouseButton.LeftButton)
        assert c.state is RunState.STOPPED and not c.is_busy()
        assert not banner.isVisible()
        assert c.history.last_epoch == recorded  # what was on screen stays
    finally:
        window.close()
        assert not window.controller.is_busy()
        assert window.loader.wait(60)
