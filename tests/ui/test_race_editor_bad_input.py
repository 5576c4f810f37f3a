"""Whatever is typed into the race editor, a bad value is refused next to its field and the run is kept."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt

from gradviz.engine.lessons import load_lesson
from gradviz.ui.main_window import MainWindow
from gradviz.ui.race_editor import RaceEditor
from gradviz.ui.tf_loader import TensorFlowLoader


@pytest.fixture
def editor(qtbot):
    # No TensorFlow needed: the editor checks values with the spec's own rules.
    lesson = load_lesson("race")
    window = MainWindow(dataclasses.replace(lesson, spec=lesson.spec.replace(epochs=3)), loader=TensorFlowLoader())
    qtbot.addWidget(window)
    window.show()
    dialog = window.open_race_editor()
    assert isinstance(dialog, RaceEditor)
    yield window, dialog
    dialog.reject()
    window.close()


def type_into(qtbot, box, text: str) -> None:
    box.selectAll()
    if text:
        qtbot.keyClicks(box, text)
    else:
        qtbot.keyClick(box, Qt.Key.Key_Delete)


@pytest.mark.parametrize(("field", "typed", "says"), [
    ("learning_rate", "nan", "must be a finite number, not nan"),
    ("learning_rate", "inf", "finite"),
    ("learning_rate", "-inf", "finite"),
    ("learning_rate", "-1", "not -1"),
    ("learning_rate", "1e9", "must be in (0, 1e+06]"),
    ("learning_rate", "1e-300", "between 1e-05 and 10"),
    ("learning_rate", "abc", "must be a number, not 'abc'"),
    ("learning_rate", "", "must be a number, not ''"),
    ("learning_rate", "0,01", "must be a number, not '0,01'"),
    ("momentum", "1.5", "must be in [0, 1), not 1.5"),
    ("momentum", "-0.1", "not -0.1"),
])
def test_a_bad_hyperparameter_is_refused_and_ok_stays_off(qtbot, editor, field: str, typed: str, says: str) -> None:
    window, dialog = editor
    before = window.lesson.spec
    assert dialog.lane_list.currentRow() == 0 and field in dialog.rows  # lane 0 of the race is SGD
    row = dialog.rows[field]
    type_into(qtbot, row.box, typed)
    assert says in row.error.text()
    assert not dialog.ok_button.isEnabled() and not dialog.apply_now_button.isEnabled()
    dialog.accept()  # Enter on a refused form does nothing
    assert window.lesson.spec == before
    type_into(qtbot, row.box, "0.05")
    assert row.error.text() == "" and dialog.ok_button.isEnabled()


@pytest.mark.parametrize(("name", "says"), [("", "not an empty string"), ("   ", "not only spaces")])
def test_an_empty_lane_name_is_refused(qtbot, editor, name: str, says: str) -> None:
    _, dialog = editor
    type_into(qtbot, dialog.name_box, name)
    assert says in dialog.name_error.text()
    assert not dialog.ok_button.isEnabled()


def test_a_duplicate_lane_name_is_refused_and_the_run_is_kept(qtbot, editor) -> None:
    window, dialog = editor
    before = window.lesson.spec
    taken = before.lanes[1].name
    type_into(qtbot, dialog.name_box, taken)
    # The later of the two lanes is the one named in the message.
    assert dialog.message.text() == f"lanes[1].name: {taken!r} is already the name of lanes[0]"
    assert not dialog.ok_button.isEnabled()
    dialog.accept()
    assert window.lesson.spec == before
