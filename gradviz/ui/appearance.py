"""Appearance: the theme and text size of the whole window, switched at runtime.

One place decides how large text is and how thick lines are, so that the
View menu's font scale and presentation mode combine instead of fighting:
panels get ``font scale × presentation factor``, the window's own widgets
(transport bar, side pane, banner) get the same scale of the application font.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QMenu

from gradviz.ui.settings import DEFAULT_FONT_SCALE, MAX_FONT_SCALE, MIN_FONT_SCALE, next_font_scale
from gradviz.ui.theme import DARK, LIGHT, Theme

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = ["Appearance", "dark_palette"]

# The callout above the panel: what the class should look at now.
_CALLOUT_STYLES = {
    "light": "QLabel#callout { background:#FFF6D6; color:#4A3800; border:1px solid #E5C55C; padding:4px 8px; }",
    "dark": "QLabel#callout { background:#3A3212; color:#FFE8A3; border:1px solid #8C7426; padding:4px 8px; }",
}


def dark_palette() -> QPalette:
    """Window colours for the dark theme (menus, side pane, transport bar, dialogs)."""
    palette = QPalette()
    window, base, text = QColor("#2A2A2A"), QColor("#1E1E1E"), QColor("#E6E6E6")
    disabled = QColor("#7C7C7C")
    for role, color in (
        (QPalette.ColorRole.Window, window),
        (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base),
        (QPalette.ColorRole.AlternateBase, QColor("#262626")),
        (QPalette.ColorRole.ToolTipBase, QColor("#333333")),
        (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.PlaceholderText, QColor("#9A9A9A")),
        (QPalette.ColorRole.Text, text),
        (QPalette.ColorRole.Button, QColor("#363636")),
        (QPalette.ColorRole.ButtonText, text),
        (QPalette.ColorRole.BrightText, QColor("#FFFFFF")),
        (QPalette.ColorRole.Light, QColor("#505050")),
        (QPalette.ColorRole.Midlight, QColor("#404040")),
        (QPalette.ColorRole.Mid, QColor("#303030")),
        (QPalette.ColorRole.Dark, QColor("#191919")),
        (QPalette.ColorRole.Shadow, QColor("#000000")),
        (QPalette.ColorRole.Highlight, QColor("#2F6DA3")),
        (QPalette.ColorRole.HighlightedText, QColor("#FFFFFF")),
        (QPalette.ColorRole.Link, QColor("#56B4E9")),
        (QPalette.ColorRole.LinkVisited, QColor("#CC79A7")),
    ):
        palette.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


class Appearance(QObject):
    """Theme, font scale and presentation scaling of one :class:`MainWindow`.

    Parameters
    ----------
    window
        The window whose panels and widgets follow this appearance.
    theme, font_scale
        Where to start (usually from the remembered settings).

    Signals
    -------
    changed()
        After the theme, the font scale or the presentation scaling changed.
    """

    changed = Signal()

    def __init__(self, window: MainWindow, theme: Theme = LIGHT, font_scale: float = DEFAULT_FONT_SCALE) -> None:
        super().__init__(window)
        self._window = window
        self._theme = theme
        self._font_scale = min(MAX_FONT_SCALE, max(MIN_FONT_SCALE, float(font_scale)))
        self._presentation_font = 1.0
        self._presentation_line = 1.0
        self._chrome_width: int | None = None
        self._chrome_scale = self._font_scale
        self._base_font = QFont(QApplication.font())
        # Menus and dialogs are windows of their own: let the palette and font reach them too.
        window.setAttribute(Qt.WidgetAttribute.WA_WindowPropagation, True)
        self.theme_actions: dict[str, QAction] = {}
        self.font_actions: dict[str, QAction] = {}

    # state ---------------------------------------------------------------

    @property
    def theme(self) -> Theme:
        return self._theme

    @property
    def font_scale(self) -> float:
        """The learner's text size (1.0 = normal), without presentation mode's factor."""
        return self._font_scale

    @property
    def panel_font_scale(self) -> float:
        """The font scale the panels get: the learner's, times presentation mode's factor."""
        return self._font_scale * self._presentation_font

    @property
    def line_scale(self) -> float:
        return self._presentation_line

    @property
    def chrome_scale(self) -> float:
        """The font scale of the window's own widgets: the panels' unless the transport bar would not fit.

        On a 1024-pixel projector that can be a little below normal: the
        transport bar is for the instructor, the panels for the room.
        """
        return self._chrome_scale

    def set_theme(self, theme: Theme) -> None:
        self._theme = theme
        self.apply()

    def set_font_scale(self, scale: float) -> None:
        """Text size, clamped to [:data:`MIN_FONT_SCALE`, :data:`MAX_FONT_SCALE`]."""
        self._font_scale = min(MAX_FONT_SCALE, max(MIN_FONT_SCALE, float(scale)))
        self.apply()

    def step_font_scale(self, step: int) -> None:
        """+1 larger, -1 smaller, 0 back to normal."""
        self.set_font_scale(next_font_scale(self._font_scale, step))

    def set_presentation_scale(self, font: float, line: float, width: int | None = None) -> None:
        """Presentation mode's factors on top of the learner's font scale (1, 1: none).

        ``width``: the screen width the transport bar must fit in; its text
        is made smaller than the panels' when it would not.
        """
        self._presentation_font = float(font)
        self._presentation_line = float(line)
        self._chrome_width = width
        self.apply()

    # applying ------------------------------------------------------------

    def apply(self) -> None:
        """Push theme and sizes to every panel and widget of the window."""
        w, t = self._window, self._theme
        w.setPalette(dark_palette() if t.dark else QApplication.palette())
        self._scale_chrome(self.panel_font_scale)
        if self._chrome_width is not None:
            # A few steps down until the transport bar fits the screen (its buttons, pace and counter).
            while self._chrome_scale > 0.85 and self._transport_width() > self._chrome_width:
                self._scale_chrome(max(0.85, self._chrome_scale * 0.92))
        # A style sheet stops a label following its parent's font: the size goes in the sheet.
        size = w.font().pointSizeF()
        w.callout.setStyleSheet(_CALLOUT_STYLES[t.name].replace(" }", f" font-size:{size:.1f}pt; }}"))
        w.banner.set_look(t.dark, size)
        for panel in w.panels:
            panel.set_appearance(theme=t, font_scale=self.panel_font_scale, line_scale=self.line_scale)
        for name, action in self.theme_actions.items():
            action.setChecked(name == t.name)
        w.controller.request_render()
        self.changed.emit()

    def _transport_width(self) -> int:
        # Lay out first: the minimum size is cached until the posted layout requests run.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        return self._window.transport.minimumSizeHint().width()

    def _scale_chrome(self, scale: float) -> None:
        self._chrome_scale = scale
        font = QFont(self._base_font)
        font.setPointSizeF(self._base_font.pointSizeF() * scale)
        self._window.setFont(font)
        self._window.transport.set_font_scale(scale)

    def add_menu_actions(self, menu: QMenu) -> None:
        """View ▸ Theme (light / dark) and the text-size actions with their keys.

        The actions are added to the window too, so their keys work while
        the menu bar is hidden (presentation mode).
        """
        w = self._window
        themes = menu.addMenu("&Theme")
        group = QActionGroup(themes)
        group.setExclusive(True)
        for theme, label in ((LIGHT, "&Light"), (DARK, "&Dark (dim rooms)")):
            action = themes.addAction(label)
            action.setCheckable(True)
            action.setChecked(theme.name == self._theme.name)
            action.triggered.connect(lambda _checked=False, theme=theme: self.set_theme(theme))
            group.addAction(action)
            self.theme_actions[theme.name] = action
        for key, label, step, keys in (
            ("larger", "&Larger text", 1, [QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")]),
            ("smaller", "&Smaller text", -1, [QKeySequence.StandardKey.ZoomOut]),
            ("reset", "&Normal text size", 0, [QKeySequence("Ctrl+0")]),
        ):
            action = menu.addAction(label)
            sequences: list[QKeySequence] = []
            for k in keys:
                sequences.extend(QKeySequence.keyBindings(k) if isinstance(k, QKeySequence.StandardKey) else [k])
            action.setShortcuts(sequences)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(lambda _checked=False, step=step: self.step_font_scale(step))
            w.addAction(action)
            self.font_actions[key] = action
