"""The whole window, offscreen, training real runs; plus run_app in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gradviz.engine.lessons import Lesson
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunState
from gradviz.ui.main_window import MainWindow
from gradviz.ui.tf_loader import TensorFlowLoader
from tests.ui.test_controller import RUN_TIMEOUT_MS

REPO = Path(__file__).resolve().parents[2]


def as_lesson(spec: RunSpec, name: str = "tiny") -> Lesson:
    return Lesson(name, f"Tiny {name}", "", "Two small lanes for tests.", spec, "")


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def wait_state(qtbot, window: MainWindow, state: RunState) -> None:
    qtbot.waitUntil(lambda: window.controller.state is state, timeout=RUN_TIMEOUT_MS)


@pytest.mark.usefixtures("tensorflow")
def test_window_opens_paused_at_epoch_zero_and_plays_to_the_end(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=8))
    assert window.controller.state is RunState.PAUSED
    assert window.transport.play_button.isEnabled()
    assert window.controller.history.last_epoch == 0
    click(qtbot, window.transport.play_button)
    wait_state(qtbot, window, RunState.FINISHED)

    history = window.controller.history
    assert list(history.epochs) == list(range(9))
    race = window.panels[0]
    assert race.isVisible()
    qtbot.waitUntil(lambda: race.epoch == 8, timeout=5000)
    assert race.history is history
    for panel in window.panels[1:]:  # the other tabs build their plots when first shown
        index = window.tabs.indexOf(panel)
        if window.tabs.isTabVisible(index):
            window.tabs.setCurrentIndex(index)
            window.controller.render_now()
            assert panel.history is history and panel.epoch == 8
    assert window.transport.epoch_text.text() == "epoch 8 / 8"
    assert window.transport.progress.value() == 8
    assert window.error_text == ""


@pytest.mark.usefixtures("tensorflow")
def test_transport_buttons_pause_step_stop_and_reset(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=5000))
    t, c = window.transport, window.controller
    # Step: exactly one epoch per press.
    for expected in (1, 2):
        with qtbot.waitSignal(c.epoch_recorded, timeout=10_000) as blocker:
            click(qtbot, t.step_button)
        assert blocker.args == [expected]
    with qtbot.assertNotEmitted(c.epoch_recorded, wait=300):
        pass
    assert c.history.last_epoch == 2
    # Play, then Pause.
    click(qtbot, t.play_button)
    assert t.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: c.history.last_epoch >= 6, timeout=RUN_TIMEOUT_MS)
    click(qtbot, t.play_button)
    assert c.state is RunState.PAUSED and t.play_button.text() == "Play"
    # Stop keeps what was recorded and joins the worker.
    click(qtbot, t.stop_button)
    assert c.state is RunState.STOPPED and not c.is_busy()
    recorded = c.history.last_epoch
    assert recorded >= 6
    # Reset: a fresh run of the same spec, back at epoch 0.
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        click(qtbot, t.reset_button)
    assert c.history.last_epoch == 0 and c.state is RunState.PAUSED


@pytest.mark.usefixtures("tensorflow")
def test_keyboard_shortcuts_drive_the_run(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=5000))
    c = window.controller
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    with qtbot.waitSignal(c.epoch_recorded, timeout=10_000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_Right)
    assert blocker.args == [1]
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.state is RunState.RUNNING
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert c.state is RunState.PAUSED
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_R)
    assert c.history.last_epoch == 0


@pytest.mark.usefixtures("tensorflow")
def test_reset_in_the_window_replays_the_same_losses(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=6))
    c = window.controller
    click(qtbot, window.transport.play_button)
    wait_state(qtbot, window, RunState.FINISHED)
    first = np.array(c.history.loss)
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        click(qtbot, window.transport.reset_button)
    click(qtbot, window.transport.play_button)
    wait_state(qtbot, window, RunState.FINISHED)
    np.testing.assert_array_equal(np.array(c.history.loss), first)


@pytest.mark.usefixtures("tensorflow")
def test_timeline_scrubs_and_lanes_hide(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=6))
    c = window.controller
    click(qtbot, window.transport.play_button)
    wait_state(qtbot, window, RunState.FINISHED)
    qtbot.waitUntil(lambda: window.transport.timeline.maximum() == 6, timeout=5000)
    with qtbot.waitSignal(c.frame_rendered, timeout=5000) as frame:
        window.transport.timeline.setValue(3)
    assert frame.args == [3]
    assert window.panels[0].epoch == 3
    assert window.transport.epoch_text.text() == "epoch 3 / 6  (newest 6)"
    window.transport.timeline.setValue(6)
    assert c.following

    window.lanes.set_checked(1, False)
    bound = [panel for panel in window.panels if panel.history is c.history]
    assert bound and all(not panel.lane_visible(1) and panel.lane_visible(0) for panel in bound)
    gradients = next(panel for panel in window.panels if panel.name == "gradients")
    window.tabs.setCurrentWidget(gradients)  # bound now: the hidden lane stays hidden there too
    c.render_now()
    assert gradients.history is c.history and not gradients.lane_visible(1) and gradients.lane_visible(0)


@pytest.mark.usefixtures("tensorflow")
def test_failed_run_shows_its_message_and_the_window_stays_usable(qtbot, open_window, tiny_spec,
                                                                  bad_input_spec: RunSpec) -> None:
    window = open_window(tiny_spec(epochs=3))
    with qtbot.waitSignal(window.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        window.set_lesson(as_lesson(bad_input_spec, "broken"))
    assert "input_dim" in blocker.args[0]
    assert window.error_text == blocker.args[0]
    assert window.banner.isVisible()
    qtbot.waitUntil(lambda: not window.controller.is_busy(), timeout=10_000)

    with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
        window.set_lesson(as_lesson(tiny_spec(epochs=2), "tiny"))
    assert window.error_text == ""  # the old run's error went with it
    click(qtbot, window.transport.play_button)
    wait_state(qtbot, window, RunState.FINISHED)


def test_tensorflow_failure_is_explained_and_play_stays_off(qtbot, tiny_spec) -> None:
    loader = TensorFlowLoader()  # never started: the test plays its part
    window = MainWindow(as_lesson(tiny_spec()), loader=loader)
    qtbot.addWidget(window)
    window.show()
    assert "Preparing TensorFlow" in window.banner.text
    assert not window.transport.play_button.isEnabled()
    loader.failed.emit("TensorFlow could not be loaded: ImportError: libtensorflow.so missing")
    assert "ImportError: libtensorflow.so missing" in window.error_text
    assert "Training is not available" in window.error_text
    assert not window.transport.play_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_Space)  # does nothing, breaks nothing
    assert window.controller.state is RunState.IDLE
    window.close()


@pytest.mark.usefixtures("tensorflow")
def test_closing_mid_run_stops_and_joins_the_worker(qtbot, tiny_spec) -> None:
    window = MainWindow(as_lesson(tiny_spec(epochs=100_000)))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
        window.start_tensorflow()
    window.controller.set_pace(None)
    window.controller.play()
    qtbot.waitUntil(lambda: window.controller.history.last_epoch >= 20, timeout=RUN_TIMEOUT_MS)
    assert window.controller.is_busy()
    window.close()
    assert not window.controller.is_busy()
    assert window.controller.state is RunState.STOPPED


@pytest.mark.usefixtures("tensorflow")
def test_lesson_picker_switches_lesson_and_panel(qtbot, open_window, tiny_spec) -> None:
    window = open_window(tiny_spec(epochs=3))
    index = window.lesson_picker.findData("vanishing")
    assert index >= 0
    with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
        window.lesson_picker.setCurrentIndex(index)
    assert window.lesson.name == "vanishing"
    assert window.tabs.currentWidget().name == "gradients"
    assert window.lanes.lane_count() == len(window.lesson.spec.lanes)
    assert window.controller.history.layout.spec == window.lesson.spec


def _run(code: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO)


def test_importing_the_window_does_not_import_tensorflow() -> None:
    result = _run(
        "import sys, gradviz.ui.main_window, gradviz.ui.app, gradviz.ui.controller, gradviz.ui.worker\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "print(heavy)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


RUN_APP = (
    "import sys, json\n"
    "from gradviz.ui.app import run_app\n"
    "raise SystemExit(run_app(**json.loads(sys.argv[1])))\n"
)


def _spec_file(tmp_path: Path, spec: RunSpec) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(spec.dumps(), encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_app_plays_and_saves_a_screenshot(tmp_path: Path, tiny_spec) -> None:
    shot = tmp_path / "shots" / "end.png"
    args = {"lesson": str(_spec_file(tmp_path, tiny_spec(epochs=50))), "play": True, "epochs": 4,
            "screenshot": str(shot), "quit_when_done": True}
    result = _run(RUN_APP, json.dumps(args))
    assert result.returncode == 0, result.stderr
    assert "QThread" not in result.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 1000 and image.height() >= 600


@pytest.mark.slow
def test_run_app_without_play_saves_the_first_frame(tmp_path: Path) -> None:
    shot = tmp_path / "first.png"
    result = _run(RUN_APP, json.dumps({"lesson": "race", "screenshot": str(shot)}))
    assert result.returncode == 0, result.stderr
    assert shot.stat().st_size > 1000
    assert "QThread" not in result.stderr


def test_run_app_rejects_an_unknown_lesson() -> None:
    result = _run(RUN_APP, json.dumps({"lesson": "no-such-lesson", "play": True}), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("gradviz: error: no lesson named 'no-such-lesson'")


@pytest.mark.slow
def test_run_app_reports_a_failed_run(tmp_path: Path, bad_input_spec: RunSpec) -> None:
    args = {"lesson": str(_spec_file(tmp_path, bad_input_spec)), "play": True, "quit_when_done": True}
    result = _run(RUN_APP, json.dumps(args))
    assert result.returncode == 1
    assert "gradviz: error: lanes[0].model.input_dim" in result.stderr
    assert "QThread" not in result.stderr


def test_all_panels_at_once_shows_each_panel_that_means_something(qtbot, tiny_spec) -> None:
    window = MainWindow(as_lesson(tiny_spec()))
    qtbot.addWidget(window)
    window.show()
    by_name = {panel.name: panel for panel in window.panels}
    window.all_panels_action.trigger()
    assert window.all_panels_visible
    # A network race: its four panels stacked on screen; the lab and surface panels mean nothing here.
    assert {n for n, p in by_name.items() if p.isVisible()} == {"race", "gradients", "activations", "jacobians"}
    window.all_panels_action.trigger()
    assert not window.all_panels_visible
    assert [window.tabs.isTabVisible(window.tabs.indexOf(by_name[n])) for n in ("race", "lab", "surface")] == [
        True, False, False]
    window.close()


def test_the_panels_do_not_move_when_a_finding_is_called_out(qtbot, tiny_spec) -> None:
    window = MainWindow(as_lesson(tiny_spec()))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    before = window.tabs.geometry()
    window.callout.setText("⚑ " + "a long finding that wraps onto a second line " * 4)
    window.callout.show()
    QApplication.processEvents()
    assert window.callout.isVisible() and window.tabs.geometry() == before
    window.callout.hide()
    QApplication.processEvents()
    assert window.tabs.geometry() == before
    window.close()
