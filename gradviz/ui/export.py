"""Export what the window shows: one panel as PNG, SVG or CSV, or the whole run as a handout folder.

A panel is exported from a twin: a new panel of the same class, theme and
font scale, bound to the same run and drawn at the same epoch with the same
lanes hidden.  The twin is laid out at the size asked for, so a 1920×1080
PNG gets room for its plots instead of an enlarged screenshot, and the
window's own panel is never resized.

The CSV of a panel is the engine's file holding what the panel plots, so it
is byte for byte the file ``gradviz run --out`` writes.  Every file is
written whole or not at all (:mod:`gradviz.engine.files`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence, QPainter, QRegion
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gradviz.engine.export import jacobians_csv, layers_csv, metrics_csv, write_run_files
from gradviz.engine.files import atomic_write_bytes, atomic_write_text
from gradviz.engine.history import RunHistory
from gradviz.engine.lab import lab_csv
from gradviz.engine.surface_run import trajectory_csv
from gradviz.ui.figures import lay_out_panel, panel_image, panels_for, png_bytes, render_figures
from gradviz.ui.panels import LabPanel, Panel, RacePanel
from gradviz.ui.recorder import FrameRecorder, RecordingError

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = [
    "FORMATS", "PANEL_CSV", "SIZE_PRESETS", "ExportActions", "ExportError", "PanelExportDialog", "export_all",
    "export_all_files", "export_panel", "install_export_actions", "panel_csv", "panel_twin", "writable_folder",
]

#: What each panel's CSV holds: the engine file with the numbers the panel plots.
PANEL_CSV: dict[str, Callable[[RunHistory], str | None]] = {
    "race": metrics_csv,  # loss per epoch and lane
    "gradients": layers_csv,  # grad_norm per layer (with the other per-layer probes)
    "activations": layers_csv,  # activation statistics per layer
    "jacobians": jacobians_csv,
    "lab": lab_csv,
    "surface": trajectory_csv,
}

#: File formats a panel exports to, by suffix.
FORMATS = {"png": "PNG image", "svg": "SVG drawing", "csv": "CSV data"}

#: Image sizes offered beside the panel's on-screen size.
SIZE_PRESETS = ((1280, 720), (1920, 1080), (2560, 1440), (3840, 2160))

_MAX_SIDE = 8192  # larger images take seconds and hundreds of MB; no projector needs them


class ExportError(Exception):
    """An export that cannot be done; the message names the path and the reason, for the learner."""


def panel_csv(name: str, history: RunHistory) -> str:
    """The CSV text of the panel called ``name`` for ``history``.

    Raises
    ------
    ExportError
        The panel has no table for this run (the Lab of a run that is not a grid).
    """
    writer = PANEL_CSV.get(name)
    text = writer(history) if writer is not None else None
    if text is None:
        raise ExportError(f"the {name} panel has no table for this run")
    return text


def panel_twin(panel: Panel, history: RunHistory, epoch: int, hidden_lanes: set[int] | frozenset[int] = frozenset(),
               ) -> Panel:
    """A new panel that looks like ``panel``: same class, theme, font scale, run, epoch and hidden lanes.

    The caller closes it.
    """
    if isinstance(panel, RacePanel):
        # The threshold on screen, not one re-derived from the run: the leaderboard must match.
        twin: Panel = RacePanel(theme=panel.theme, threshold=panel.threshold)
        twin.set_log_scale(panel.log_scale)
    else:
        twin = type(panel)(theme=panel.theme)
    twin.set_font_scale(panel.font_scale)
    twin.bind(history)
    for lane in sorted(hidden_lanes):
        if 0 <= lane < history.layout.n_lanes:
            twin.set_lane_visible(lane, False)
    if isinstance(panel, LabPanel) and isinstance(twin, LabPanel):
        twin.set_selected_lane(panel.selected_lane)
    twin.render(epoch)
    return twin


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = int(size[0]), int(size[1])
    if not (16 <= width <= _MAX_SIDE and 16 <= height <= _MAX_SIDE):
        raise ExportError(f"an image of {width}×{height} pixels is not possible: each side must be 16 … {_MAX_SIDE}")
    return width, height


def _svg_bytes(panel: Panel, size: tuple[int, int]) -> bytes:
    """``panel`` laid out at ``size`` and painted as vector paths and text (heatmaps stay images)."""
    lay_out_panel(panel, size)
    # In export mode pyqtgraph draws scatter symbols as paths, not cached pixmaps
    # (which an SVG painter shows as broken fragments).  The twin is thrown away after.
    for view in panel.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if hasattr(item, "setExportMode"):
                item.setExportMode(True, {"antialias": True})
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)  # axes as text and lines, not a pixmap
    # QSvgGenerator writes to a file only; a temporary one keeps the target whole-or-nothing.
    fd, tmp = tempfile.mkstemp(suffix=".svg")
    os.close(fd)
    try:
        generator = QSvgGenerator()
        generator.setFileName(tmp)
        generator.setSize(QSize(*size))
        generator.setViewBox(QRect(0, 0, *size))
        generator.setTitle(panel.title)
        generator.setDescription("gradviz")
        painter = QPainter(generator)
        try:
            # QWidget.render, not Panel.render (which draws an epoch): the panel with its
            # header, tables and captions, every plot painted through the SVG painter.
            QWidget.render(panel, painter, QPoint(), QRegion(),
                           QWidget.RenderFlag.DrawWindowBackground | QWidget.RenderFlag.DrawChildren)
        finally:
            painter.end()
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


def export_panel(
    panel: Panel,
    history: RunHistory,
    path: str | Path,
    *,
    epoch: int | None = None,
    size: tuple[int, int] | None = None,
    hidden_lanes: set[int] | frozenset[int] = frozenset(),
) -> Path:
    """Write ``panel`` to ``path``: PNG or SVG (drawn at ``size``), or CSV, chosen by the suffix.

    Parameters
    ----------
    panel
        The panel to export (not changed; a twin is drawn).
    history
        The run it shows; needs at least one epoch.
    path
        Target file ending in ``.png``, ``.svg`` or ``.csv``.
    epoch
        Epoch to draw; the newest if ``None``.
    size
        (width, height) in pixels; the panel's on-screen size if ``None``.
    hidden_lanes
        Lanes the figure leaves out, as in the window.

    Raises
    ------
    ExportError
        Bad suffix or size, nothing recorded, or the file cannot be written.
    """
    path = Path(path).expanduser()
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise ExportError(f"cannot export to {str(path)!r}: the file must end in .png, .svg or .csv")
    if not len(history):
        raise ExportError("nothing to export yet: no epoch has been recorded")
    writable_folder(path.parent)
    try:
        if kind == "csv":
            atomic_write_text(path, panel_csv(panel.name, history))
            return path
        shown = history.last_epoch if epoch is None else epoch
        width, height = _check_size(size if size is not None else (panel.width(), panel.height()))
        twin = panel_twin(panel, history, shown, hidden_lanes)
        try:
            data = png_bytes(panel_image(twin, (width, height))) if kind == "png" else _svg_bytes(twin, (width, height))
        finally:
            twin.close()
            twin.deleteLater()
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def writable_folder(folder: str | Path) -> Path:
    """``folder`` once a file can be created in it.

    Raises
    ------
    ExportError
        Naming the folder and why (missing, a file, no permission, read-only disk).
    """
    folder = Path(folder).expanduser()
    name = repr(str(folder))
    if not folder.exists():
        raise ExportError(f"cannot write to {name}: the folder does not exist")
    if not folder.is_dir():
        raise ExportError(f"cannot write to {name}: it is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".gradviz-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"cannot write to {name}: {exc.strerror or exc}") from None
    return folder


def export_all_files(history: RunHistory) -> list[str]:
    """The names (relative to the folder) :func:`export_all` writes for ``history``, in order."""
    surface = history.layout.surface is not None
    names = ["spec.json"]
    if not surface:
        names.append("data.csv")
    names.append("metrics.csv")
    if not surface:
        names += ["layers.csv", "jacobians.csv"]
    else:
        names.append("trajectory.csv")
    names.append("diagnostics.json")
    if not surface and lab_csv(history) is not None:
        names.append("lab.csv")
    return names + [f"figures/{cls.name}.png" for cls in panels_for(history)]


def export_all(
    history: RunHistory,
    folder: str | Path,
    *,
    size: tuple[int, int] = (1280, 800),
    progress: Callable[[int, int, str], bool] | None = None,
) -> list[Path]:
    """Write the run's files as ``gradviz run --out`` does, and every panel as ``figures/<name>.png``.

    Parameters
    ----------
    history
        The recorded run; needs at least one epoch.
    folder
        An existing folder.
    size
        Pixel size of the figures.
    progress
        Called as ``progress(done, total, next_file)`` before each step;
        returning False stops the export after the files already written.

    Returns
    -------
    list of Path
        The files written (each one whole).

    Raises
    ------
    ExportError
        Nothing recorded, or a file cannot be written (naming it and why).
    """
    if not len(history):
        raise ExportError("nothing to export yet: no epoch has been recorded")
    out = writable_folder(folder)
    figures = panels_for(history)
    total = 1 + len(figures)
    written: list[Path] = []
    try:
        if progress is not None and not progress(0, total, "data and metrics"):
            return written
        written += write_run_files(history, out)
        for step, cls in enumerate(figures, start=1):
            if progress is not None and not progress(step, total, f"figures/{cls.name}.png"):
                return written
            written += render_figures(history, out / "figures", size, panels=(cls,))
    except OSError as exc:
        where = exc.filename or out
        done = f" ({len(written)} files were written before it)" if written else ""
        raise ExportError(f"cannot write {str(where)!r}: {exc.strerror or exc}{done}") from None
    if progress is not None:
        progress(total, total, "")
    return written


class PanelExportDialog(QDialog):
    """Choose format, pixel size and file for exporting one panel.

    Parameters
    ----------
    panel_title
        Shown in the window title.
    on_screen
        The panel's size on screen: the default image size.
    start_path
        Suggested file (its suffix picks the format).
    """

    def __init__(self, panel_title: str, on_screen: tuple[int, int], start_path: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export panel: {panel_title}")
        self.format_box = QComboBox()
        for suffix, label in FORMATS.items():
            self.format_box.addItem(f"{label} (.{suffix})", suffix)
        self.size_box = QComboBox()
        self.size_box.addItem(f"As on screen ({on_screen[0]}×{on_screen[1]})", on_screen)
        for preset in SIZE_PRESETS:
            self.size_box.addItem(f"{preset[0]}×{preset[1]}", preset)
        self.size_box.addItem("Custom", None)
        self.width_box = QSpinBox()
        self.height_box = QSpinBox()
        for box, value in ((self.width_box, on_screen[0]), (self.height_box, on_screen[1])):
            box.setRange(16, _MAX_SIDE)
            box.setSuffix(" px")
            box.setValue(value)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_box)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_box)
        self.path_edit = QLineEdit(str(start_path))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_click)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.size_note = QLabel("CSV holds the numbers the panel plots, for every recorded epoch.")
        self.size_note.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Size", self.size_box)
        form.addRow("", size_row)
        form.addRow("File", path_row)
        form.addRow(self.size_note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.format_box.currentIndexChanged.connect(self._on_format_change)
        self.size_box.currentIndexChanged.connect(self._on_size_preset_change)
        self.width_box.valueChanged.connect(self._on_size_edit)
        self.height_box.valueChanged.connect(self._on_size_edit)
        suffix = start_path.suffix.lower().lstrip(".")
        self.format_box.setCurrentIndex(max(0, self.format_box.findData(suffix)))
        self._on_format_change()

    @property
    def path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    @property
    def image_size(self) -> tuple[int, int]:
        return self.width_box.value(), self.height_box.value()

    @Slot()
    def _on_format_change(self) -> None:
        suffix = self.format_box.currentData()
        drawn = suffix != "csv"
        for widget in (self.size_box, self.width_box, self.height_box):
            widget.setEnabled(drawn)
        self.size_note.setVisible(not drawn)
        text = self.path_edit.text().strip()
        if text:
            self.path_edit.setText(str(Path(text).with_suffix(f".{suffix}")))

    @Slot()
    def _on_size_preset_change(self) -> None:
        preset = self.size_box.currentData()
        if preset is None:
            return
        for box, value in ((self.width_box, preset[0]), (self.height_box, preset[1])):
            box.blockSignals(True)
            box.setValue(int(value))
            box.blockSignals(False)

    @Slot()
    def _on_size_edit(self) -> None:
        index = self.size_box.findData(self.image_size)
        self.size_box.blockSignals(True)
        self.size_box.setCurrentIndex(index if index >= 0 else self.size_box.count() - 1)
        self.size_box.blockSignals(False)

    @Slot()
    def _on_browse_click(self) -> None:
        suffix = self.format_box.currentData()
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export panel to", str(self.path), f"{FORMATS[suffix]} (*.{suffix})")
        if chosen:
            self.path_edit.setText(str(Path(chosen).with_suffix(f".{suffix}")))


class ExportActions(QObject):
    """The File menu's export and recording commands on a :class:`MainWindow`.

    ``export_panel_to``, ``export_all_to``, ``start_recording`` and
    ``stop_recording`` do the work and report in the status bar (or the
    error banner); the ``*_dialog`` slots ask for the path first.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._last_folder = Path.home()
        #: Why the last export did not happen, for the learner; ``None`` after a success.
        self.last_error: str | None = None
        self.export_panel_action = self._action("Export panel…", "Ctrl+Shift+S",
                                                "Save the panel on screen as PNG, SVG or its numbers as CSV",
                                                self.export_panel_dialog)
        self.export_all_action = self._action("Export all…", "Ctrl+Shift+E",
                                              "Write every CSV and every panel's PNG into one folder",
                                              self.export_all_dialog)
        self.record_action = self._action("Record…", "Ctrl+Shift+R",
                                          "Record the panels as an animated GIF (or MP4) until you stop",
                                          self.toggle_recording)
        window.file_menu.insertSeparator(window.quit_action)
        self.recorder: FrameRecorder | None = None
        window.installEventFilter(self)  # a recording in progress is finished when the window closes
        window.file_menu.aboutToShow.connect(self.update_enabled)
        window.controller.history_started.connect(self.update_enabled)
        window.controller.state_changed.connect(self.update_enabled)
        self.update_enabled()

    def _action(self, text: str, key: str, tip: str, slot: Callable[[], object]) -> QAction:
        window = self._window
        action = QAction(text, window)
        action.setShortcut(QKeySequence(key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        window.file_menu.insertAction(window.quit_action, action)
        window.addAction(action)  # the key works even with the menu bar hidden
        return action

    # what the window shows ------------------------------------------------------

    def history(self) -> RunHistory | None:
        """The run to export, or ``None`` while nothing is recorded."""
        history = self._window.controller.history
        return history if history is not None and len(history) else None

    def current_panel(self) -> Panel:
        """The panel on screen: the current tab, or the first visible one when all are stacked."""
        window = self._window
        current = window.tabs.currentWidget()
        if isinstance(current, Panel):
            return current
        return next((p for p in window.panels if p.isVisible()), window.panels[0])

    def _hidden_lanes(self, history: RunHistory) -> set[int]:
        controller = self._window.controller
        return {lane for lane in range(history.layout.n_lanes) if not controller.lane_visible(lane)}

    @Slot()
    def update_enabled(self, *_args: object) -> None:
        recorded = self.history() is not None
        for action in (self.export_panel_action, self.export_all_action):
            action.setEnabled(recorded)

    # commands ---------------------------------------------------------------------

    def export_panel_to(self, path: str | Path, size: tuple[int, int] | None = None) -> Path | None:
        """Export the panel on screen at the epoch shown; ``None`` (and a message) if it cannot be."""
        self.last_error = None
        history = self.history()
        if history is None:
            self._refuse("Nothing to export yet: press Play (Space) to record a run first.")
            return None
        panel = self.current_panel()
        try:
            written = export_panel(panel, history, path, epoch=self._window.controller.shown_epoch, size=size,
                                   hidden_lanes=self._hidden_lanes(history))
        except ExportError as exc:
            self._fail(f"Export failed: {exc}. Nothing was written.")
            return None
        self._window.statusBar().showMessage(f"Exported the {panel.title} panel to {written}", 10000)
        return written

    def export_all_to(self, folder: str | Path, size: tuple[int, int] = (1280, 800)) -> list[Path]:
        """Write every file of the run into ``folder``, with a progress dialog; [] (and a message) if not."""
        self.last_error = None
        history = self.history()
        if history is None:
            self._refuse("Nothing to export yet: press Play (Space) to record a run first.")
            return []
        dialog = QProgressDialog("Exporting…", "Cancel", 0, 1, self._window)
        dialog.setWindowTitle("Export all")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        cancelled = False

        def progress(done: int, total: int, next_file: str) -> bool:
            nonlocal cancelled
            dialog.setMaximum(total)
            dialog.setValue(done)
            dialog.setLabelText(f"Writing {next_file}…" if next_file else "Done")
            cancelled = dialog.wasCanceled()
            return not cancelled

        try:
            written = export_all(history, folder, size=size, progress=progress)
        except ExportError as exc:
            self._fail(f"Export failed: {exc}. No file was left half-written.")
            return []
        finally:
            dialog.close()
            dialog.deleteLater()
        where = Path(folder).expanduser()
        if cancelled:
            self._window.statusBar().showMessage(f"Export cancelled: {len(written)} files in {where}", 10000)
        else:
            self._window.statusBar().showMessage(f"Exported {len(written)} files to {where}", 15000)
        return written

    @Slot()
    def export_panel_dialog(self) -> None:
        if self.history() is None:
            self._refuse("Nothing to export yet: press Play (Space) to record a run first.")
            return
        panel = self.current_panel()
        dialog = PanelExportDialog(panel.title, (max(16, panel.width()), max(16, panel.height())),
                                   self._last_folder / f"{panel.name}.png", self._window)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            path, size = dialog.path, dialog.image_size
        finally:
            dialog.deleteLater()
        self._last_folder = path.parent
        if self.export_panel_to(path, size) is None and self.last_error:
            QMessageBox.warning(self._window, "Export panel", self.last_error)

    @Slot()
    def export_all_dialog(self) -> None:
        if self.history() is None:
            self._refuse("Nothing to export yet: press Play (Space) to record a run first.")
            return
        folder = QFileDialog.getExistingDirectory(self._window, "Export every file of the run to",
                                                  str(self._last_folder))
        if not folder:
            return
        self._last_folder = Path(folder)
        if not self.export_all_to(folder) and self.last_error:
            QMessageBox.warning(self._window, "Export all", self.last_error)

    # recording ---------------------------------------------------------------------

    def panel_area(self) -> QWidget:
        """What a recording shows: the panel on screen (or all of them, stacked), without the tab bar."""
        panel = self.current_panel()
        return panel.parentWidget() or panel

    def start_recording(self, path: str | Path, *, grab_now: bool = True) -> FrameRecorder | None:
        """Record every rendered frame to ``path`` (.gif or .mp4); ``None`` (and a message) if it cannot.

        ``grab_now``: the first frame is what the panels show now, not the next one drawn.
        """
        self.last_error = None
        if self.recorder is not None:
            self._refuse(f"Already recording to {self.recorder.path}.")
            return None
        try:
            recorder = FrameRecorder(path, self.panel_area, parent=self)
        except RecordingError as exc:
            self._fail(f"Recording not started: {exc}.")
            return None
        self.recorder = recorder.attach(self._window.controller.frame_rendered)
        if grab_now:
            recorder.grab()  # what the class sees now, even before the next epoch
        self.record_action.setText("Stop recording")
        self._window.statusBar().showMessage(
            f"Recording to {recorder.path}… File ▸ Stop recording (Ctrl+Shift+R) writes it.", 10000)
        return recorder

    def stop_recording(self) -> Path | None:
        """Finish the recording and write its file; the path, or ``None`` (and a message)."""
        self.last_error = None
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return None
        self.record_action.setText("Record…")
        self._window.controller.render_now()  # the last epoch, drawn
        try:
            path = recorder.finish()
        except RecordingError as exc:
            self._fail(f"Recording lost: {exc}.")
            return None
        finally:
            recorder.deleteLater()
        self._window.statusBar().showMessage(f"Recorded {recorder.frames} frames to {path}", 15000)
        return path

    @Slot()
    def toggle_recording(self) -> None:
        if self.recorder is not None:
            if self.stop_recording() is None and self.last_error:
                QMessageBox.warning(self._window, "Recording", self.last_error)
            return
        chosen, chosen_filter = QFileDialog.getSaveFileName(
            self._window, "Record the run to", str(self._last_folder / "run.gif"),
            "Animated GIF (*.gif);;MP4 video, needs ffmpeg (*.mp4)")
        if not chosen:
            return
        path = Path(chosen)
        if path.suffix.lower() not in (".gif", ".mp4"):
            path = path.with_suffix(".mp4" if "mp4" in chosen_filter else ".gif")
        self._last_folder = path.parent
        if self.start_recording(path) is None and self.last_error:
            QMessageBox.warning(self._window, "Recording", self.last_error)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._window and event.type() == QEvent.Type.Close and self.recorder is not None:
            self.stop_recording()
        return False

    def _refuse(self, message: str) -> None:
        self.last_error = message
        self._window.statusBar().showMessage(message, 8000)

    def _fail(self, message: str) -> None:
        self.last_error = message
        self._window.show_error(message)


def install_export_actions(window: MainWindow) -> ExportActions:
    """Add Export panel… and Export all… to ``window.file_menu`` (before Quit)."""
    return ExportActions(window)
