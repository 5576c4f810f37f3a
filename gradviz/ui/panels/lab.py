"""The Lab: every lane's loss as one cell of an activation × initializer (rows) × optimizer (columns) matrix.

Notebook section 7's conclusion, at a glance: which combinations of
activation, initialization and optimizer make a deep network learnable.
The matrix fills in live, epoch by epoch; clicking a cell selects that lane.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QWidget

from gradviz.engine.history import RunHistory
from gradviz.engine.lab import LabGrid, lab_grid
from gradviz.ui.panels.base import Panel, finite
from gradviz.ui.theme import LIGHT, Theme, superscript

__all__ = ["NOT_A_GRID", "LabPanel"]

NOT_A_GRID = "This run's lanes do not form an activation × initializer × optimizer grid."

_COLORMAP = "viridis"  # perceptually uniform; dark = low loss
_DARK_TEXT, _LIGHT_TEXT = "#111111", "#FFFFFF"


def _fmt_loss(value: float) -> str:
    if not np.isfinite(value):
        return ""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"


def _fmt_level(log10_value: float) -> str:
    return f"{10.0 ** log10_value:.2g}"


class LabPanel(Panel):
    """Every lane's loss at the selected epoch, as a matrix of its combination.

    Rows are (activation, initializer) pairs, columns optimizers, as
    :func:`gradviz.engine.lab.lab_grid` arranges the lanes.  Colour is log10
    of the loss on a scale fixed when the run is bound (never re-levelled per
    frame): from the highest loss at initialization down :attr:`decades`
    decades.  Each cell also shows its number.  A diverged lane's cell is
    hatched and says when it diverged; a cell without a lane stays blank.

    At epoch 0 the loss is the whole-data loss at initialization
    (``full_loss``); from epoch 1 on, the epoch's mean batch loss, as in the
    race.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.
    decades
        How many decades below the highest starting loss the colour scale
        reaches (at least one below the lowest starting loss).

    Signals
    -------
    lane_selected(int)
        The lane index of a cell the user clicked.
    """

    title = "Lab"
    name = "lab"
    #: Used when the first recorded epoch has no finite loss to scale by.
    FALLBACK_LEVELS: tuple[float, float] = (-3.0, 0.0)
    #: Losses at or below this (exact 0) are coloured as it.
    LOG_FLOOR = 1e-30

    lane_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT, decades: float = 3.0) -> None:
        super().__init__(parent, theme)
        if not (math.isfinite(decades) and decades > 0):
            raise ValueError(f"decades must be a positive number, not {decades!r}")
        self._decades = float(decades)
        self._view = self._new_view()
        self._view.setMouseTracking(True)
        self._layout.addWidget(self._view, 1)
        self._message = QLabel(NOT_A_GRID)
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.hide()
        self._layout.addWidget(self._message, 1)
        self._caption = self._add_caption("")
        self._layout.addWidget(self._caption)

        self._forget_items()
        lut = pg.colormap.get(_COLORMAP).getLookupTable(0.0, 1.0, 256, mode="float")
        # Relative luminance of each colour: dark text on the bright end, white on the dark end.
        self._text_is_dark = (0.2126 * lut[:, 0] + 0.7152 * lut[:, 1] + 0.0722 * lut[:, 2]) > 0.45

        scene = self._view.scene()
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        scene.sigMouseMoved.connect(self._on_scene_hovered)

    # public extras -------------------------------------------------------

    @property
    def grid(self) -> LabGrid | None:
        """Where each lane sits; ``None`` if the run's lanes do not form a grid."""
        return self._grid

    @property
    def is_grid(self) -> bool:
        return self._grid is not None

    @property
    def message(self) -> QLabel:
        """The note shown instead of the matrix when the run is not a grid."""
        return self._message

    @property
    def plot(self) -> pg.PlotItem | None:
        return self._plot

    @property
    def image(self) -> pg.ImageItem | None:
        """(rows, columns) log10 of each cell's loss; NaN where blank or diverged."""
        return self._image

    @property
    def color_bar(self) -> pg.ColorBarItem | None:
        return self._color_bar

    @property
    def levels(self) -> tuple[float, float] | None:
        """The fixed (low, high) of the colour scale in log10 units (``None`` until known)."""
        return self._levels

    @property
    def decades(self) -> float:
        return self._decades

    def cell_values(self) -> np.ndarray:
        """(rows, columns) the loss each cell shows at the rendered epoch; NaN where none."""
        return self._values.copy()

    def cell_text(self, row: int, col: int) -> pg.TextItem:
        """The text item written in cell (``row``, ``col``)."""
        return self._texts[row][col]

    def cell_hatch(self, row: int, col: int) -> QGraphicsRectItem:
        """The hatched square shown over a diverged cell."""
        return self._hatches[row][col]

    def cell_center(self, row: int, col: int) -> QPointF:
        """The centre of a cell in the plot's data coordinates (x = column, y = row)."""
        return QPointF(float(col), float(row))

    def lane_at(self, x: float, y: float) -> int | None:
        """The lane of the cell at data coordinates (``x``, ``y``), or ``None``."""
        grid = self._grid
        if grid is None or not (math.isfinite(x) and math.isfinite(y)):
            return None
        col, row = math.floor(x + 0.5), math.floor(y + 0.5)
        rows, cols = grid.cell_lane.shape
        if not (0 <= row < rows and 0 <= col < cols):
            return None
        lane = int(grid.cell_lane[row, col])
        return lane if lane >= 0 else None

    def lane_at_scene(self, pos: QPointF) -> int | None:
        """The lane of the cell under scene position ``pos`` (as in a mouse event), or ``None``."""
        if self._plot is None:
            return None
        vb = self._plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return None
        p = vb.mapSceneToView(pos)
        return self.lane_at(p.x(), p.y())

    @property
    def selected_lane(self) -> int | None:
        return self._selected_lane

    def set_selected_lane(self, lane: int | None) -> None:
        """Outline ``lane``'s cell (``None``: no outline); does not emit :attr:`lane_selected`."""
        self._selected_lane = lane
        self._place_selection()

    # building ------------------------------------------------------------

    def _forget_items(self) -> None:
        # The widgets as a fresh panel has them: the matrix (empty), no note, no caption.
        self._view.setToolTip("")
        self._caption.setText("")
        self._show_note(self._message, False, self._view, self._caption)
        self._grid: LabGrid | None = None
        self._plot: pg.PlotItem | None = None
        self._image: pg.ImageItem | None = None
        self._color_bar: pg.ColorBarItem | None = None
        self._texts: list[list[pg.TextItem]] = []
        self._hatches: list[list[QGraphicsRectItem]] = []
        self._selection: QGraphicsRectItem | None = None
        self._separators: pg.PlotCurveItem | None = None
        self._selected_lane: int | None = None
        self._levels: tuple[float, float] | None = None
        self._values = np.zeros((0, 0))
        self._diverged_at = np.zeros((0, 0), dtype=int)
        self._hover_lane: int | None = None
        self._text_state: list[list[tuple[str, str, str | None] | None]] = []

    def _bind(self, history: RunHistory) -> None:
        self._view.clear()
        self._plot, self._image, self._color_bar, self._selection = None, None, None, None
        self._separators = None
        self._texts, self._hatches = [], []
        self._hover_lane = None
        self._selected_lane = None
        grid = lab_grid(history.layout.spec)
        self._grid = grid
        self._show_note(self._message, grid is None, self._view, self._caption)
        if grid is None:
            self._values = np.zeros((0, 0))
            self._levels = None
            return
        n_rows, n_cols = grid.cell_lane.shape
        self._values = np.full((n_rows, n_cols), np.nan)
        self._diverged_at = np.full((n_rows, n_cols), -1, dtype=int)

        plot = self._add_plot(self._view.ci, 0, 0, grid=(False, False))
        self._plot = plot
        plot.setMouseEnabled(x=False, y=False)
        plot.invertY(True)  # row 0 at the top, as a table reads
        plot.showAxis("top")
        plot.hideAxis("bottom")
        plot.getAxis("left").setTicks([[(float(r), f"{a} · {i}") for r, (a, i) in enumerate(grid.rows)]])
        plot.getAxis("top").setTicks([[(float(c), name) for c, name in enumerate(grid.columns)]])
        self._set_label(plot, "left", "activation · initializer")
        self._set_label(plot, "top", "optimizer")
        plot.setXRange(-0.5, n_cols - 0.5, padding=0)
        plot.setYRange(-0.5, n_rows - 0.5, padding=0)
        plot.enableAutoRange(x=False, y=False)

        image = pg.ImageItem(axisOrder="row-major")
        image.setNanPolicy("omit")  # blank and diverged cells let the background through
        plot.addItem(image)
        self._image = image

        for r in range(n_rows):
            texts, hatches = [], []
            for c in range(n_cols):
                hatch = QGraphicsRectItem(QRectF(c - 0.5, r - 0.5, 1.0, 1.0))
                hatch.setPen(QPen(Qt.PenStyle.NoPen))
                hatch.setZValue(5)
                hatch.setVisible(False)
                plot.addItem(hatch, ignoreBounds=True)
                text = pg.TextItem("", anchor=(0.5, 0.5))
                text.setPos(c, r)
                text.setZValue(10)
                plot.addItem(text, ignoreBounds=True)
                texts.append(text)
                hatches.append(hatch)
            self._texts.append(texts)
            self._hatches.append(hatches)
        self._text_state = [[None] * n_cols for _ in range(n_rows)]
        # Thin background-coloured lines between cells, so equal colours still read as separate cells.
        xs = [(c + 0.5, c + 0.5) for c in range(n_cols - 1)]
        ys = [(r + 0.5, r + 0.5) for r in range(n_rows - 1)]
        sep_x = [v for c, _ in xs for v in (c, c)] + [v for _ in ys for v in (-0.5, n_cols - 0.5)]
        sep_y = [v for _ in xs for v in (-0.5, n_rows - 0.5)] + [v for r, _ in ys for v in (r, r)]
        self._separators = pg.PlotCurveItem(np.asarray(sep_x, float), np.asarray(sep_y, float), connect="pairs")
        self._separators.setZValue(6)
        plot.addItem(self._separators, ignoreBounds=True)
        selection = QGraphicsRectItem(QRectF(-0.5, -0.5, 1.0, 1.0))
        selection.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        selection.setZValue(20)
        selection.setVisible(False)
        plot.addItem(selection, ignoreBounds=True)
        self._selection = selection

        self._levels = self._levels_from(history) if len(history) else None
        levels = self._levels or self.FALLBACK_LEVELS
        self._color_bar = pg.ColorBarItem(values=levels, colorMap=_COLORMAP, interactive=False, width=14)
        self._color_bar.setImageItem(image)
        self._view.ci.addItem(self._color_bar, row=0, col=1)
        self._view.ci.layout.setColumnStretchFactor(0, 1)
        self._view.ci.layout.setColumnStretchFactor(1, 0)
        self._update_levels_text()

    def _levels_from(self, history: RunHistory) -> tuple[float, float]:
        """From the highest loss at the first recorded epoch down ``decades`` decades
        (and at least one decade below the lowest), so every start is on the scale."""
        start = finite(history.full_loss[:, 0])
        start = start[np.isfinite(start) & (start > 0)]
        if not start.size:
            return self.FALLBACK_LEVELS
        hi = float(np.log10(start.max()))
        lo = min(hi - self._decades, float(np.log10(start.min())) - 1.0)
        return (lo, hi)

    def _update_levels_text(self) -> None:
        levels = self._levels or self.FALLBACK_LEVELS
        lo, hi = levels
        if self._color_bar is not None:
            self._color_bar.setLevels(levels)
            major = [(float(k), superscript(k)) for k in range(math.ceil(lo), math.floor(hi) + 1)]
            self._color_bar.axis.setTicks([major, []])
        if self._levels is None:
            scale = "The colour scale is fixed once the first epoch arrives."
        else:
            scale = (f"Colour: log scale fixed for this run, from the highest loss at initialization "
                     f"({_fmt_level(hi)}) down to {_fmt_level(lo)} ({self._decades:g} decades lower).")
        self._caption.setText(
            "Each cell: one lane's loss at the selected epoch (epoch 0: over all training data at "
            "initialization; later: the epoch's mean batch loss). " + scale +
            " <b>Darker = lower loss = better</b>; brightest: at or above the highest starting loss. "
            "✕ hatched: diverged (at that epoch). Blank: no lane for that combination. "
            "Click a cell to open that lane in the other panels."
        )

    def _style_items(self) -> None:
        t = self._theme
        font = t.font(self._font_scale)
        for texts in self._texts:
            for text in texts:
                text.setFont(font)
        hatch = QBrush(QColor(t.muted), Qt.BrushStyle.BDiagPattern)
        for hatches in self._hatches:
            for item in hatches:
                item.setBrush(hatch)
        if self._separators is not None:
            self._separators.setPen(pg.mkPen(t.background, width=2))
        if self._selection is not None:
            pen = QPen(QColor(t.foreground))
            pen.setWidthF(3.0)
            pen.setCosmetic(True)
            self._selection.setPen(pen)
        if self._color_bar is not None:
            axis = self._color_bar.axis
            axis.setPen(pg.mkPen(t.foreground))
            axis.setTextPen(pg.mkPen(t.foreground))
            axis.setStyle(tickFont=t.font(self._font_scale, -0.5), textFillLimits=[(0, 0.95)])
            axis.setLabel("loss (colour, log scale)", **self._label_style())
            axis.setWidth(None)  # ColorBarItem fixes 45 px, too narrow for scaled-up labels
        self._message.setStyleSheet(
            f"color: {t.foreground}; font-size: {t.point_size(self._font_scale, 2):.1f}pt;"
        )
        if self._texts:
            self._text_state = [[None] * len(row) for row in self._texts]  # theme colours changed
            self._fill_texts()

    # rendering -----------------------------------------------------------

    def _render(self, epoch: int) -> None:
        h = self._history
        grid = self._grid
        assert h is not None
        if grid is None or self._image is None:
            return
        if self._levels is None:  # bound before the first report: fix the scale now, once
            self._levels = self._levels_from(h)
            self._update_levels_text()
        row = h.row(epoch)
        per_lane = finite(h.full_loss[:, row] if epoch == 0 else h.loss[:, row])
        diverged_at = h.diverged_epoch()
        cells = grid.cell_lane
        present = cells >= 0
        lanes = np.where(present, cells, 0)
        values = np.where(present, per_lane[lanes], np.nan)
        div = np.where(present, diverged_at[lanes], -1)
        div = np.where((div >= 0) & (div <= epoch), div, -1)
        visible = np.asarray(self._lane_visible, dtype=bool)
        shown = present & visible[lanes]
        values = np.where(shown & (div < 0), values, np.nan)
        self._values = values
        self._diverged_at = np.where(shown, div, -1)
        ok = np.isfinite(values) & (values >= 0)
        logs = np.full(values.shape, np.nan)
        logs[ok] = np.log10(np.maximum(values[ok], self.LOG_FLOOR))
        assert self._levels is not None
        self._image.setImage(logs, autoLevels=False, levels=self._levels)
        rows, cols = logs.shape
        self._image.setRect(QRectF(-0.5, -0.5, cols, rows))  # after setImage: it scales by the image size
        self._fill_texts()
        self._hover_lane = None  # the tooltip's numbers are of the previous epoch

    def _fill_texts(self) -> None:
        t = self._theme
        lo, hi = self._levels or self.FALLBACK_LEVELS
        for r, texts in enumerate(self._texts):
            for c, text in enumerate(texts):
                value = self._values[r, c]
                d = int(self._diverged_at[r, c])
                if d >= 0:
                    state = (f"✕ diverged @ {d}", t.foreground, t.background)
                elif np.isfinite(value):
                    frac = 0.0 if value <= 0 else (math.log10(value) - lo) / (hi - lo)
                    idx = round(min(max(frac, 0.0), 1.0) * (len(self._text_is_dark) - 1))
                    state = (_fmt_loss(value), _DARK_TEXT if self._text_is_dark[idx] else _LIGHT_TEXT, None)
                else:
                    state = ("", t.foreground, None)
                if self._text_state[r][c] == state:
                    continue  # most cells do not change between frames
                self._text_state[r][c] = state
                content, color, fill = state
                if fill is None:
                    text.fill = pg.mkBrush(None)
                else:  # diverged: the text sits on the hatching, so give it a backing
                    backing = QColor(fill)
                    backing.setAlpha(215)
                    text.fill = pg.mkBrush(backing)
                text.setText(content)
                text.setColor(color)
                self._hatches[r][c].setVisible(d >= 0)

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        # Cells are redrawn by render(), which the base class calls next: a
        # hidden lane's cell is left blank.
        del lane, visible

    def _place_selection(self) -> None:
        sel, grid = self._selection, self._grid
        if sel is None or grid is None:
            return
        hits = np.argwhere(grid.cell_lane == self._selected_lane) if self._selected_lane is not None else []
        if len(hits):
            r, c = (int(v) for v in hits[0])
            sel.setRect(QRectF(c - 0.5, r - 0.5, 1.0, 1.0))
            sel.setVisible(True)
        else:
            sel.setVisible(False)

    # mouse -----------------------------------------------------------------

    def _on_scene_clicked(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        lane = self.lane_at_scene(event.scenePos())
        if lane is None:
            return
        self.set_selected_lane(lane)
        self.lane_selected.emit(lane)

    def _on_scene_hovered(self, pos: QPointF) -> None:
        lane = self.lane_at_scene(pos)
        if lane == self._hover_lane:
            return
        self._hover_lane = lane
        h = self._history
        if lane is None or h is None or self._grid is None:
            self._view.setToolTip("")
            return
        r, c = (int(v) for v in np.argwhere(self._grid.cell_lane == lane)[0])
        value = self._values[r, c] if self._values.size else np.nan
        d = int(self._diverged_at[r, c]) if self._diverged_at.size else -1
        state = f"diverged at epoch {d}" if d >= 0 else f"loss {_fmt_loss(value) or '—'}"
        self._view.setToolTip(f"{h.layout.lane_names[lane]}\n{state} at epoch {self._epoch}\n"
                              "Click to open this lane in the other panels")
