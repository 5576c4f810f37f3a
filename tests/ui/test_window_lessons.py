"""Lessons shape the window: locked controls, findings and the lab's cells."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from gradviz.engine.errors import SpecError
from gradviz.engine.lessons import load_lesson
from gradviz.ui.controller import RunState
from gradviz.ui.main_window import MainWindow
from tests.ui.test_controller import RUN_TIMEOUT_MS


def open_lesson(qtbot, lesson) -> MainWindow:
    window = MainWindow(lesson)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
        window.start_tensorflow()
    return window


def close(window: MainWindow) -> None:
    window.close()
    assert not window.controller.is_busy()
    assert window.loader.wait(60)


def test_a_lesson_naming_an_unknown_control_is_refused(tmp_path, monkeypatch) -> None:
    import gradviz.engine.lessons as lessons

    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "odd.json").write_text(
        '{"title": "t", "controls": {"locked": ["warp_drive"]}, "spec": '
        + load_lesson("race").spec.dumps() + "}"
    )
    monkeypatch.setattr(lessons, "_lesson_dir", lambda: folder)
    with pytest.raises(SpecError, match="warp_drive"):
        lessons.load_lesson("odd")


@pytest.mark.usefixtures("tensorflow")
def test_locked_and_hidden_controls_stay_off(qtbot) -> None:
    lesson = load_lesson("init")
    lesson = dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=2),
                                 locked_controls=("new_seed", "step"), hidden_controls=("pace",))
    window = open_lesson(qtbot, lesson)
    try:
        t = window.transport
        assert not t.seed_button.isEnabled() and not t.step_button.isEnabled()
        assert t.play_button.isEnabled() and t.reset_button.isEnabled()
        assert not t.pace.isVisible()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        with qtbot.assertNotEmitted(window.controller.epoch_recorded, wait=500):
            qtbot.keyClick(window, Qt.Key.Key_Right)  # Step is locked: nothing trains
        assert window.controller.history.last_epoch == 0
        with qtbot.waitSignal(window.controller.state_changed, timeout=RUN_TIMEOUT_MS):
            qtbot.mouseClick(t.play_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.controller.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
        assert not t.seed_button.isEnabled()  # still locked after the run's state changed
        # another lesson lifts the locks
        window.set_lesson(load_lesson("race"))
        assert t.seed_button.isEnabled() and t.pace.isVisible()
    finally:
        close(window)


@pytest.mark.usefixtures("tensorflow")
def test_findings_list_and_callout_follow_the_epoch(qtbot) -> None:
    lesson = load_lesson("vanishing")
    window = open_lesson(qtbot, dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=1)))
    try:
        window.controller.render_now()
        texts = [window.findings.item(i).text() for i in range(window.findings.count())]
        assert any("Sigmoid + Glorot: layer 1's gradient is 10⁻" in text for text in texts)
        assert window.tabs.currentWidget().name == "gradients"
        assert window.callout.isVisibleTo(window) and "vanishing gradient" in window.callout.text()
        window.tabs.setCurrentWidget(next(p for p in window.panels if p.name == "race"))
        assert not window.callout.isVisibleTo(window)  # the race panel has nothing to call out here
        window.lanes.set_checked(0, False)  # hiding the sigmoid lane hides its findings
        texts = [window.findings.item(i).text() for i in range(window.findings.count())]
        assert texts == ["Nothing unusual at this epoch."]
    finally:
        close(window)


@pytest.mark.usefixtures("tensorflow")
def test_findings_keep_up_a_few_times_a_second_and_end_on_the_last_epoch(qtbot, monkeypatch) -> None:
    import itertools
    import time

    import gradviz.ui.main_window as main_window

    diagnosed: list[tuple[float, int]] = []
    real = main_window.diagnose

    def counting(history, epoch):
        diagnosed.append((time.monotonic(), epoch))
        return real(history, epoch)

    monkeypatch.setattr(main_window, "diagnose", counting)
    lesson = load_lesson("race")
    window = open_lesson(qtbot, dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=400)))
    try:
        window.controller.set_pace(None)
        diagnosed.clear()
        window.controller.play()
        qtbot.waitUntil(lambda: window.controller.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
        qtbot.waitUntil(lambda: diagnosed and diagnosed[-1][1] == 400, timeout=5_000)
        # While training, a few a second; once finished, the last epoch at once.
        times = [t for t, _ in diagnosed[:-1]]
        assert len(times) >= 2  # 400 epochs take longer than one interval
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(gap >= main_window.FINDINGS_INTERVAL_S * 0.9 for gap in gaps), gaps
    finally:
        close(window)


@pytest.mark.usefixtures("tensorflow")
def test_lab_opens_on_its_matrix_and_a_cell_opens_its_lane(qtbot) -> None:
    lesson = load_lesson("lab")
    window = open_lesson(qtbot, dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=1)))
    try:
        assert window.tabs.currentWidget() is window.lab_panel
        assert not window.transport.seed_button.isVisible()  # the lab lesson hides New seed
        window.lab_panel.lane_selected.emit(7)
        assert [window.controller.lane_visible(lane) for lane in range(36)] == [lane == 7 for lane in range(36)]
        assert window.tabs.currentWidget().name == "gradients"
        # a run that is not a grid has no Lab tab
        window.set_lesson(load_lesson("race"))
        assert not window.tabs.isTabVisible(window.tabs.indexOf(window.lab_panel))
    finally:
        close(window)


@pytest.mark.usefixtures("tensorflow")
def test_surface_lesson_shows_its_panels_and_a_click_restarts_from_there(qtbot) -> None:
    lesson = load_lesson("surface-ravine")
    window = open_lesson(qtbot, dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=3)))
    try:
        visible = {panel.name for panel in window.panels
                   if window.tabs.isTabVisible(window.tabs.indexOf(panel))}
        assert visible == {"race", "surface"}
        assert window.tabs.currentWidget() is window.surface_panel
        with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
            window.surface_panel.start_selected.emit((1.0, 0.5))
        history = window.controller.history
        assert history.layout.spec.problem.start == (1.0, 0.5)
        assert history.positions[:, 0].tolist() == [[1.0, 0.5]] * len(lesson.spec.lanes)
        window.set_lesson(load_lesson("race"))  # a network run hides the surface tab again
        assert not window.tabs.isTabVisible(window.tabs.indexOf(window.surface_panel))
    finally:
        close(window)
