"""Optimizer race: every lane's loss curve, its fitted curve over the data, a leaderboard."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from gradviz.engine.history import RunHistory
from gradviz.ui.panels.base import Panel, clear_data, finite, has_finite, marker_indices
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_icon, lane_pen, lane_symbol

__all__ = ["LeaderboardRow", "RacePanel"]

_SHORT_NAMES = {"learning_rate": "lr", "momentum": "momentum", "beta_1": "β₁", "beta_2": "β₂"}
_COLUMNS = ("#", "Lane", "Loss", "Best", "")
_LOSS_COLUMN = 2
_THRESHOLD_COLUMN = 4
_LANE_ROLE = Qt.ItemDataRole.UserRole  # which lane's icon a leaderboard name cell shows


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One line of the leaderboard as shown (rows are sorted best first).

    Attributes
    ----------
    lane
        Lane index in spec order.
    name
        Lane name.
    loss, best
        Loss at the selected epoch and the lowest loss up to it (NaN if none).
    reached
        First epoch at which the loss was at or below the threshold, or -1.
    diverged
        Epoch the lane diverged at, or -1 (also -1 when that is after the
        selected epoch).
    """

    lane: int
    name: str
    loss: float
    best: float
    reached: int
    diverged: int


def _fmt_loss(value: float) -> str:
    if not np.isfinite(value):
        return "—"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"


def _fmt_edit(name: str, value: object, previous: object) -> str:
    short = _SHORT_NAMES.get(name, name)
    if previous is None:
        return f"{short} → {value:g}" if isinstance(value, float) else f"{short} → {value}"
    return f"{short} {previous:g} → {value:g}" if isinstance(value, float) else f"{short} → {value}"


class RacePanel(Panel):
    """Lanes racing to the lowest loss on the same data, from the same start.

    The loss curve of a lane shows, at epoch 0, the loss over the whole
    training set at initialization (``full_loss``) and from epoch 1 on the
    epoch's mean batch loss, as Keras ``fit`` reports it (``loss``).

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.
    threshold
        Loss the leaderboard's "reached" column counts from; ``None`` (the
        default) picks a quarter of the lanes' starting loss at each new run
        until the user sets one.
    """

    title = "Optimizer race"
    name = "race"
    #: the automatic threshold, as a fraction of the mean loss at initialization
    AUTO_THRESHOLD_FRACTION = 0.25
    #: log scale cannot show 0: losses at or below this are drawn at it.
    LOG_FLOOR = 1e-12
    #: edit annotations kept as text labels (older edits keep only their marker).
    MAX_EDIT_LABELS = 12
    #: training samples drawn under the fitted curves at most (an even sample of larger datasets).
    MAX_DATA_POINTS = 2000

    def __init__(
        self, parent: QWidget | None = None, theme: Theme = LIGHT, threshold: float | None = None
    ) -> None:
        super().__init__(parent, theme)
        self._auto_threshold = threshold is None
        self._threshold = 0.02 if threshold is None else float(threshold)
        self._log = True
        self._mark_step = 1
        self._follow_y = True  # the loss axis fits the curves until the learner pans or zooms

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        self._log_box = QCheckBox("Log scale")
        self._log_box.setChecked(True)
        self._log_box.setToolTip("Loss axis in decades (10⁻², 10⁻¹, 1 …) or linear")
        self._log_box.toggled.connect(self.set_log_scale)
        self._threshold_label = QLabel("Reached when loss ≤")
        self._threshold_box = QDoubleSpinBox()
        self._threshold_box.setDecimals(4)
        self._threshold_box.setRange(1e-4, 1e6)
        self._threshold_box.setSingleStep(0.005)
        self._threshold_box.setValue(self._threshold)
        self._threshold_box.setToolTip("The leaderboard shows the first epoch each lane got this low")
        self._threshold_box.valueChanged.connect(self._on_threshold_box_change)
        controls.addWidget(self._log_box)
        controls.addSpacing(16)
        controls.addWidget(self._threshold_label)
        controls.addWidget(self._threshold_box)
        controls.addStretch(1)
        self._layout.addLayout(controls)

        self._loss_view = self._new_view()
        self._loss_view.setToolTip(
            "Epoch 0: loss over all training data at initialization.\n"
            "Epoch 1 on: mean batch loss of the epoch, as Keras fit reports it.\n"
            f"In log scale a loss ≤ {self.LOG_FLOOR:g} is drawn at {self.LOG_FLOOR:g}."
        )
        self._fit_view = self._new_view()
        self._table = QTableWidget(0, len(_COLUMNS))
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self._table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._table.verticalHeader().setVisible(False)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.setHorizontalHeaderLabels(list(_COLUMNS))
        self._table.horizontalHeaderItem(_LOSS_COLUMN).setToolTip("The epoch's loss; ✕ @N: diverged at epoch N")
        header = self._table.horizontalHeader()
        # Every column as wide as its header and cells: a stretched one could be
        # narrower than its header, whose text then ran into the next
        # (presentation text at 1920×1080).
        for col in range(len(_COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self._update_threshold_header()
        self._forget_items()

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self._fit_view)
        right.addWidget(self._table)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.addWidget(self._loss_view)
        self._splitter.addWidget(right)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        self._splitter.setChildrenCollapsible(False)
        self._layout.addWidget(self._splitter, 1)
        self._layout.addWidget(self._add_caption(
            "Loss at epoch 0: over all training data at initialization; from epoch 1: the epoch's mean "
            "batch loss (as Keras <i>fit</i> reports it).&nbsp;&nbsp; ▼ hyperparameter edit&nbsp;&nbsp; "
            "✕ diverged (last finite loss)&nbsp;&nbsp; - - - threshold"
        ))

    # public extras -------------------------------------------------------

    @property
    def loss_plot(self) -> pg.PlotItem | None:
        return self._loss_plot

    @property
    def fit_plot(self) -> pg.PlotItem | None:
        """The fitted-curves plot (``None`` before the first bind)."""
        return self._fit_plot

    @property
    def fit_visible(self) -> bool:
        """Whether the fitted-curve plot is shown (only for 1-D inputs)."""
        return not self._fit_view.isHidden()

    @property
    def table(self) -> QTableWidget:
        return self._table

    @property
    def log_scale(self) -> bool:
        return self._log

    @property
    def threshold(self) -> float:
        return self._threshold

    def curve(self, lane: int) -> pg.PlotDataItem:
        """The loss curve item of ``lane``."""
        return self._curves[lane]

    def fitted_curve(self, lane: int) -> pg.PlotDataItem:
        return self._fits[lane]

    def edit_marker(self, lane: int) -> pg.PlotDataItem:
        return self._edit_marks[lane]

    def diverge_marker(self, lane: int) -> pg.PlotDataItem:
        return self._diverge_marks[lane]

    def leaderboard(self) -> list[LeaderboardRow]:
        """The leaderboard rows as last rendered, best first."""
        return list(self._rows)

    def set_log_scale(self, on: bool) -> None:
        """Log (labelled decades) or linear loss axis."""
        on = bool(on)
        if self._log_box.isChecked() != on:
            self._log_box.setChecked(on)  # re-enters through toggled
            return
        self._log = on
        if self._loss_plot is not None:
            self._loss_plot.setLogMode(y=on)
            # setLogMode turns pyqtgraph's auto-range back on; the panel fits the axes itself.
            self._loss_plot.enableAutoRange(x=False, y=False)
            self._set_label(self._loss_plot, "left", self._loss_label())
            self._follow_y = True
        self.render(self._epoch)

    def set_threshold(self, value: float) -> None:
        """The loss a lane must reach for the leaderboard's "reached" column."""
        value = float(value)
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"threshold must be a positive number, not {value!r}")
        self._threshold = value
        if abs(self._threshold_box.value() - value) > 1e-12:
            self._threshold_box.blockSignals(True)
            self._threshold_box.setValue(value)
            self._threshold_box.blockSignals(False)
        self._update_threshold_header()
        if self._threshold_line is not None:
            self._threshold_line.label.setFormat(f"loss {value:g}")
        self.render(self._epoch)

    # building ------------------------------------------------------------

    def _loss_label(self) -> str:
        return "loss (MSE, log scale)" if self._log else "loss (MSE)"

    def _update_threshold_header(self) -> None:
        item = QTableWidgetItem(f"≤ {self._threshold:g} at")
        item.setToolTip(f"First epoch the loss was at or below {self._threshold:g}")
        self._table.setHorizontalHeaderItem(_THRESHOLD_COLUMN, item)

    def _on_threshold_box_change(self, value: float) -> None:
        self._auto_threshold = False  # the user chose one: keep it across runs
        self.set_threshold(value)

    def _forget_items(self) -> None:
        self._table.setRowCount(0)  # the leaderboard too: it is the last run's
        self._fit_view.show()
        self._curves: list[pg.PlotDataItem] = []
        self._edit_marks: list[pg.PlotDataItem] = []
        self._diverge_marks: list[pg.PlotDataItem] = []
        self._fits: list[pg.PlotDataItem] = []
        # Each lane's marker symbol on a few points of its curves, and its legend sample.
        # Plain scatter items: a PlotDataItem with symbols cost four times as
        # much to update, and these change in every frame.
        self._marks: list[pg.ScatterPlotItem] = []
        self._fit_marks: list[pg.ScatterPlotItem] = []
        self._samples: list[pg.PlotDataItem] = []
        self._edit_labels: list[pg.TextItem] = []
        self._data_points: pg.ScatterPlotItem | None = None
        self._threshold_line: pg.InfiniteLine | None = None
        self._loss_plot: pg.PlotItem | None = None
        self._fit_plot: pg.PlotItem | None = None
        self._legend: pg.LegendItem | None = None
        self._rows: list[LeaderboardRow] = []
        self._icons: list = []

    def _bind(self, history: RunHistory) -> None:
        layout = history.layout
        t = self._theme
        if self._auto_threshold and len(history):
            start = history.full_loss[:, 0]
            start = start[np.isfinite(start) & (start > 0)]
            if start.size:
                value = float(f"{self.AUTO_THRESHOLD_FRACTION * start.mean():.2g}")
                # Before any item exists: set_threshold would redraw them.
                self._threshold = value
                self._threshold_box.blockSignals(True)
                self._threshold_box.setValue(value)
                self._threshold_box.blockSignals(False)
                self._update_threshold_header()
        self._loss_view.clear()
        self._fit_view.clear()

        plot = self._add_plot(self._loss_view.ci, 0, 0)
        self._loss_plot = plot
        self._set_title(plot, "Loss per epoch")
        self._set_label(plot, "bottom", "epoch")
        self._set_label(plot, "left", self._loss_label())
        plot.setLogMode(y=self._log)
        plot.setXRange(history.first_epoch, max(layout.epochs, history.first_epoch + 1), padding=0.02)
        # The panel fits the loss axis itself as it draws (_fit_loss_range):
        # pyqtgraph's auto-range measured every item again in each paint,
        # then changed the range and painted the plot a second time.
        plot.enableAutoRange(x=False, y=False)
        self._follow_y = True
        plot.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        # Below the plot, not on it: loss curves can be anywhere, so an inset
        # legend always ends up covering one of them.
        legend = self._add_row_legend(self._loss_view, row=1, columns=min(layout.n_lanes, 6))
        self._legend = legend
        self._curves, self._edit_marks, self._diverge_marks = [], [], []
        self._marks, self._fit_marks, self._samples = [], [], []
        self._mark_step = max(1, math.ceil(max(layout.epochs, 1) / 10))
        for lane, lane_name in enumerate(layout.lane_names):
            curve = pg.PlotDataItem(pen=lane_pen(lane, t), connect="finite")
            plot.addItem(curve)
            # After addItem, which gives the item its plot's (off) downsampling settings.
            # A 20 000-epoch race then draws a few points per pixel; the history keeps them all.
            curve.setDownsampling(auto=True, method="peak")
            # Peak keeps each pixel column's lowest and highest loss, so two
            # points per pixel lose nothing visible; pyqtgraph's default of
            # five per pixel stroked 2.5 times the segments for each frame.
            curve.opts["autoDownsampleFactor"] = 1.0
            curve.setClipToView(True)
            marks = pg.ScatterPlotItem(symbol=lane_symbol(lane))
            plot.addItem(marks)
            self._marks.append(marks)
            # The legend shows line style and marker together, as the curve does.
            sample = pg.PlotDataItem([0.0], [0.0], pen=lane_pen(lane, t), symbol=lane_symbol(lane))
            legend.addItem(sample, lane_name)
            self._samples.append(sample)
            color = lane_color(lane, t)
            edit = pg.PlotDataItem(pen=None, symbol="t", symbolSize=12, symbolBrush=color,
                                   symbolPen=pg.mkPen(t.foreground, width=1))
            div = pg.PlotDataItem(pen=None, symbol="x", symbolSize=16, symbolBrush=color,
                                  symbolPen=pg.mkPen(color, width=2))
            plot.addItem(edit)
            plot.addItem(div)
            self._curves.append(curve)
            self._edit_marks.append(edit)
            self._diverge_marks.append(div)
        self._threshold_line = pg.InfiniteLine(
            angle=0, movable=False, pen=pg.mkPen(t.muted, width=1, style=Qt.PenStyle.DashLine),
            label=f"loss {self._threshold:g}",
            labelOpts={"position": 0.97, "color": t.muted, "anchors": [(1, 1), (1, 1)]},
        )
        plot.addItem(self._threshold_line, ignoreBounds=True)
        self._edit_labels = []
        for _ in range(self.MAX_EDIT_LABELS):
            label = pg.TextItem("", color=t.foreground, anchor=(0.5, 1.3))
            label.setVisible(False)
            plot.addItem(label, ignoreBounds=True)
            self._edit_labels.append(label)

        fit = self._add_plot(self._fit_view.ci, 0, 0)
        self._fit_plot = fit
        self._set_title(fit, "Fitted curves and the data")
        self._set_label(fit, "bottom", "x")
        self._set_label(fit, "left", "y")
        self._fits = []
        if layout.grid_x is not None and layout.data_x.ndim == 2 and layout.data_x.shape[1] == 1:
            # A scatter of a million CSV rows took seconds to build and to paint: draw an even
            # sample of them (the curves are fitted to, and the history keeps, all of them).
            shown = np.unique(np.linspace(0, len(layout.data_x) - 1, self.MAX_DATA_POINTS).astype(int))
            x = finite(layout.data_x[shown, 0])
            y = finite(layout.data_y.reshape(len(layout.data_y), -1)[shown, 0])
            self._data_points = pg.ScatterPlotItem(
                x=np.nan_to_num(x), y=np.nan_to_num(y), size=5, pen=None,
                brush=pg.mkBrush(QColor(t.muted)), name="training data",
            )
            fit.addItem(self._data_points)
            for lane in range(layout.n_lanes):
                item = pg.PlotDataItem(pen=lane_pen(lane, t, width=2.5), connect="finite")
                fit.addItem(item)
                self._fits.append(item)
                marks = pg.ScatterPlotItem(symbol=lane_symbol(lane))
                fit.addItem(marks)
                self._fit_marks.append(marks)
            gx = finite(layout.grid_x)
            if has_finite(gx):
                fit.setXRange(np.nanmin(gx), np.nanmax(gx), padding=0.02)
            if has_finite(y):
                lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
                pad = 0.2 * max(hi - lo, 1e-6)
                fit.setYRange(lo - pad, hi + pad, padding=0)
            fit.enableAutoRange(x=False, y=False)
            self._fit_view.show()
        else:
            self._data_points = None
            self._fit_view.hide()

        self._icons = [lane_icon(lane, t) for lane in range(layout.n_lanes)]
        self._table.setRowCount(layout.n_lanes)
        for r in range(layout.n_lanes):
            for c in range(len(_COLUMNS)):
                item = QTableWidgetItem("")
                align = Qt.AlignmentFlag.AlignLeft if c in (1, 5) else Qt.AlignmentFlag.AlignRight
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                self._table.setItem(r, c, item)
        self._rows = []
        self._fit_table_height()

    def _fit_table_height(self) -> None:
        # The leaderboard is what the class reads first: it keeps room for up
        # to six rows, and the fitted curves above it give way (presentation
        # text on a 1024×768 projector would otherwise leave two rows).
        table = self._table
        rows = min(max(table.rowCount(), 1), 6)
        table.setMinimumHeight(
            table.horizontalHeader().sizeHint().height()
            + rows * table.verticalHeader().defaultSectionSize()
            + table.horizontalScrollBar().sizeHint().height()
            + 2 * table.frameWidth()
        )

    def _style_items(self) -> None:
        t = self._theme
        scale = self._font_scale
        for lane, curve in enumerate(self._curves):
            color = lane_color(lane, t)
            curve.setPen(self._lane_pen(lane))
            curve.setProperty("gradvizDense", None)
            for marks in (self._samples[lane], self._marks[lane]):
                self._style_marker(marks, color, 8, edge=t.background)
            self._samples[lane].setPen(self._lane_pen(lane))
            self._style_marker(self._edit_marks[lane], color, 12)
            self._style_marker(self._diverge_marks[lane], color, 16, edge=color, edge_width=2)
        for lane, item in enumerate(self._fits):
            item.setPen(self._lane_pen(lane, width=2.5))
            self._style_marker(self._fit_marks[lane], lane_color(lane, t), 8, edge=t.background)
        if self._data_points is not None:
            self._data_points.setBrush(pg.mkBrush(QColor(t.muted)))
            self._data_points.setSize(self._px(5))
        if self._threshold_line is not None:
            self._threshold_line.setPen(pg.mkPen(t.muted, width=self._px(1), style=Qt.PenStyle.DashLine))
        font = t.font(scale, -0.5)
        for label in self._edit_labels:
            label.setFont(font)
            label.setColor(t.foreground)
        if self._threshold_line is not None:
            self._threshold_line.label.setFont(font)
            self._threshold_line.label.setColor(t.muted)
        self._icons = [lane_icon(lane, t, size=round(14 * scale)) for lane in range(len(self._curves))]
        for row in range(self._table.rowCount()):
            name_item = self._table.item(row, 1)
            if name_item is not None:
                name_item.setData(_LANE_ROLE, None)  # the next fill sets the new icon
        table_font = t.font(scale)
        self._table.setFont(table_font)
        header_font = QFont(table_font)
        header_font.setBold(True)
        self._table.horizontalHeader().setFont(header_font)
        self._table.verticalHeader().setDefaultSectionSize(round(24 * scale))
        self._fit_table_height()
        for widget in (self._log_box, self._threshold_label, self._threshold_box):
            widget.setFont(table_font)
        if self._rows:
            self._fill_table()

    # rendering -----------------------------------------------------------

    def loss_series(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of the loss curves up to ``epoch``: y is (lanes, epochs), inf → NaN.

        At epoch 0 the loss is the whole-data loss at initialization
        (``full_loss``), because no epoch has been trained to average over.
        """
        h = self._history
        assert h is not None
        row = h.row(epoch)
        x = h.epochs[: row + 1].astype(np.float64)
        y = finite(h.loss[:, : row + 1])
        if h.first_epoch == 0:
            y[:, 0] = finite(h.full_loss[:, 0])
        return x, y

    def _on_manual_range(self, axes: object) -> None:
        # pyqtgraph says which axes the learner panned or zoomed: leave their
        # loss axis alone if it was one of them (a zoom along the epochs keeps it fitted).
        try:
            y_changed = bool(axes[1])  # type: ignore[index]
        except (TypeError, IndexError):
            y_changed = True
        if y_changed:
            self._follow_y = False

    def _fit_loss_range(self, shown: np.ndarray) -> None:
        """Fit the loss axis to the visible lanes' curves (in log10 on a log axis)."""
        plot = self._loss_plot
        if not self._follow_y or plot is None:
            return
        rows = shown[np.asarray(self._lane_visible, dtype=bool)]
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log10(rows) if self._log else rows
        values = values[np.isfinite(values)]
        if not values.size:
            return
        lo, hi = float(values.min()), float(values.max())
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        plot.setYRange(lo, hi, padding=0.06)
        # Move the curves to the new range now, not when the view next paints:
        # moving them mid-paint made Qt paint the plot a second time.
        plot.getViewBox().updateMatrix()

    def _view_y(self, value: float) -> float:
        return float(np.log10(max(value, self.LOG_FLOOR))) if self._log else value

    def _render(self, epoch: int) -> None:
        h = self._history
        assert h is not None
        x, y = self.loss_series(epoch)
        shown = np.maximum(y, self.LOG_FLOOR) if self._log else y  # NaN stays NaN
        first = h.first_epoch
        diverged_at = h.diverged_epoch()
        edits = [e for e in h.edits if e.epoch <= epoch]
        plot = self._loss_plot
        assert plot is not None
        x_max = plot.viewRange()[0][1]
        if epoch > x_max:
            plot.setXRange(first, epoch * 1.25, padding=0.02)
        self._fit_loss_range(shown)

        for lane, curve in enumerate(self._curves):
            ys = shown[lane]
            if has_finite(ys):
                curve.setData(x, ys)
                self._fit_pen_to_density(curve, lane, len(x))
            else:
                clear_data(curve)
            idx = marker_indices(len(x), self._mark_step, lane, len(self._curves))
            idx = idx[np.isfinite(ys[idx])]
            # A scatter item knows nothing of the plot's log mode: give it log10 itself.
            self._marks[lane].setData(x=x[idx], y=np.log10(ys[idx]) if self._log else ys[idx])
            ex = [e.epoch for e in edits if e.lane == lane and np.isfinite(shown[lane, e.epoch - first])]
            if ex:
                ex_arr = np.asarray(ex, dtype=np.float64)
                self._edit_marks[lane].setData(ex_arr, shown[lane, np.asarray(ex) - first])
            else:
                clear_data(self._edit_marks[lane])
            d = diverged_at[lane]
            ok = np.flatnonzero(np.isfinite(ys))
            if 0 <= d <= epoch and ok.size:
                self._diverge_marks[lane].setData([x[ok[-1]]], [ys[ok[-1]]])
            else:
                clear_data(self._diverge_marks[lane])

        recent = [e for e in edits if self._lane_visible[e.lane]][-self.MAX_EDIT_LABELS:]
        for i, label in enumerate(self._edit_labels):
            if i < len(recent) and np.isfinite(shown[recent[i].lane, recent[i].epoch - first]):
                e = recent[i]
                label.setText(_fmt_edit(e.name, e.value, e.previous))
                label.setColor(lane_color(e.lane, self._theme))
                label.setPos(e.epoch, self._view_y(float(shown[e.lane, e.epoch - first])))
                label.setVisible(True)
            else:
                label.setVisible(False)
        if self._threshold_line is not None:
            self._threshold_line.setValue(self._view_y(self._threshold))

        if self._fits:
            pred = h.prediction(epoch)
            grid = finite(h.layout.grid_x) if h.layout.grid_x is not None else None
            for lane, item in enumerate(self._fits):
                p = None if pred is None else finite(pred[lane])
                if p is not None and grid is not None and has_finite(p):
                    item.setData(grid, p)
                    idx = marker_indices(len(grid), max(1, len(grid) // 8), lane, len(self._fits))
                    idx = idx[np.isfinite(p[idx]) & np.isfinite(grid[idx])]
                    self._fit_marks[lane].setData(x=grid[idx], y=p[idx])
                else:
                    clear_data(item)
                    clear_data(self._fit_marks[lane])

        self._rows = self._rank(y, epoch, diverged_at)
        self._fill_table()

    def _rank(self, y: np.ndarray, epoch: int, diverged_at: np.ndarray) -> list[LeaderboardRow]:
        h = self._history
        assert h is not None
        ok = np.isfinite(y)
        current = np.where(ok[:, -1], y[:, -1], np.nan)
        best = np.where(ok, y, np.inf).min(axis=1)
        best[np.isinf(best)] = np.nan
        hits = ok & (y <= self._threshold)
        reached = np.where(hits.any(axis=1), h.first_epoch + hits.argmax(axis=1), -1)
        rows = []
        for lane, name in enumerate(h.layout.lane_names):
            d = int(diverged_at[lane])
            rows.append(LeaderboardRow(lane, name, float(current[lane]), float(best[lane]),
                                       int(reached[lane]), d if 0 <= d <= epoch else -1))

        def key(r: LeaderboardRow) -> tuple[int, float, float]:
            if r.diverged >= 0:  # diverged at the bottom; the one that lasted longer first
                return (2, -r.diverged, 0.0)
            if not np.isfinite(r.loss):
                return (1, 0.0, 0.0)
            return (0, r.loss, r.best)

        return sorted(rows, key=key)

    def _fill_table(self) -> None:
        t = self._theme
        vermillion = QColor("#D55E00")
        for rank, r in enumerate(self._rows):
            cells = (
                str(rank + 1),
                r.name,
                # A diverged lane has no loss any more: its cell says when it went
                # (short enough for a narrow leaderboard; the tooltip and the
                # caption, ✕ = diverged, say it in full).
                f"✕ @{r.diverged}" if r.diverged >= 0 else _fmt_loss(r.loss),
                _fmt_loss(r.best),
                f"epoch {r.reached}" if r.reached >= 0 else "—",
            )
            visible = self._lane_visible[r.lane]
            for c, text in enumerate(cells):
                item = self._table.item(rank, c)
                if item is None:
                    continue
                if item.text() != text:
                    item.setText(text)
                if c == _LOSS_COLUMN:
                    item.setToolTip(f"Diverged at epoch {r.diverged}: its loss or gradients became "
                                    "infinite or NaN, so it stopped" if r.diverged >= 0 else "")
                if c == _LOSS_COLUMN and r.diverged >= 0:
                    item.setForeground(vermillion)
                elif not visible:
                    item.setForeground(QColor(t.muted))
                else:
                    item.setData(Qt.ItemDataRole.ForegroundRole, None)
            name_item = self._table.item(rank, 1)
            tip = f"{r.name}{'' if visible else ' (hidden)'}"
            if name_item is not None and (name_item.data(_LANE_ROLE) != r.lane or name_item.toolTip() != tip):
                name_item.setIcon(self._icons[r.lane])
                name_item.setData(_LANE_ROLE, r.lane)
                name_item.setToolTip(tip)

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        for items in (self._curves, self._edit_marks, self._diverge_marks, self._fits, self._marks,
                      self._fit_marks, self._samples):
            if lane < len(items):
                items[lane].setVisible(visible)

