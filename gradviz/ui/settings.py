"""What the window remembers between launches: theme, font size, layout, last lesson.

Stored with :class:`QSettings` in an INI file in the user's configuration
folder (``~/.config/gradviz/gradviz.ini`` on Linux), or in the file the
``GRADVIZ_SETTINGS`` environment variable names (a portable copy, tests).  Every value read back is
checked: a missing, corrupt or odd one (a theme named ``"purple"``, a font
scale of ``-3`` or ``"abc"``) silently becomes the default, so a damaged file
can never stop the window from opening.

Presentation mode is deliberately not remembered: the window always opens in
the normal layout unless ``gradviz --presentation`` asks otherwise.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = [
    "DEFAULT_FONT_SCALE",
    "FONT_SCALE_STOPS",
    "MAX_FONT_SCALE",
    "MIN_FONT_SCALE",
    "THEMES",
    "Preferences",
    "SettingsStore",
    "next_font_scale",
    "remembered_lesson",
    "restore_window_layout",
    "window_preferences",
]

THEMES: tuple[str, ...] = ("light", "dark")
DEFAULT_FONT_SCALE = 1.0
MIN_FONT_SCALE = 0.75
MAX_FONT_SCALE = 3.0
#: Where View ▸ Larger / Smaller text step to.
FONT_SCALE_STOPS: tuple[float, ...] = (0.75, 0.85, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0)

_KEYS = {
    "theme": "appearance/theme",
    "font_scale": "appearance/font_scale",
    "last_lesson": "lesson/last",
    "geometry": "window/geometry",
    "window_state": "window/state",
    "side_width": "window/side_width",
}


@dataclass(frozen=True, slots=True)
class Preferences:
    """The remembered settings, already checked.

    Attributes
    ----------
    theme
        ``"light"`` or ``"dark"``.
    font_scale
        The learner's text size, 1.0 = normal, within
        [:data:`MIN_FONT_SCALE`, :data:`MAX_FONT_SCALE`].
    last_lesson
        Name of the shipped lesson open when the window last closed, or ``None``.
    geometry, window_state
        Opaque blobs from ``QMainWindow.saveGeometry`` and ``QMainWindow.saveState``
        (``None``: keep the window's defaults).
    side_width
        Width in pixels of the side pane (the splitter's first size), or ``None``.
    """

    theme: str = "light"
    font_scale: float = DEFAULT_FONT_SCALE
    last_lesson: str | None = None
    geometry: bytes | None = None
    window_state: bytes | None = None
    side_width: int | None = None


def next_font_scale(current: float, step: int) -> float:
    """The font-scale stop after (``step`` = +1) or before (-1) ``current``, within the limits."""
    if step > 0:
        return next((s for s in FONT_SCALE_STOPS if s > current + 1e-6), FONT_SCALE_STOPS[-1])
    if step < 0:
        return next((s for s in reversed(FONT_SCALE_STOPS) if s < current - 1e-6), FONT_SCALE_STOPS[0])
    return DEFAULT_FONT_SCALE


class SettingsStore:
    """Reads and writes :class:`Preferences`.

    Parameters
    ----------
    path
        An INI file to use instead of the user's (tests, a portable copy);
        if ``None``, ``$GRADVIZ_SETTINGS`` or else the user's.
    writable
        ``False`` for scripted runs (``--screenshot``, ``--quit-when-done``):
        they read the learner's settings but never change them.
    """

    def __init__(self, path: str | Path | None = None, *, writable: bool = True) -> None:
        if path is None:
            path = os.environ.get("GRADVIZ_SETTINGS") or None
        if path is None:
            # INI everywhere (not the Windows registry): one format to reason about and test.
            self._qsettings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "gradviz", "gradviz")
        else:
            self._qsettings = QSettings(str(path), QSettings.Format.IniFormat)
        self.writable = writable

    @property
    def path(self) -> str:
        """The file the settings live in."""
        return self._qsettings.fileName()

    def load(self) -> Preferences:
        """The stored preferences; defaults for anything missing or unusable."""
        s = self._qsettings
        s.sync()
        theme = s.value(_KEYS["theme"])
        lesson = s.value(_KEYS["last_lesson"])
        return Preferences(
            theme=theme if isinstance(theme, str) and theme in THEMES else "light",
            font_scale=_font_scale(s.value(_KEYS["font_scale"])),
            last_lesson=lesson if isinstance(lesson, str) and lesson.strip() else None,
            geometry=_blob(s.value(_KEYS["geometry"])),
            window_state=_blob(s.value(_KEYS["window_state"])),
            side_width=_side_width(s.value(_KEYS["side_width"])),
        )

    def save(self, prefs: Preferences) -> None:
        """Write ``prefs`` (nothing when not :attr:`writable`); ``None`` fields keep the stored value."""
        if not self.writable:
            return
        s = self._qsettings
        s.setValue(_KEYS["theme"], prefs.theme)
        s.setValue(_KEYS["font_scale"], float(prefs.font_scale))
        for field in ("last_lesson", "geometry", "window_state", "side_width"):
            value = getattr(prefs, field)
            if value is not None:
                s.setValue(_KEYS[field], QByteArray(value) if isinstance(value, bytes) else value)
        s.sync()


def _font_scale(value: object) -> float:
    if isinstance(value, bool):
        return DEFAULT_FONT_SCALE
    try:
        scale = float(value)  # INI values come back as text
    except (TypeError, ValueError):
        return DEFAULT_FONT_SCALE
    if not math.isfinite(scale) or not MIN_FONT_SCALE <= scale <= MAX_FONT_SCALE:
        return DEFAULT_FONT_SCALE
    return scale


def _side_width(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        width = int(str(value))
    except ValueError:
        return None
    return width if 100 <= width <= 10_000 else None


def _blob(value: object) -> bytes | None:
    if isinstance(value, QByteArray):
        data = value.data()
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    else:
        return None
    return data or None


def remembered_lesson(prefs: Preferences, shipped_lessons: tuple[str, ...] | list[str]) -> str:
    """The lesson to open when none is named: the remembered one if it still ships, else ``race``."""
    if prefs.last_lesson is not None and prefs.last_lesson in shipped_lessons:
        return prefs.last_lesson
    return "race"


def restore_window_layout(window: MainWindow, prefs: Preferences) -> None:
    """Put back the remembered geometry, window state and side-pane width (bad blobs are ignored)."""
    if prefs.geometry is not None:
        window.restoreGeometry(QByteArray(prefs.geometry))
    if prefs.window_state is not None:
        window.restoreState(QByteArray(prefs.window_state))
    if prefs.side_width is not None:
        window.side_width = prefs.side_width
        window.splitter.setSizes([prefs.side_width, max(1, window.splitter.width() - prefs.side_width)])


def window_preferences(window: MainWindow, shipped_lessons: tuple[str, ...]) -> Preferences:
    """What to remember of ``window``: its normal layout even while presenting."""
    layout = window.presentation.normal_layout()
    lesson = window.lesson
    return Preferences(
        theme=window.appearance.theme.name,
        font_scale=window.appearance.font_scale,
        last_lesson=lesson.name if lesson is not None and lesson.name in shipped_lessons else None,
        geometry=layout.geometry,
        window_state=layout.window_state,
        side_width=window.side_width,
    )
