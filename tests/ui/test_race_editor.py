"""The race editor: lanes added and removed, values refused with a reason, live edits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from gradviz.engine.lessons import load_lesson
from gradviz.ui.controller import RunState
from gradviz.ui.race_editor import RaceEditor
from tests.ui.test_controller import RUN_TIMEOUT_MS
from tests.ui.test_window_lessons import close, open_lesson

pytestmark = pytest.mark.usefixtures("tensorflow")


def race_window(qtbot):
    lesson = load_lesson("race")
    return open_lesson(qtbot, dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=3)))


def type_into(qtbot, box, text: str) -> None:
    box.selectAll()
    qtbot.keyClicks(box, text)


def test_adding_an_adam_lane_gives_a_run_that_shares_initial_weights(qtbot) -> None:
    window = race_window(qtbot)
    try:
        n = len(window.lesson.spec.lanes)
        editor = window.open_race_editor()
        assert isinstance(editor, RaceEditor)
        editor.add_choice.setCurrentIndex(editor.add_choice.findData("adam"))
        qtbot.mouseClick(editor.add_button, Qt.MouseButton.LeftButton)
        assert editor.lane_list.count() == n + 1
        assert editor.lane_list.item(n).text() == "Adam 2"  # the race already has an "Adam"
        with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
            qtbot.mouseClick(editor.ok_button, Qt.MouseButton.LeftButton)
        spec = window.lesson.spec
        assert len(spec.lanes) == n + 1 and spec.lanes[-1].optimizer.name == "adam"
        assert spec.lanes[-1].model == spec.lanes[0].model
        assert window.lanes.lane_count() == n + 1
        qtbot.waitUntil(lambda: len(window.controller.history) >= 1, timeout=RUN_TIMEOUT_MS)
        full = window.controller.history.full_loss  # (lanes, epochs)
        assert full.shape[0] == n + 1
        assert full[-1, 0] == full[0, 0]  # bit-identical start
    finally:
        close(window)


def test_removing_the_last_lane_is_refused(qtbot) -> None:
    window = race_window(qtbot)
    try:
        editor = window.open_race_editor()
        while editor.lane_list.count() > 1:
            assert editor.remove_lane(0)
        qtbot.mouseClick(editor.remove_button, Qt.MouseButton.LeftButton)
        assert editor.lane_list.count() == 1
        assert "at least one lane" in editor.message.text()
        assert editor.spec is not None and len(editor.spec.lanes) == 1
    finally:
        close(window)


@pytest.mark.parametrize(("typed", "reason"), [("0", "not 0"), ("50", "between 1e-05 and 10")])
def test_a_learning_rate_out_of_range_is_refused_with_a_reason(qtbot, typed: str, reason: str) -> None:
    window = race_window(qtbot)
    try:
        editor = window.open_race_editor()
        row = editor.rows["learning_rate"]
        type_into(qtbot, row.box, typed)
        assert reason in row.error.text()
        assert not editor.ok_button.isEnabled()
        assert not editor.apply_now_button.isEnabled()
        type_into(qtbot, row.box, "0.05")  # a good value clears the refusal
        assert row.error.text() == "" and editor.ok_button.isEnabled()
        assert editor.spec.lanes[0].optimizer.get("learning_rate") == 0.05
    finally:
        close(window)


def test_the_log_slider_spans_1e_5_to_10(qtbot) -> None:
    window = race_window(qtbot)
    try:
        editor = window.open_race_editor()
        row = editor.rows["learning_rate"]
        row.slider.setValue(row.slider.maximum())
        assert float(row.box.text()) == 10.0
        row.slider.setValue(row.slider.minimum())
        assert float(row.box.text()) == pytest.approx(1e-5)
        row.slider.setValue(row.slider.maximum() // 2)  # geometric middle
        assert float(row.box.text()) == pytest.approx(10 ** -2, rel=0.02)
    finally:
        close(window)


def test_a_bad_csv_file_shows_the_error_and_changes_nothing(qtbot, tmp_path, monkeypatch) -> None:
    window = race_window(qtbot)
    try:
        before = window.lesson.spec
        bad = tmp_path / "bad.csv"
        bad.write_text("1,2\n3,4\n")
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(bad), "")))
        editor = window.open_race_editor()
        editor.dataset.setCurrentIndex(editor.dataset.findData("csv"))
        assert "no header row" in editor.message.text()
        assert editor.spec == before
        assert editor.dataset.currentData() == "cubic"
        editor.accept()
        assert window.lesson.spec == before
    finally:
        close(window)


def test_model_and_csv_edits_reach_every_lane(qtbot, tmp_path) -> None:
    window = race_window(qtbot)
    try:
        good = tmp_path / "good.csv"
        good.write_text("a,b,y\n" + "".join(f"{i},{i * 2},{i * 3}\n" for i in range(10)))
        editor = window.open_race_editor()
        editor.depth.setValue(3)
        editor.width.setValue(16)
        editor.activation.setCurrentText("relu")
        editor.initializer.setCurrentText("he_normal")
        assert editor.set_csv_path(str(good))
        spec = editor.spec
        models = {lane.model for lane in spec.lanes}
        assert len(models) == 1
        (model,) = models
        assert model.input_dim == 2 and model.depth == 4
        assert [(layer.units, layer.activation, layer.initializer.name) for layer in model.layers[:-1]] == [
            (16, "relu", "he_normal")
        ] * 3
        assert (model.layers[-1].units, model.layers[-1].activation) == (1, "linear")
        assert spec.dataset.name == "csv"
    finally:
        close(window)


def test_cancel_changes_nothing(qtbot) -> None:
    window = race_window(qtbot)
    try:
        before = window.lesson.spec
        editor = window.open_race_editor()
        editor.add_lane("sgd")
        editor.reject()
        assert window.lesson.spec == before
    finally:
        close(window)


def test_apply_now_sends_a_live_edit_to_the_paused_run(qtbot) -> None:
    window = race_window(qtbot)
    try:
        assert window.controller.state is RunState.PAUSED  # reset holds at epoch 0
        run_id = window.controller.control.run_id
        editor = window.open_race_editor()
        assert not editor.apply_now_button.isEnabled()  # nothing changed yet
        type_into(qtbot, editor.rows["learning_rate"].box, "0.2")
        assert editor.apply_now_button.isEnabled()
        qtbot.mouseClick(editor.apply_now_button, Qt.MouseButton.LeftButton)
        assert "applies from the next epoch" in editor.live_note.text()
        assert not editor.apply_now_button.isEnabled()  # sent once
        with qtbot.waitSignal(window.controller.epoch_recorded, timeout=RUN_TIMEOUT_MS):
            window.controller.step()
        history = window.controller.history
        assert [(e.epoch, e.lane, e.name, e.value) for e in history.edits] == [(1, 0, "learning_rate", 0.2)]
        editor.accept()  # OK after a live edit does not restart the run
        assert window.controller.control is not None and window.controller.control.run_id == run_id
        assert np.isfinite(history.full_loss[0, 1])
    finally:
        close(window)


def test_ctrl_e_opens_the_editor_unless_the_lesson_locks_the_lanes(qtbot) -> None:
    window = race_window(qtbot)
    try:
        assert window.edit_lanes_button.isVisible()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        assert window._race_editor is not None and window._race_editor.isVisible()
        window._race_editor.reject()
        lesson = dataclasses.replace(window.lesson, locked_controls=("lanes",))
        window.set_lesson(lesson)
        assert not window.edit_lanes_button.isVisible()
        assert window.open_race_editor() is None
    finally:
        close(window)
