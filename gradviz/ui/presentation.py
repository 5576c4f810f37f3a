"""Presentation mode: the current panel and the transport bar, full screen, readable from the back row.

F5 (or Ctrl+P) enters it; Esc or F5 leaves it and puts the window back
exactly as it was: window state and geometry, splitter sizes, which panes
were shown, and whether all panels were stacked.

Text is sized from the screen, not in fixed points: what matters in a lecture
hall is how tall a letter is compared with the projected image, which is the
same whether the projector shows 1024×768 or 4K.  Tick labels get about
1/:data:`TICK_LINES_PER_SCREEN` of the screen height.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRect, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence, QScreen
from PySide6.QtWidgets import QMenu, QWidget

from gradviz.ui.theme import LIGHT

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = ["TICK_LINES_PER_SCREEN", "PresentationMode", "WindowLayout", "presentation_scale"]

#: Tick labels are 1/this of the screen height in presentation mode.
TICK_LINES_PER_SCREEN = 40
#: Never smaller than this factor over normal text, even on a small screen.
MIN_PRESENTATION_SCALE = 1.25
#: Lines and markers are at least this much thicker than normal.
MIN_LINE_SCALE = 1.75


def presentation_scale(screen_height_px: float, dpi: float) -> float:
    """The font factor over normal size that makes tick labels 1/40 of ``screen_height_px``.

    ``screen_height_px`` is in device-independent pixels and ``dpi`` the
    screen's logical dots per inch (96 on most systems): 1.52 at 768 pixels,
    2.13 at 1080, 4.26 at 2160 (a 4K screen at 100 % scaling).
    """
    tick_pt = LIGHT.point_size(1.0, -0.5)  # the panels' tick font at scale 1
    tick_px = tick_pt * max(dpi, 1.0) / 72.0
    return max(MIN_PRESENTATION_SCALE, screen_height_px / (TICK_LINES_PER_SCREEN * tick_px))


def line_scale_for(font_scale: float) -> float:
    """How much thicker lines and markers get for a presentation font factor."""
    return max(MIN_LINE_SCALE, font_scale)


@dataclass(frozen=True, slots=True)
class WindowLayout:
    """The normal layout, as presentation mode found it (and the settings remember).

    Attributes
    ----------
    geometry, window_state
        ``QMainWindow.saveGeometry()`` and ``saveState()``.
    rect
        The window's geometry, put back as it was (``restoreGeometry`` would
        fit it to the screen, and move it by the frame on some platforms).
    splitter
        ``QSplitter.saveState()`` of the side pane / panels divider.
    states
        The window's ``Qt.WindowState`` flags (maximized, full screen ...).
    shown
        Which of the hidden widgets were visible, in the order presentation mode hides them.
    all_panels
        Whether every panel was stacked instead of one per tab.
    """

    geometry: bytes
    window_state: bytes
    rect: QRect
    splitter: bytes
    states: Qt.WindowState
    shown: tuple[bool, ...]
    all_panels: bool


class PresentationMode(QObject):
    """Enters and leaves presentation mode for one :class:`MainWindow`.

    Signals
    -------
    toggled(bool)
        True on entering presentation mode, False on leaving it.
    """

    toggled = Signal(bool)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._saved: WindowLayout | None = None
        self.action = QAction("&Presentation mode", window)
        self.action.setCheckable(True)
        self.action.setShortcuts([QKeySequence(Qt.Key.Key_F5), QKeySequence("Ctrl+P")])
        self.action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.action.setToolTip("Full screen, large text, only the panel and the transport bar (F5; Esc leaves)")
        self.action.triggered.connect(self._on_action_trigger)
        self._leave_action = QAction("Leave presentation mode", window)
        self._leave_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self._leave_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._leave_action.setEnabled(False)  # Esc means nothing else to the window
        self._leave_action.triggered.connect(self.leave)
        # On the window itself, not only in the menu: the menu bar is hidden while presenting.
        window.addAction(self.action)
        window.addAction(self._leave_action)

    @property
    def active(self) -> bool:
        return self._saved is not None

    def add_menu_actions(self, menu: QMenu) -> None:
        menu.addAction(self.action)

    def toggle(self) -> None:
        self.set_active(not self.active)

    def enter(self) -> None:
        self.set_active(True)

    def leave(self) -> None:
        self.set_active(False)

    def set_active(self, on: bool) -> None:
        if on == self.active:
            return
        if on:
            self._enter()
        else:
            self._leave()
        self.action.setChecked(on)
        self._leave_action.setEnabled(on)
        self.toggled.emit(on)

    def normal_layout(self) -> WindowLayout:
        """The layout to remember: as it was before presenting, or as it is now."""
        return self._saved if self._saved is not None else self._snapshot()

    # internals -------------------------------------------------------------

    def _hidden_widgets(self) -> tuple[QWidget, ...]:
        w = self._window
        return (w.side_pane, w.menuBar(), w.statusBar(), w.tabs.tabBar())

    def _snapshot(self) -> WindowLayout:
        w = self._window
        return WindowLayout(
            geometry=w.saveGeometry().data(),
            window_state=w.saveState().data(),
            rect=QRect(w.geometry()),
            splitter=w.splitter.saveState().data(),
            states=w.windowState(),
            shown=tuple(not widget.isHidden() for widget in self._hidden_widgets()),
            all_panels=w.all_panels_visible,
        )

    def _enter(self) -> None:
        w = self._window
        self._saved = self._snapshot()
        if self._saved.all_panels:
            w.set_all_panels_visible(False)  # one panel, the lesson's, fills the screen
        for widget in self._hidden_widgets():
            widget.hide()
        # Sizes first: laying out at new sizes can resize the window, which would end full screen.
        self._rescale(w.screen())
        w.setWindowState(w.windowState() | Qt.WindowState.WindowFullScreen)
        handle = w.windowHandle()
        if handle is not None:
            handle.screenChanged.connect(self._rescale)  # moved to the projector while presenting

    def _leave(self) -> None:
        w = self._window
        saved = self._saved
        assert saved is not None
        self._saved = None
        handle = w.windowHandle()
        if handle is not None:
            handle.screenChanged.disconnect(self._rescale)
        w.appearance.set_presentation_scale(1.0, 1.0)
        for widget, shown in zip(self._hidden_widgets(), saved.shown):
            widget.setVisible(shown)
        # Lay out at normal text size now: the window's minimum size still
        # holds the presentation fonts' and would clamp the restored geometry.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        w.setWindowState(saved.states)
        if not saved.states & (Qt.WindowState.WindowMaximized | Qt.WindowState.WindowFullScreen):
            w.setGeometry(saved.rect)
        w.restoreState(saved.window_state)
        w.splitter.restoreState(saved.splitter)
        if saved.all_panels:
            w.set_all_panels_visible(True)

    @Slot(QScreen)
    def _rescale(self, screen: QScreen | None) -> None:
        if screen is None or not self.active:
            return
        factor = presentation_scale(screen.geometry().height(), screen.logicalDotsPerInchY())
        width = screen.geometry().width() - 16  # the transport bar's margins
        self._window.appearance.set_presentation_scale(factor, line_scale_for(factor), width)

    @Slot()
    def _on_action_trigger(self) -> None:
        # The checkable action flips its own check state first; the mode decides.
        self.set_active(not self.active)
