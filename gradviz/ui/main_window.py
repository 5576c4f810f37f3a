"""MainWindow: lesson picker, lane list, the live panels, transport bar and status.

The window wires views to the :class:`~gradviz.ui.controller.RunController`;
it trains nothing itself and never imports TensorFlow (the
:class:`~gradviz.ui.tf_loader.TensorFlowLoader` and the worker thread do).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gradviz.engine.control import Preparation
from gradviz.engine.diagnostics import Finding, diagnose
from gradviz.engine.errors import SpecError
from gradviz.engine.history import RunHistory
from gradviz.engine.lab import lab_grid
from gradviz.engine.lessons import Lesson, lesson_names, load_lesson
from gradviz.engine.session import Session
from gradviz.engine.spec import LaneSpec, RunSpec
from gradviz.ui.appearance import Appearance
from gradviz.ui.controller import RunController, RunState
from gradviz.ui.export import install_export_actions
from gradviz.ui.lanes import LaneList, LaneVisibility
from gradviz.ui.panels import EXTRA_PANELS, PANELS, LabPanel, Panel, SurfacePanel
from gradviz.ui.preparation import preparation_message
from gradviz.ui.presentation import PresentationMode
from gradviz.ui.race_editor import RaceEditor
from gradviz.ui.sessions import SessionActions
from gradviz.ui.settings import SettingsStore, restore_window_layout, window_preferences
from gradviz.ui.tf_loader import TensorFlowLoader
from gradviz.ui.theme import theme_named
from gradviz.ui.transport import TransportBar
from gradviz.ui.watchdog import EpochWatchdog, SlowEpochBanner

__all__ = ["Banner", "MainWindow"]

# Shortest time between two diagnoses while a run trains (see _on_frame_change).
FINDINGS_INTERVAL_S = 0.25

# The panel a lesson opens on, by lesson name; others open on the first panel.
_LESSON_PANEL = {
    "race": "race", "lr-too-high": "race", "vanishing": "gradients", "exploding": "gradients",
    "dead-relus": "activations", "init": "activations", "lab": "lab",
    "surface-ravine": "surface", "surface-rosenbrock": "surface", "surface-saddle": "surface",
    "surface-beale": "surface", "surface-himmelblau": "surface",
}

# Which findings each panel calls out (the rest are in the Findings list).
_PANEL_FINDINGS = {
    "race": ("divergence", "plateau", "update_ratio"),
    "gradients": ("vanishing_gradient", "exploding_gradient", "divergence"),
    "jacobians": ("vanishing_gradient", "exploding_gradient"),
    "activations": ("saturation", "dead_units"),
    "lab": ("divergence", "vanishing_gradient", "dead_units"),
    "surface": ("divergence", "plateau"),
}

_BANNER_STYLES = {
    "info": "background:#E8F1FB; color:#0B3D6B; border:1px solid #9CC3EA;",
    "error": "background:#FDECEA; color:#7A1010; border:1px solid #E59A93;",
}
_DARK_BANNER_STYLES = {
    "info": "background:#14283D; color:#CFE5FF; border:1px solid #2F5F8F;",
    "error": "background:#3D1614; color:#FFD8D4; border:1px solid #8F3B34;",
}


class Banner(QFrame):
    """A strip above the panels for what the learner must read: loading, or an error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.kind = ""
        self._dark = False
        self._point_size = 0.0
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._close = QPushButton("Dismiss")
        self._close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self._text, 1)
        layout.addWidget(self._close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    @property
    def text(self) -> str:
        return self._text.text()

    def show_message(self, kind: str, text: str, *, dismissable: bool = True) -> None:
        self.kind = kind
        self._apply_style()
        self._text.setText(text)
        self._close.setVisible(dismissable)
        self.show()

    def clear(self) -> None:
        self.kind = ""
        self._text.clear()
        self.hide()

    def set_look(self, dark: bool, point_size: float) -> None:
        """Dark or light colours and the text size (a style sheet does not follow the window's font)."""
        self._dark = dark
        self._point_size = point_size
        if self.kind:
            self._apply_style()

    def _apply_style(self) -> None:
        style = (_DARK_BANNER_STYLES if self._dark else _BANNER_STYLES)[self.kind]
        size = f" font-size:{self._point_size:.1f}pt;" if self._point_size > 0 else ""
        self.setStyleSheet(f"#banner {{{style}}} QLabel {{border:none; background:transparent;{size}}}")


class Callout(QLabel):
    """The finding the shown panel illustrates, above it: always two lines tall.

    Its space is kept while it is hidden, so the panels below never jump
    (nor re-lay out and repaint) as findings come and go during a run.
    """

    _LINES = 2
    _FRAME = 10  # border and padding of its style sheet, top and bottom

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        policy = self.sizePolicy()
        policy.setVerticalPolicy(QSizePolicy.Policy.Fixed)
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self._LINES * self.fontMetrics().lineSpacing() + self._FRAME)

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())

    def hasHeightForWidth(self) -> bool:
        return False


class MainWindow(QMainWindow):
    """The classroom window.

    Parameters
    ----------
    lesson
        The lesson to open; the first shipped lesson if ``None``.
    loader
        Imports TensorFlow in the background; a new one if ``None``.  The
        window does not start it: call :meth:`start_tensorflow` once shown.
    settings
        Where theme, text size, layout and the last lesson are remembered;
        the user's settings if ``None``.  A ``lesson`` of ``None`` opens the
        remembered lesson.
    """

    def __init__(
        self, lesson: Lesson | None = None, *, loader: TensorFlowLoader | None = None,
        settings: SettingsStore | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("gradviz - watch neural networks learn")
        self.resize(1280, 800)
        self.settings = settings if settings is not None else SettingsStore()
        prefs = self.settings.load()
        self.side_width: int | None = None  # set when the learner drags the side pane's edge
        self._lesson: Lesson | None = None
        self._lessons: dict[str, Lesson] = {}
        self._run_error: str | None = None
        self._after_tensorflow: Callable[[], object] | None = None  # a command waiting for TensorFlow
        self._sessions_shown: dict[str, tuple[Path, Session]] = {}  # picker entries of opened sessions
        self._panel_meaningful: dict[str, bool] = {}  # by panel name: does it show anything for this run

        self.loader = loader if loader is not None else TensorFlowLoader(self)
        self.panels: list[Panel] = [cls() for cls in PANELS + EXTRA_PANELS]
        self.lab_panel = next(p for p in self.panels if isinstance(p, LabPanel))
        self.surface_panel = next(p for p in self.panels if isinstance(p, SurfacePanel))
        self.findings = QListWidget()
        self.findings.setWordWrap(True)
        self.findings.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.findings.setToolTip("What the probes show at the selected epoch, in plain words")
        self.callout = Callout()
        self.callout.setObjectName("callout")
        self.callout.setWordWrap(True)
        self.callout.setStyleSheet(
            "QLabel#callout { background:#FFF6D6; color:#4A3800; border:1px solid #E5C55C; padding:4px 8px; }"
        )
        self.callout.hide()
        self._findings_epoch = -1
        self._preparation_banner = False  # the info banner shows a run's preparation
        self._findings: list[Finding] = []
        self._findings_at = 0.0
        self._drawn_epoch = -1
        # Findings are read, not watched: at most a few a second while a run
        # trains flat out, and the last frame's epoch always gets its own.
        self._findings_timer = QTimer(self)
        self._findings_timer.setSingleShot(True)
        self._findings_timer.setInterval(round(FINDINGS_INTERVAL_S * 1000))
        self._findings_timer.timeout.connect(self._refresh_findings)
        self.controller = RunController(self.panels, parent=self)
        self.transport = TransportBar()
        self.lanes = LaneList()
        self.edit_lanes_button = QPushButton("Edit lanes…")
        self.edit_lanes_button.setToolTip("Add or remove lanes, tune their optimizers, the model and the data (Ctrl+E)")
        self._race_editor: RaceEditor | None = None
        self.banner = Banner()
        self.watchdog = EpochWatchdog(self.controller, parent=self)
        self.slow_epoch_banner = SlowEpochBanner(self.watchdog, self.controller)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for panel in self.panels:
            self.tabs.addTab(panel, panel.title)

        self.lesson_picker = QComboBox()
        self.lesson_picker.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.lesson_section = QLabel()
        self.lesson_section.setObjectName("lessonSection")
        self.lesson_section.setWordWrap(True)
        self.lesson_summary = QLabel()
        self.lesson_summary.setWordWrap(True)
        self.lesson_summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.explanation = QTextBrowser()
        self.explanation.setOpenExternalLinks(True)
        self.explanation.setFocusPolicy(Qt.FocusPolicy.NoFocus)

        self.setCentralWidget(self._build_layout())
        self._fill_lesson_picker()
        self._connect()
        self._add_shortcuts()
        self.appearance = Appearance(self, theme_named(prefs.theme), prefs.font_scale)
        self.presentation = PresentationMode(self)
        self._build_menus()
        self.appearance.apply()
        restore_window_layout(self, prefs)

        self.transport.set_pace(self.controller.pace)
        self.statusBar().showMessage("Preparing TensorFlow…")
        self.banner.show_message(
            "info", "Preparing TensorFlow… Play is enabled as soon as it is ready (a few seconds).",
            dismissable=False,
        )
        if lesson is None:
            lesson = self._lessons.get(prefs.last_lesson or "") or load_lesson(lesson_names()[0])
        self.set_lesson(lesson)

    # layout ------------------------------------------------------------------

    def _build_layout(self) -> QWidget:
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 8, 4, 8)
        side_layout.setSpacing(6)
        side_layout.addWidget(_heading("Lesson"))
        side_layout.addWidget(self.lesson_picker)
        side_layout.addWidget(self.lesson_section)
        side_layout.addWidget(self.lesson_summary)
        side_layout.addWidget(_heading("Lanes"))
        side_layout.addWidget(self.lanes)
        side_layout.addWidget(self.edit_lanes_button)
        side_layout.addWidget(_heading("About this lesson"))
        side_layout.addWidget(self.explanation, 3)
        side_layout.addWidget(_heading("Findings"))
        side_layout.addWidget(self.findings, 1)
        side.setMinimumWidth(240)
        self.side_pane = side

        centre = QWidget()
        centre_layout = QVBoxLayout(centre)
        centre_layout.setContentsMargins(4, 8, 8, 0)
        centre_layout.setSpacing(4)
        centre_layout.addWidget(self.banner)
        centre_layout.addWidget(self.slow_epoch_banner)
        centre_layout.addWidget(self.callout)
        self._all_panels = QSplitter(Qt.Orientation.Vertical)
        self._all_panels.hide()
        centre_layout.addWidget(self.tabs, 1)
        centre_layout.addWidget(self._all_panels, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(side)
        splitter.addWidget(centre)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 1020])
        splitter.setChildrenCollapsible(False)
        splitter.splitterMoved.connect(self._on_side_pane_drag)
        self._splitter = splitter

        root = QWidget()
        root_layout = QVBoxLayout(root)
        root_layout.setContentsMargins(0, 0, 0, 0)
        root_layout.setSpacing(0)
        root_layout.addWidget(splitter, 1)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        root_layout.addWidget(line)
        root_layout.addWidget(self.transport)
        return root

    def _fill_lesson_picker(self) -> None:
        for name in lesson_names():
            try:
                lesson = load_lesson(name)
            except (SpecError, KeyError, ValueError) as exc:
                self.banner.show_message("error", f"Lesson {name!r} cannot be loaded: {exc}")
                continue
            self._lessons[name] = lesson
            self.lesson_picker.addItem(lesson.title, name)

    def _connect(self) -> None:
        c, t = self.controller, self.transport
        t.play_requested.connect(self._when_ready(c.play))
        t.pause_requested.connect(c.pause)
        t.step_requested.connect(self._when_ready(c.step))
        t.stop_requested.connect(c.stop)
        t.reset_requested.connect(self._when_ready(c.reset))
        t.new_seed_requested.connect(self._when_ready(self._on_new_seed_request, replays=False))
        t.pace_changed.connect(c.set_pace)
        t.epoch_scrubbed.connect(c.show_epoch)
        c.state_changed.connect(self._on_run_state_change)
        c.history_started.connect(self._on_history_change)
        c.frame_rendered.connect(self._on_frame_change)
        c.failed.connect(self._on_run_failed)
        c.preparing.connect(self._on_preparing)
        c.message.connect(self._on_engine_message)
        self.lanes.lane_visibility_changed.connect(self._on_lane_visibility_change)
        self.edit_lanes_button.clicked.connect(self.open_race_editor)
        self.lesson_picker.currentIndexChanged.connect(self._on_lesson_picker_change)
        self.tabs.currentChanged.connect(self._on_tab_change)
        self.lab_panel.lane_selected.connect(self._on_lab_cell_select)
        self.surface_panel.start_selected.connect(self._on_surface_start_select)
        self.loader.ready.connect(self._on_tensorflow_ready)
        self.loader.failed.connect(self._on_tensorflow_failed)

    def _add_shortcuts(self) -> None:
        # (key, slot, needs TensorFlow): run keys do nothing until training is possible.
        bindings = (
            (Qt.Key.Key_Space, self._unless_locked("play", self.controller.toggle), True),
            (Qt.Key.Key_Right, self._unless_locked("step", self.controller.step), True),
            (Qt.Key.Key_R, self._unless_locked("reset", self.controller.reset), True),
            ("Ctrl+Q", self.close, False),
            ("Ctrl+E", self.open_race_editor, False),
            (Qt.Key.Key_F11, self._toggle_fullscreen, False),
        )
        self._shortcuts: list[QShortcut] = []
        for key, slot, needs_tf in bindings:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self._when_ready(slot) if needs_tf else slot)
            self._shortcuts.append(shortcut)

    def _build_menus(self) -> None:
        """The menu bar: every command is findable here; the keys after a tab are its shortcut.

        Features add their actions to ``file_menu``, ``view_menu`` and
        ``run_menu``.  Keys are bound once, by :meth:`_add_shortcuts` or by
        the feature's own action, never twice (Qt ignores an ambiguous key).
        """
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self.run_menu = bar.addMenu("&Run")
        self.view_menu = bar.addMenu("&View")

        def hint(menu: QMenu, text: str, key: str, slot: Callable[[], object]) -> QAction:
            action = menu.addAction(f"{text}\t{key}")
            action.triggered.connect(lambda _checked=False: slot())
            return action

        self.run_menu_actions = {
            "play": hint(self.run_menu, "Play / Pause", "Space",
                         self._when_ready(self._unless_locked("play", self.controller.toggle))),
            "step": hint(self.run_menu, "Train one epoch", "Right",
                         self._when_ready(self._unless_locked("step", self.controller.step))),
            "reset": hint(self.run_menu, "Reset to epoch 0", "R",
                          self._when_ready(self._unless_locked("reset", self.controller.reset))),
        }
        self.run_menu.addSeparator()
        hint(self.run_menu, "Edit lanes…", "Ctrl+E", self.open_race_editor)
        hint(self.view_menu, "Full screen", "F11", self._toggle_fullscreen)
        self.all_panels_action = self.view_menu.addAction("All panels at once")
        self.all_panels_action.setCheckable(True)
        self.all_panels_action.setToolTip("Stack every panel of the lesson instead of one per tab")
        self.all_panels_action.toggled.connect(self.set_all_panels_visible)
        self.presentation.add_menu_actions(self.view_menu)
        self.view_menu.addSeparator()
        self.appearance.add_menu_actions(self.view_menu)
        self.file_menu.addSeparator()
        self.quit_action = hint(self.file_menu, "Quit", "Ctrl+Q", self.close)
        self.export_actions = install_export_actions(self)  # Export panel/all, Record, before Quit
        self.sessions = SessionActions(self)  # Open, Save (top of File), Continue training (Run)

    def _unless_locked(self, control: str, slot: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            if not self.transport.is_locked(control):
                slot()

        return call

    def _when_ready(self, slot: Callable[[], object], replays: bool = True) -> Callable[[], None]:
        """``slot`` once TensorFlow is loaded; at once if it only moves through a shown recording (``replays``)."""

        def call() -> None:
            if replays and self.controller.replaying:
                slot()
            else:
                self.when_tensorflow_ready(slot)

        return call

    def when_tensorflow_ready(self, slot: Callable[[], object]) -> None:
        """Call ``slot`` now if TensorFlow is loaded, else once it is (starting the import if need be).

        A window showing a saved session has not imported TensorFlow; the
        first command that trains asks for it.  If the import failed, the
        banner already says why and nothing happens.
        """
        if self.tf_ready:
            slot()
        elif not self.loader.is_done:
            self._after_tensorflow = slot
            self.statusBar().showMessage("Preparing TensorFlow… this starts as soon as it is ready.")
            self.start_tensorflow()
        else:
            self.show_error(f"Training needs TensorFlow, which could not be loaded: {self.loader.error}")

    # public --------------------------------------------------------------------

    @property
    def lesson(self) -> Lesson | None:
        return self._lesson

    @property
    def tf_ready(self) -> bool:
        return self.loader.is_ready

    @property
    def error_text(self) -> str:
        """The error the banner shows, or ``""``."""
        return self.banner.text if self.banner.kind == "error" and self.banner.isVisibleTo(self) else ""

    def start_tensorflow(self) -> None:
        """Begin importing TensorFlow in the background (after the window is shown)."""
        if self.loader.is_done:
            if self.loader.is_ready:
                self._on_tensorflow_ready()
            else:
                self._on_tensorflow_failed(self.loader.error or "TensorFlow could not be loaded")
            return
        self.loader.start()

    def show_session(self, session: Session, path: Path) -> None:
        """Show an opened session: its lesson's words, and every recorded epoch, without training."""
        history = session.history
        spec = history.layout.spec.replace(epochs=history.layout.epochs)
        known = self._lessons.get(session.lesson or "")
        if known is not None:
            lesson = dataclasses.replace(known, spec=spec)
        else:
            lesson = Lesson(
                name=f"session:{path.resolve()}", title=f"Saved session: {path.name}", section="",
                summary=f"A saved run of {history.layout.n_lanes} lanes, epochs {history.first_epoch}–"
                        f"{history.last_epoch}.",
                spec=spec, explanation="",
            )
        if known is None:
            self._sessions_shown[lesson.name] = (path, session)
        self.set_lesson(lesson, history=history)
        self.setWindowTitle(f"{path.name} - gradviz")
        if not self.tf_ready:
            if self.banner.kind == "info":
                self.banner.clear()
            self.transport.set_ready(True)  # training asks for TensorFlow when it is wanted
        self.statusBar().showMessage(
            f"Opened {path.name}: epochs {history.first_epoch}–{history.last_epoch}. Play (Space) plays it back; "
            "Continue training (C) trains on from the last epoch.", 12000,
        )

    def set_lesson(self, lesson: Lesson, history: RunHistory | None = None, *, relist: bool = False) -> None:
        """Show ``lesson``: its spec becomes the run to play (the current run stops).

        With ``history``, the panels show that recorded run instead of a fresh start.
        ``relist`` makes ``lesson`` what the lesson list holds under its name
        (a spec file opened again after an edit); otherwise the list keeps the
        first lesson of that name (a lesson as shipped, not as edited).
        """
        self._lesson = lesson
        self.setWindowTitle("gradviz - watch neural networks learn")
        if relist and lesson.name in self._lessons:
            self._lessons[lesson.name] = lesson
        if lesson.name not in self._lessons:
            self._lessons[lesson.name] = lesson
            self.lesson_picker.blockSignals(True)
            self.lesson_picker.addItem(lesson.title, lesson.name)
            self.lesson_picker.blockSignals(False)
        index = self.lesson_picker.findData(lesson.name)
        if index != self.lesson_picker.currentIndex():
            self.lesson_picker.blockSignals(True)
            self.lesson_picker.setCurrentIndex(index)
            self.lesson_picker.blockSignals(False)
        self.controller.set_spec(lesson.spec)
        spec = lesson.spec
        self._show_lanes(spec)
        self.lesson_section.setText(f"<i>{lesson.section}</i>" if lesson.section else "")
        self.lesson_section.setVisible(bool(lesson.section))
        self.lesson_summary.setText(lesson.summary)
        self._apply_lesson_controls(lesson)
        self.explanation.setMarkdown(_without_title(lesson.explanation) or lesson.summary)
        self.transport.set_progress(-1, -1, spec.epochs)
        is_grid = lab_grid(spec) is not None
        is_surface = spec.problem is not None
        # Each kind of run shows the panels that mean something for it.
        shown = {"lab": is_grid, "surface": is_surface, "gradients": not is_surface,
                 "activations": not is_surface, "jacobians": not is_surface}
        self._panel_meaningful = {panel.name: shown.get(panel.name, True) for panel in self.panels}
        for panel in self.panels:
            index = self.tabs.indexOf(panel)
            if index >= 0:
                self.tabs.setTabVisible(index, self._panel_meaningful[panel.name])
            else:  # stacked: every panel that means something for this run is on screen
                panel.setVisible(self._panel_meaningful[panel.name])
        default = "surface" if is_surface else "lab" if is_grid else "race"
        wanted = _LESSON_PANEL.get(lesson.name, default)
        for panel in self.panels:
            if panel.name == wanted and self.tabs.indexOf(panel) >= 0:
                self.tabs.setCurrentIndex(self.tabs.indexOf(panel))
        self._show_findings([])
        if self._error_is_run_error():
            self.banner.clear()
        if history is not None:
            self.controller.show_history(history)
        elif self.tf_ready:
            self.controller.reset()  # show the network at initialization, ready to play

    def apply_spec(self, spec: RunSpec) -> None:
        """Make an edited ``spec`` the current lesson's run (the current run stops; reset when ready)."""
        lesson = self._lesson
        if lesson is None:
            return
        self._lesson = dataclasses.replace(lesson, spec=spec)
        self._show_lanes(spec)
        self.transport.set_progress(-1, -1, spec.epochs)
        self._show_findings([])
        self.controller.set_spec(spec)
        if self.tf_ready:
            self.controller.reset()

    def open_race_editor(self) -> RaceEditor | None:
        """Open the lane editor on the current run (window-modal); ``None`` if the lesson locks the lanes."""
        lesson = self._lesson
        if lesson is None or "lanes" in set(lesson.locked_controls) | set(lesson.hidden_controls):
            return None
        if self._race_editor is not None and self._race_editor.isVisible():
            return self._race_editor
        editor = RaceEditor(self)
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.destroyed.connect(self._on_race_editor_closed)
        self._race_editor = editor
        editor.open()
        return editor

    @Slot()
    def _on_race_editor_closed(self) -> None:
        self._race_editor = None

    def _show_lanes(self, spec: RunSpec) -> None:
        self.lanes.set_lanes(spec.lane_names, [_lane_detail(lane) for lane in spec.lanes])

    def _apply_lesson_controls(self, lesson: Lesson) -> None:
        widgets = {**self.transport.controls(), "lesson_picker": self.lesson_picker, "lanes": self.lanes}
        for name, widget in widgets.items():
            widget.setVisible(name not in lesson.hidden_controls)
        locked = set(lesson.locked_controls) | set(lesson.hidden_controls)
        self.transport.set_locked(locked)
        self.lesson_picker.setEnabled("lesson_picker" not in locked)
        self.lanes.setEnabled("lanes" not in locked)
        self.edit_lanes_button.setVisible("lanes" not in locked)

    def set_all_panels_visible(self, all_visible: bool) -> None:
        """Show every panel at once, stacked (True), or one per tab (False)."""
        if all_visible == (not self._all_panels.isHidden()):
            return
        self.all_panels_action.blockSignals(True)
        self.all_panels_action.setChecked(all_visible)
        self.all_panels_action.blockSignals(False)
        current = self.tabs.currentIndex()
        if all_visible:
            for panel in self.panels:
                self._all_panels.addWidget(panel)  # reparents it out of the tab widget
                # The tab widget had hidden every panel but the current one.
                panel.setVisible(self._panel_meaningful.get(panel.name, True))
            self.tabs.hide()
            self._all_panels.show()
        else:
            for panel in self.panels:
                index = self.tabs.addTab(panel, panel.title)
                self.tabs.setTabVisible(index, self._panel_meaningful.get(panel.name, True))
            self.tabs.setCurrentIndex(max(0, current))
            self._all_panels.hide()
            self.tabs.show()
        self.controller.request_render()

    @property
    def all_panels_visible(self) -> bool:
        """Whether every panel is shown at once, stacked, instead of one per tab."""
        return not self._all_panels.isHidden()

    @property
    def splitter(self) -> QSplitter:
        """The divider between the side pane and the panels."""
        return self._splitter

    def show_error(self, message: str) -> None:
        """Show ``message`` in the error banner and the status bar."""
        self.banner.show_message("error", message)
        self.statusBar().showMessage(message)

    def shutdown(self, timeout_s: float = 3.0) -> bool:
        """Stop training and join the worker threads; False if one outlived ``timeout_s``."""
        return self.controller.shutdown(timeout_s)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # The panels need the width more than the lesson text does; a width
        # the learner dragged to (or the settings restored) is kept.
        side = self.side_width or min(340, max(230, self.width() // 6))
        self._splitter.setSizes([side, max(1, self._splitter.width() - side)])

    def event(self, event: QEvent) -> bool:
        controller = getattr(self, "controller", None)  # None while the window is being built
        if controller is not None and event.type() == QEvent.Type.UpdateRequest:
            # Painting the window is where a frame's time goes: count it, and
            # let training wait meanwhile (see RunController.display_work).
            with controller.display_work():
                return super().event(event)
        return super().event(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown(3.0)
        self.settings.save(window_preferences(self, tuple(lesson_names())))
        event.accept()

    # handlers --------------------------------------------------------------------

    @Slot()
    def _on_tensorflow_ready(self) -> None:
        if self.banner.kind == "info":
            self.banner.clear()
        self.statusBar().showMessage("TensorFlow is ready. Press Play (Space) to train.", 8000)
        self.transport.set_ready(True)
        waiting, self._after_tensorflow = self._after_tensorflow, None
        if waiting is not None:
            waiting()  # the command pressed while loading; it starts its own run
        elif self.controller.state is RunState.IDLE and self.controller.spec is not None:
            self.controller.reset()

    @Slot(str)
    def _on_tensorflow_failed(self, message: str) -> None:
        self._after_tensorflow = None
        self.transport.set_ready(self.controller.replaying)  # a recording plays back without TensorFlow
        self.show_error(
            f"{message}\nTraining is not available in this window; lessons and their explanations still are. "
            "Reinstall gradviz's dependencies (pip install gradviz) and start it again."
        )

    @Slot(int)
    def _on_lesson_picker_change(self, index: int) -> None:
        name = self.lesson_picker.itemData(index)
        if name in self._sessions_shown:
            self.sessions.open(*self._sessions_shown[name])  # a saved session is shown again, not retrained
        elif name in self._lessons:
            self.set_lesson(self._lessons[name])

    @Slot(object)
    def _on_run_state_change(self, state: RunState) -> None:
        self.transport.set_state(state, recording=self.controller.replaying)
        history = self.controller.history
        epoch = history.last_epoch if history is not None else -1
        if self.controller.replaying and state is not RunState.FINISHED:
            verb = {RunState.RUNNING: "Playing back", RunState.PAUSED: "Paused", RunState.STOPPED: "Stopped"}
            self.statusBar().showMessage(
                f"{verb.get(state, 'Showing')} the saved run: nothing is trained. Continue training (C) goes on "
                "from its last epoch; New seed trains it afresh."
            )
        elif self.controller.preparation is not None and state.live:
            self.statusBar().showMessage(preparation_message(self.controller.preparation))
        elif state is RunState.RUNNING:
            if self._error_is_run_error():
                self.banner.clear()
            self.statusBar().showMessage("Training…")
        elif state is RunState.PAUSED:
            self.statusBar().showMessage("Paused. Space plays, Right arrow trains one epoch.")
        elif state is RunState.FINISHED:
            self.statusBar().showMessage(f"Finished after {epoch} epochs. Drag the timeline to look back.")
        elif state is RunState.STOPPED:
            self.statusBar().showMessage(f"Stopped at epoch {max(epoch, 0)}.")

    @Slot(object)
    def _on_preparing(self, preparation: Preparation | None) -> None:
        if preparation is not None:
            text = preparation_message(preparation)
            self.statusBar().showMessage(text)
            if self.banner.kind in ("", "info") or not self.banner.isVisibleTo(self):  # an error stays until read
                self.banner.show_message("info", text, dismissable=False)
                self._preparation_banner = True
            self.transport.set_preparing(preparation.fraction)
            return
        if self._preparation_banner and self.banner.kind == "info":
            self.banner.clear()
        self._preparation_banner = False
        history, spec = self.controller.history, self.controller.spec
        if history is not None:
            self.transport.set_progress(self.controller.shown_epoch, history.last_epoch, history.layout.epochs)
        elif spec is not None:
            self.transport.set_progress(-1, -1, spec.epochs)
        self._on_run_state_change(self.controller.state)  # the state's own status line again

    @Slot(object)
    def _on_history_change(self, history: RunHistory) -> None:
        if self._error_is_run_error():
            self.banner.clear()  # a new run has begun (Reset holds it paused): the failed run's error is history
        self._findings_epoch = -1  # the new run's epochs get their own findings
        for lane in range(history.layout.n_lanes):
            self.lanes.set_note(lane, "")
        self.transport.set_progress(history.last_epoch, history.last_epoch, history.layout.epochs)

    @Slot(int)
    def _on_frame_change(self, epoch: int) -> None:
        history = self.controller.history
        if history is None:
            return
        if self.controller.preparation is None:  # else the counter shows the next run's preparation
            self.transport.set_progress(epoch, history.last_epoch, history.layout.epochs,
                                        follow=self.controller.following)
        for lane, at in enumerate(history.diverged_epoch()):
            self.lanes.set_note(lane, f"diverged at epoch {at}" if at >= 0 and at <= epoch else "")
        self._drawn_epoch = epoch
        if epoch == self._findings_epoch:
            return
        training = self.controller.state is RunState.RUNNING
        if training and time.monotonic() - self._findings_at < FINDINGS_INTERVAL_S:
            if not self._findings_timer.isActive():
                self._findings_timer.start()
        else:
            self._findings_timer.stop()
            self._refresh_findings()

    @Slot()
    def _refresh_findings(self) -> None:
        """Diagnose the epoch the panels drew last (not a newer one they have not shown yet)."""
        history = self.controller.history
        epoch = self._drawn_epoch
        if history is None or epoch < 0 or epoch > history.last_epoch or epoch == self._findings_epoch:
            return
        self._findings_epoch = epoch
        self._findings_at = time.monotonic()
        self._show_findings(diagnose(history, epoch))

    def _show_findings(self, findings: list[Finding]) -> None:
        """The findings list, and a callout for the one the current panel shows best."""
        visible = [f for f in findings if self.controller.lane_visible(f.lane)]
        self._findings = visible
        self.findings.clear()
        for finding in visible:
            self.findings.addItem(finding.message)
        if not visible:
            self.findings.addItem("Nothing unusual at this epoch.")
        self._update_callout()

    def _update_callout(self) -> None:
        panel = self.tabs.currentWidget()
        kinds = _PANEL_FINDINGS.get(getattr(panel, "name", ""), ())
        relevant = [f for f in self._findings if f.kind in kinds]
        if relevant:
            more = f"  (+{len(relevant) - 1} more in Findings)" if len(relevant) > 1 else ""
            self.callout.setText(f"⚑ {relevant[0].message}{more}")
        self.callout.setVisible(bool(relevant))

    @Slot(object)
    def _on_surface_start_select(self, point: tuple[float, float]) -> None:
        """Restart the surface race from the clicked point (same optimizers, same seed)."""
        lesson = self._lesson
        if lesson is None or lesson.spec.problem is None or "reset" in lesson.locked_controls:
            return
        data = lesson.spec.to_json()
        data["problem"]["start"] = [round(float(point[0]), 3), round(float(point[1]), 3)]
        try:
            spec = RunSpec.from_json(data)
        except SpecError as exc:
            self.statusBar().showMessage(f"Cannot start there: {exc}", 8000)
            return
        self._lesson = dataclasses.replace(lesson, spec=spec)
        self.controller.set_spec(spec)
        x, y = spec.problem.start
        self.statusBar().showMessage(f"Racing from ({x:g}, {y:g}). Press Play (Space).", 8000)
        if self.tf_ready:
            self.controller.reset()

    @Slot(int)
    def _on_lab_cell_select(self, lane: int) -> None:
        """Open one lab cell's lane in the other panels: show it alone there."""
        history = self.controller.history
        if history is None or not 0 <= lane < history.layout.n_lanes:
            return
        for other in range(history.layout.n_lanes):
            self.lanes.set_checked(other, other == lane)
        for panel in self.panels:
            if panel.name == "gradients":
                self.tabs.setCurrentIndex(self.tabs.indexOf(panel))
        name = history.layout.lane_names[lane]
        self.statusBar().showMessage(
            f"Showing {name} alone. Tick lanes in the list to compare; the Lab tab still shows every cell.", 12000
        )

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        self._run_error = message
        self.show_error(message)

    @Slot(str)
    def _on_engine_message(self, message: str) -> None:
        self.statusBar().showMessage(message, 10000)

    @Slot(object)
    def _on_lane_visibility_change(self, change: LaneVisibility) -> None:
        self.controller.set_lane_visible(change.lane, change.visible)
        history = self.controller.history
        if history is not None and len(history):
            self._show_findings(diagnose(history, self.controller.shown_epoch))

    @Slot(int)
    def _on_tab_change(self, index: int) -> None:
        self.controller.request_render()  # the newly shown panel has not drawn recent epochs
        self._update_callout()

    @Slot()
    def _on_new_seed_request(self) -> None:
        seed = self.controller.new_seed()
        self.statusBar().showMessage(f"New seed {seed}: new initial weights, data noise and batch order.", 8000)

    @Slot(int, int)
    def _on_side_pane_drag(self, _pos: int, _index: int) -> None:
        self.side_width = self._splitter.sizes()[0]

    def _toggle_fullscreen(self) -> None:
        self.setWindowState(self.windowState() ^ Qt.WindowState.WindowFullScreen)

    def _error_is_run_error(self) -> bool:
        return self.banner.kind == "error" and self.banner.text == self._run_error


def _without_title(markdown: str) -> str:
    """The lesson text minus its leading ``# Title`` line: the lesson picker already shows it."""
    lines = markdown.lstrip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _lane_detail(lane: LaneSpec) -> str:
    if lane.model is None:  # a point on a loss surface
        return lane.optimizer.label()
    layers = ", ".join(f"{layer.units} {layer.activation} ({layer.initializer.label()})" for layer in lane.model.layers)
    return f"{lane.optimizer.label()}\nlayers: {layers}"


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label
