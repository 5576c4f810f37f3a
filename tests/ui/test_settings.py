"""Settings: what the window remembers between launches, and how it survives a damaged file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from gradviz.ui.main_window import MainWindow
from gradviz.ui.settings import (
    DEFAULT_FONT_SCALE,
    FONT_SCALE_STOPS,
    Preferences,
    SettingsStore,
    next_font_scale,
    remembered_lesson,
)
from gradviz.ui.theme import DARK, LIGHT


def open_window(qtbot, store: SettingsStore, lesson=None) -> MainWindow:
    window = MainWindow(lesson, settings=store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_a_fresh_store_gives_the_defaults(settings_file) -> None:
    assert settings_file().load() == Preferences()


def test_preferences_round_trip_through_the_file(settings_file) -> None:
    prefs = Preferences(theme="dark", font_scale=1.5, last_lesson="vanishing", geometry=b"\x01\x02",
                        window_state=b"\x03", side_width=320)
    settings_file().save(prefs)
    assert settings_file().load() == prefs


def test_a_read_only_store_writes_nothing(settings_file) -> None:
    settings_file(writable=False).save(Preferences(theme="dark"))
    assert settings_file().load().theme == "light"


@pytest.mark.parametrize(("key", "value"), [
    ("appearance/theme", "purple"), ("appearance/theme", 3), ("appearance/theme", ""),
    ("appearance/font_scale", -3), ("appearance/font_scale", "abc"), ("appearance/font_scale", "nan"),
    ("appearance/font_scale", 1e9), ("appearance/font_scale", "1,5"), ("appearance/font_scale", True),
    ("window/geometry", "not bytes"), ("lesson/last", "   "), ("window/side_width", "wide"),
    ("window/side_width", -5),
])
def test_odd_values_fall_back_to_the_defaults(settings_file, key: str, value: object) -> None:
    path = settings_file().path
    raw = QSettings(path, QSettings.Format.IniFormat)
    raw.setValue(key, value)
    raw.sync()
    assert settings_file().load() == Preferences()


def test_a_corrupt_file_opens_a_normal_window(qtbot, settings_file) -> None:
    path = Path(settings_file().path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"[appearance]\ntheme=purple\nfont_scale=abc\n[window]\ngeometry=@ByteArray(\\xff\\x00garbage)\n"
                     b"splitter=@ByteArray(junk)\n[lesson]\nlast=no-such-lesson\n\x00\xff\xfe garbage")
    window = open_window(qtbot, settings_file())
    assert window.appearance.theme is LIGHT
    assert window.appearance.font_scale == DEFAULT_FONT_SCALE
    assert window.lesson.name == "race"
    assert window.side_pane.isVisible()


def test_font_scale_steps_stay_within_the_stops() -> None:
    assert next_font_scale(1.0, 1) > 1.0
    assert next_font_scale(1.0, -1) < 1.0
    assert next_font_scale(1.7, 0) == DEFAULT_FONT_SCALE
    assert next_font_scale(FONT_SCALE_STOPS[-1], 1) == FONT_SCALE_STOPS[-1]
    assert next_font_scale(FONT_SCALE_STOPS[0], -1) == FONT_SCALE_STOPS[0]


def test_remembered_lesson_must_still_ship() -> None:
    assert remembered_lesson(Preferences(last_lesson="vanishing"), ["race", "vanishing"]) == "vanishing"
    assert remembered_lesson(Preferences(last_lesson="gone"), ["race", "vanishing"]) == "race"
    assert remembered_lesson(Preferences(), ["race"]) == "race"


def test_settings_round_trip_across_two_windows(qtbot, settings_file) -> None:
    from gradviz.engine.lessons import load_lesson

    first = open_window(qtbot, settings_file(), load_lesson("vanishing"))
    first.appearance.set_theme(DARK)
    first.appearance.step_font_scale(+1)
    first.appearance.step_font_scale(+1)
    scale = first.appearance.font_scale
    assert scale > 1.0
    first.resize(1100, 700)
    first.splitter.setSizes([300, first.splitter.width() - 300])
    first.side_width = first.splitter.sizes()[0]
    qtbot.wait(10)
    size, side = first.size(), first.splitter.sizes()[0]
    first.presentation.enter()  # not remembered: the next window opens in the normal layout
    first.close()

    second = open_window(qtbot, settings_file())
    assert second.appearance.theme is DARK
    assert second.appearance.font_scale == pytest.approx(scale)
    assert all(panel.theme is DARK and panel.font_scale == pytest.approx(scale) for panel in second.panels)
    assert second.lesson.name == "vanishing"
    assert second.size() == size
    assert second.splitter.sizes()[0] == side
    assert not second.presentation.active
    assert second.side_pane.isVisible() and second.menuBar().isVisible()
    assert not second.isFullScreen()
    second.close()


def test_the_test_suite_never_writes_the_users_settings() -> None:
    # The autouse fixture points every store at a private file.
    assert os.environ["GRADVIZ_SETTINGS"] == SettingsStore().path
    assert not SettingsStore().path.startswith(str(Path.home() / ".config"))
