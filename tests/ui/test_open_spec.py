"""File ▸ Open spec: a spec file becomes the lesson to play; a bad one is refused and nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtGui import QKeySequence

from gradviz.engine.errors import SpecError
from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec
from gradviz.ui.main_window import MainWindow
from tests.engine.spec_strategies import mutated_spec_dicts, valid_spec_dicts


@pytest.fixture
def window(qtbot) -> MainWindow:
    # TensorFlow is never started: opening a spec only sets the run to play.
    shown = MainWindow(load_lesson("race"))
    qtbot.addWidget(shown)
    shown.show()
    return shown


def race_json(**changes: Any) -> dict[str, Any]:
    data = load_lesson("race").spec.to_json()
    data.update(changes)
    return data


def test_a_spec_file_becomes_the_lesson_to_play(window: MainWindow, tmp_path: Path) -> None:
    path = tmp_path / "race.json"  # named like a shipped lesson, which it must not replace
    path.write_text(json.dumps(race_json(epochs=7, seed=5)))
    lesson = window.sessions.open_spec(path)
    assert lesson is not None and window.lesson is lesson
    assert window.controller.spec == RunSpec.from_json(race_json(epochs=7, seed=5))
    assert window.lesson_picker.currentText() == "Spec: race.json"
    race = window.lesson_picker.findData("race")
    assert race >= 0 and race != window.lesson_picker.currentIndex()  # the race lesson is still there
    race_count = window.lesson_picker.count()
    # Edited and opened again, the file's new version is the one the lesson list goes back to.
    path.write_text(json.dumps(race_json(epochs=9)))
    window.sessions.open_spec(path)
    window.lesson_picker.setCurrentIndex(race)
    assert window.controller.spec == load_lesson("race").spec  # the shipped race lesson, untouched
    window.lesson_picker.setCurrentIndex(window.lesson_picker.findData(lesson.name))
    assert window.controller.spec == RunSpec.from_json(race_json(epochs=9))
    assert window.lesson_picker.count() == race_count
    assert window.sessions.open_spec_action.shortcut() == QKeySequence("Ctrl+Shift+O")
    assert window.sessions.open_spec_action in window.file_menu.actions()


@pytest.mark.parametrize(("content", "expected"), [
    (b"{ not json", "is not valid JSON"),
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (json.dumps(race_json(epochs=-3)).encode(), "epochs"),
    (json.dumps({"lanes": []}).encode(), "dataset: is missing"),
    (None, "does not exist"),
])
def test_a_bad_spec_file_is_refused_in_one_line_and_nothing_changes(
    window: MainWindow, tmp_path: Path, content: bytes | None, expected: str,
) -> None:
    before_lesson, before_spec = window.lesson, window.controller.spec
    items = window.lesson_picker.count()
    path = tmp_path / "mine.json"
    if content is not None:
        path.write_bytes(content)
    assert window.sessions.open_spec(path) is None
    message = window.sessions.last_error
    assert expected in message and "\n" not in message
    assert window.banner.text == message
    assert window.lesson is before_lesson and window.controller.spec == before_spec
    assert window.lesson_picker.count() == items


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(valid_spec_dicts(), mutated_spec_dicts()))
def test_generated_specs_either_open_or_are_refused_with_a_message(
    window: MainWindow, tmp_path: Path, data: Any,
) -> None:
    path = tmp_path / "generated.json"
    path.write_text(json.dumps(data, allow_nan=True))
    try:
        expected = RunSpec.from_json(json.loads(path.read_text()), base_dir=tmp_path)
    except SpecError as exc:
        expected, reason = None, str(exc)
    before_lesson = window.lesson
    opened = window.sessions.open_spec(path)
    if expected is None:
        assert opened is None and window.lesson is before_lesson
        assert window.sessions.last_error.endswith(reason) and "\n" not in window.sessions.last_error
    else:
        assert opened is not None and window.controller.spec == expected
