"""Layer Jacobians: notebook section 4's product ∂L/∂x₀ = ∏ Jᵢ · ∂L/∂xₙ, made visible.

Left, per lane, how much the product of Jacobians from the output back to
each layer can stretch a gradient, beside the gradient norm actually
measured there: where the product falls by decades, so does the gradient
heatmap.  Right, each layer's own Jacobian: its largest singular value and
the spread down to its smallest, against the line σ = 1 that neither
shrinks nor stretches.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontMetrics, QPen
from PySide6.QtWidgets import QWidget

from gradviz.engine.history import RunHistory
from gradviz.ui.panels.base import Panel, clear_data, finite, grouped_offsets, has_finite, layer_ticks
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_symbol, superscript

__all__ = ["JacobiansPanel", "clamp_to_floor"]



def clamp_to_floor(values: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """``values`` for a log axis: [0, floor] lifted to ``floor``, negative/inf/NaN → NaN.

    Returns the clamped values and a mask of the ones that were lifted (a
    log axis cannot show 0, so those are drawn at the floor and marked).
    """
    v = finite(values)
    ok = np.isfinite(v) & (v >= 0)
    out = np.where(ok, np.maximum(v, floor), np.nan)
    lifted = ok & (v <= floor)
    return out, lifted


def _format_x(x: np.ndarray | None) -> str:
    if x is None:
        return "the probe input"
    flat = np.asarray(x, dtype=np.float64).ravel()
    if flat.size == 1:
        return f"x = {flat[0]:.3g}"
    shown = ", ".join(f"{v:.3g}" for v in flat[:3])
    return f"x = ({shown}{', …' if flat.size > 3 else ''})"


class _GrowingRange:
    """A log-axis y range that only widens: scrubbing never makes the axis jump."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def include(self, values: np.ndarray) -> bool:
        """Widen to whole decades around the finite positive ``values``; True if it changed."""
        v = values[np.isfinite(values) & (values > 0)]
        if not v.size:
            return False
        lo = float(np.floor(np.log10(v.min()) - 0.05))
        hi = float(np.ceil(np.log10(v.max()) + 0.05))
        changed = lo < self.low or hi > self.high
        self.low, self.high = min(self.low, lo), max(self.high, hi)
        return changed


class JacobiansPanel(Panel):
    """How each layer's Jacobian shrinks or stretches the gradient flowing back.

    For a Dense layer, Jᵢ = diag(φ′(zᵢ))·Wᵢᵀ at the probe input
    (``layout.jacobian_x``; the notebook's x = 0.5).  Backpropagation
    multiplies them, ∂L/∂x₀ = J₁ᵀ ⋯ J_Lᵀ · ∂L/∂x_L, so the gradient reaching
    layer i is scaled by at most σ_max(J_L ⋯ Jᵢ) (``product_to_output``).

    Left: that product per layer (filled markers) beside the measured kernel
    gradient norm ``grad_norm`` (hollow markers, dashed), lanes overlaid.
    Right: σ_max of each layer's Jacobian, with a vertical segment down to
    σ_min, and the line σ = 1.  Both on log axes; values a log axis cannot
    show (0, e.g. a singular Jacobian of dead ReLUs) are drawn at a floor and
    marked ✕.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.
    """

    title = "Jacobians"
    name = "jacobians"
    #: product and gradient norms at or below this are drawn at it (✕).
    PRODUCT_FLOOR = 1e-12
    #: singular values at or below this (σ_min = 0 for dead ReLUs) are drawn at it (✕).
    SIGMA_FLOOR = 1e-6
    #: above this many lanes the legend would cover the plots; the lane list names them.
    MAX_LEGEND_LANES = 12

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent, theme)
        self._view = self._new_view()
        self._layout.addWidget(self._view, 1)
        self._caption = self._add_caption("")
        self._layout.addWidget(self._caption)
        self._forget_items()

    # public extras -------------------------------------------------------

    @property
    def product_plot(self) -> pg.PlotItem | None:
        """The plot of ∏ Jacobians and the measured gradient per layer."""
        return self._product_plot

    @property
    def sigma_plot(self) -> pg.PlotItem | None:
        """The plot of each layer's singular values."""
        return self._sigma_plot

    @property
    def unit_line(self) -> pg.InfiniteLine | None:
        """The horizontal line σ = 1 on the singular-value plot."""
        return self._unit_line

    @property
    def sigma_offsets(self) -> np.ndarray:
        """x offset of each lane's singular-value marks from the layer number (side by side)."""
        return self._offsets.copy()

    def product_curve(self, lane: int) -> pg.PlotDataItem:
        """``product_to_output`` of ``lane`` per layer (floor-clamped)."""
        return self._product[lane]

    def measured_curve(self, lane: int) -> pg.PlotDataItem:
        """``grad_norm`` of ``lane`` per layer (floor-clamped)."""
        return self._measured[lane]

    def product_floor_marks(self, lane: int) -> pg.PlotDataItem:
        """✕ where ``lane``'s product or gradient was at or below :attr:`PRODUCT_FLOOR`."""
        return self._product_marks[lane]

    def sigma_max_curve(self, lane: int) -> pg.PlotDataItem:
        return self._sigma_max[lane]

    def sigma_spread(self, lane: int) -> pg.PlotDataItem:
        """Vertical segments σ_min … σ_max per layer (pairs of points, ``connect="pairs"``)."""
        return self._spread[lane]

    def sigma_floor_marks(self, lane: int) -> pg.PlotDataItem:
        """✕ where ``lane``'s σ_min was at or below :attr:`SIGMA_FLOOR` (singular Jacobian)."""
        return self._sigma_marks[lane]

    # building ------------------------------------------------------------

    def _forget_items(self) -> None:
        self._caption.setText("")
        self._product_plot: pg.PlotItem | None = None
        self._sigma_plot: pg.PlotItem | None = None
        self._product: list[pg.PlotDataItem] = []
        self._measured: list[pg.PlotDataItem] = []
        self._product_marks: list[pg.PlotDataItem] = []
        self._sigma_max: list[pg.PlotDataItem] = []
        self._spread: list[pg.PlotDataItem] = []
        self._sigma_marks: list[pg.PlotDataItem] = []
        self._key: list[pg.PlotDataItem] = []
        self._unit_line: pg.InfiniteLine | None = None
        self._product_range = _GrowingRange(-1.0, 0.0)
        self._sigma_range = _GrowingRange(-1.0, 1.0)
        self._offsets = np.zeros(0)

    def _bind(self, history: RunHistory) -> None:
        layout = history.layout
        t = self._theme
        n, n_layers = layout.n_lanes, layout.max_layers
        self._view.clear()
        ticks = layer_ticks(n_layers)
        offsets, _width = grouped_offsets(n, group_width=0.5)
        self._offsets = offsets

        product = self._add_plot(self._view.ci, 0, 0, grid=(False, True))
        self._product_plot = product
        self._set_title(product, "Predicted ∏ Jᵢ vs measured gradient")
        self._set_label(product, "left", "σ_max(J_L ⋯ Jᵢ)  and  ‖∂L/∂Wᵢ‖")
        self._set_label(product, "bottom", "layer (1 = input side)")
        sigma = self._add_plot(self._view.ci, 0, 1, grid=(False, True))
        self._sigma_plot = sigma
        self._set_title(sigma, "Singular values of each Jᵢ")
        self._set_label(sigma, "left", "singular value of Jᵢ")
        self._set_label(sigma, "bottom", "layer (1 = input side)")
        for plot in (product, sigma):
            plot.setLogMode(y=True)
            plot.getAxis("bottom").setTicks([ticks])
            plot.setXRange(0.5, n_layers + 0.5, padding=0.01)
            plot.setMouseEnabled(x=False, y=False)
            plot.enableAutoRange(x=False, y=False)

        self._product, self._measured, self._product_marks = [], [], []
        self._sigma_max, self._spread, self._sigma_marks = [], [], []
        for lane in range(n):
            color = lane_color(lane, t)
            symbol = lane_symbol(lane)
            prod = pg.PlotDataItem(pen=self._product_pen(lane), symbol=symbol, symbolSize=8, symbolBrush=color,
                                   symbolPen=pg.mkPen(color), connect="finite")
            meas = pg.PlotDataItem(pen=self._measured_pen(lane), symbol=symbol, symbolSize=8,
                                   symbolBrush=pg.mkBrush(t.background), symbolPen=pg.mkPen(color, width=1.5),
                                   connect="finite")
            pmarks = pg.PlotDataItem(pen=None, symbol="x", symbolSize=12, symbolBrush=color,
                                     symbolPen=pg.mkPen(color, width=2))
            for item in (meas, prod, pmarks):
                product.addItem(item)
            smax = pg.PlotDataItem(pen=None, symbol=symbol, symbolSize=8, symbolBrush=color,
                                   symbolPen=pg.mkPen(color))
            spread = pg.PlotDataItem(pen=pg.mkPen(color, width=2), connect="pairs")
            smarks = pg.PlotDataItem(pen=None, symbol="x", symbolSize=12, symbolBrush=color,
                                     symbolPen=pg.mkPen(color, width=2))
            for item in (spread, smax, smarks):
                sigma.addItem(item)
            self._product.append(prod)
            self._measured.append(meas)
            self._product_marks.append(pmarks)
            self._sigma_max.append(smax)
            self._spread.append(spread)
            self._sigma_marks.append(smarks)

        self._unit_line = pg.InfiniteLine(pos=0.0, angle=0, movable=False, pen=self._unit_pen())
        sigma.addItem(self._unit_line, ignoreBounds=True)
        # Named in the right margin (and in full in the key below), where it never covers a marker.
        sigma.showAxis("right")
        sigma.getAxis("right").setTicks([[(0.0, "σ = 1")], []])

        # Keys under the plots, not on them: the curves can be anywhere.
        # What the marker styles mean, in a neutral colour; then the lanes.
        muted = QColor(t.muted)
        self._key = [
            pg.PlotDataItem(pen=pg.mkPen(muted, width=2), symbol="o", symbolSize=8, symbolBrush=muted,
                            symbolPen=pg.mkPen(muted)),
            pg.PlotDataItem(pen=pg.mkPen(muted, width=1.5, style=Qt.PenStyle.DashLine), symbol="o", symbolSize=8,
                            symbolBrush=pg.mkBrush(t.background), symbolPen=pg.mkPen(muted, width=1.5)),
            pg.PlotDataItem(pen=None, symbol="o", symbolSize=8, symbolBrush=muted, symbolPen=pg.mkPen(muted)),
            pg.PlotDataItem(pen=self._unit_pen()),
        ]
        key = pg.LegendItem(colCount=1)
        key.addItem(self._key[0], "predicted: ∏ Jacobians (filled, solid)")
        key.addItem(self._key[1], "measured: gradient norm (hollow, dashed)")
        unit = pg.LegendItem(colCount=1)
        unit.addItem(self._key[2], "σ_max (vertical line: down to σ_min)")
        unit.addItem(self._key[3], "σ = 1: neither shrinks nor stretches")
        self._view.ci.addItem(key, row=1, col=0)
        self._view.ci.addItem(unit, row=1, col=1)
        self._legends.extend([key, unit])
        if n <= self.MAX_LEGEND_LANES:
            lanes = self._add_row_legend(self._view, row=2, columns=min(n, 4), colspan=2)
            for lane, lane_name in enumerate(layout.lane_names):
                lanes.addItem(self._product[lane], lane_name)

        self._product_range = _GrowingRange(-1.0, 0.0)
        self._sigma_range = _GrowingRange(-1.0, 1.0)
        if len(history):
            # Cover every recorded epoch now, so scrubbing a finished run keeps the axes still.
            self._product_range.include(self._clamped_all(history, "product_to_output", self.PRODUCT_FLOOR))
            self._product_range.include(self._clamped_all(history, "grad_norm", self.PRODUCT_FLOOR))
            self._sigma_range.include(self._clamped_all(history, "sigma_max", self.SIGMA_FLOOR))
            self._sigma_range.include(self._clamped_all(history, "sigma_min", self.SIGMA_FLOOR))
        product.setYRange(self._product_range.low, self._product_range.high, padding=0.02)
        sigma.setYRange(self._sigma_range.low, self._sigma_range.high, padding=0.02)

        lanes_note = "" if n <= self.MAX_LEGEND_LANES else f" {n} lanes: hide some in the lane list to compare a few."
        self._caption.setText(
            f"Jᵢ = diag(φ′(zᵢ))·Wᵢᵀ at {_format_x(layout.jacobian_x)}, the input–output Jacobian of layer i. "
            "Backpropagation multiplies them: ∂L/∂x₀ = ∏ Jᵢ · ∂L/∂xₙ, so where the product falls by decades, "
            "so does the measured gradient (and the gradient heatmap). Singular values below 1 shrink the "
            "gradient, above 1 stretch it. "
            f"✕: a product or gradient ≤ {superscript(round(math.log10(self.PRODUCT_FLOOR)))} "
            f"(left), or σ_min = 0 (a singular Jacobian, e.g. dead ReLUs) or ≤ "
            f"{superscript(round(math.log10(self.SIGMA_FLOOR)))} (right), drawn at that floor: a log axis "
            "cannot show 0. Gaps: not finite (diverged), no such layer in that lane, or an activation "
            "that mixes a layer's units (softmax), whose Jacobian is not of this form." + lanes_note
        )
        self._view.ci.layout.setColumnStretchFactor(0, 1)
        self._view.ci.layout.setColumnStretchFactor(1, 1)

    @staticmethod
    def _clamped_all(history: RunHistory, probe: str, floor: float) -> np.ndarray:
        return clamp_to_floor(history.layer(probe), floor)[0]

    def _unit_pen(self) -> QPen:
        return pg.mkPen(self._theme.foreground, width=self._px(1.5), style=Qt.PenStyle.DashLine)

    # Solid = predicted, dashed = measured for every lane (lanes differ by colour and marker here),
    # so the two curves of one lane never share a line style.
    def _product_pen(self, lane: int) -> QPen:
        pen = self._lane_pen(lane, width=2.0)
        pen.setStyle(Qt.PenStyle.SolidLine)
        return pen

    def _measured_pen(self, lane: int) -> QPen:
        pen = self._lane_pen(lane, width=1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        return pen

    def _style_items(self) -> None:
        t = self._theme
        for lane, prod in enumerate(self._product):
            color = lane_color(lane, t)
            prod.setPen(self._product_pen(lane))
            prod.setSymbolBrush(color)
            prod.setSymbolPen(pg.mkPen(color))
            meas = self._measured[lane]
            meas.setPen(self._measured_pen(lane))
            meas.setSymbolBrush(pg.mkBrush(t.background))
            meas.setSymbolPen(pg.mkPen(color, width=1.5))
            for marks in (self._product_marks[lane], self._sigma_marks[lane]):
                marks.setSymbolBrush(color)
                marks.setSymbolPen(pg.mkPen(color, width=2))
            self._sigma_max[lane].setSymbolBrush(color)
            self._sigma_max[lane].setSymbolPen(pg.mkPen(color))
            self._spread[lane].setPen(pg.mkPen(color, width=self._px(2)))
            for item in (prod, meas, self._sigma_max[lane]):
                item.setSymbolSize(self._px(8))
        if self._key:
            muted = QColor(t.muted)
            self._key[0].setPen(pg.mkPen(muted, width=2))
            for item in (self._key[0], self._key[2]):
                item.setSymbolBrush(muted)
                item.setSymbolPen(pg.mkPen(muted))
            self._key[1].setPen(pg.mkPen(muted, width=1.5, style=Qt.PenStyle.DashLine))
            self._key[1].setSymbolBrush(pg.mkBrush(t.background))
            self._key[1].setSymbolPen(pg.mkPen(muted, width=1.5))
            self._key[3].setPen(self._unit_pen())
        if self._unit_line is not None:
            self._unit_line.setPen(self._unit_pen())
        for plot in self._plots:
            # A title longer than its plot is clipped instead of pushing the canvas past the panel.
            plot.titleLabel.setMinimumWidth(0)
        if self._sigma_plot is not None:
            # A fixed width that fits the tick text: an axis that widens itself
            # after the first paint pushes the canvas past the panel's edge.
            right = self._sigma_plot.getAxis("right")
            text = QFontMetrics(t.font(self._font_scale, -0.5)).horizontalAdvance("σ = 1")
            right.setWidth(text + 4 * max(2, round(3 * self._font_scale)))

    # rendering -----------------------------------------------------------

    def _render(self, epoch: int) -> None:
        h = self._history
        assert h is not None
        row = h.row(epoch)
        layers = np.arange(1, h.layout.max_layers + 1, dtype=np.float64)
        product, product_low = clamp_to_floor(h.layer("product_to_output")[:, row, :], self.PRODUCT_FLOOR)
        measured, measured_low = clamp_to_floor(h.layer("grad_norm")[:, row, :], self.PRODUCT_FLOOR)
        s_max, s_max_low = clamp_to_floor(h.layer("sigma_max")[:, row, :], self.SIGMA_FLOOR)
        s_min, s_min_low = clamp_to_floor(h.layer("sigma_min")[:, row, :], self.SIGMA_FLOOR)

        for lane in range(len(self._product)):
            if not self._lane_visible[lane]:
                continue  # hidden items keep stale data; showing a lane renders again
            _set(self._product[lane], layers, product[lane])
            _set(self._measured[lane], layers, measured[lane])
            low = np.concatenate([layers[product_low[lane]], layers[measured_low[lane]]])
            _set_points(self._product_marks[lane], low, np.full(low.size, self.PRODUCT_FLOOR))

            xs = layers + self._offsets[lane]
            _set_points(self._sigma_max[lane], xs[np.isfinite(s_max[lane])], s_max[lane][np.isfinite(s_max[lane])])
            both = np.isfinite(s_max[lane]) & np.isfinite(s_min[lane])
            seg_x = np.repeat(xs[both], 2)
            seg_y = np.column_stack([s_min[lane][both], s_max[lane][both]]).ravel()
            _set_points(self._spread[lane], seg_x, seg_y)
            low = s_min_low[lane] | s_max_low[lane]
            _set_points(self._sigma_marks[lane], xs[low], np.full(int(low.sum()), self.SIGMA_FLOOR))

        # Only visible lanes widen the axes; a range never shrinks, so nothing jumps while scrubbing.
        shown = np.asarray(self._lane_visible, dtype=bool)
        if self._product_range.include(np.concatenate([product[shown].ravel(), measured[shown].ravel()])):
            assert self._product_plot is not None
            self._product_plot.setYRange(self._product_range.low, self._product_range.high, padding=0.02)
        if self._sigma_range.include(np.concatenate([s_max[shown].ravel(), s_min[shown].ravel()])):
            assert self._sigma_plot is not None
            self._sigma_plot.setYRange(self._sigma_range.low, self._sigma_range.high, padding=0.02)

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        for items in (self._product, self._measured, self._product_marks, self._sigma_max, self._spread,
                      self._sigma_marks):
            items[lane].setVisible(visible)


def _set(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    """A line over layers with NaN gaps; nothing at all when no value is finite."""
    if has_finite(y):
        item.setData(x, y)
    else:
        clear_data(item)


def _set_points(item: pg.PlotDataItem, x: np.ndarray, y: np.ndarray) -> None:
    if x.size:
        item.setData(x, y)
    else:
        clear_data(item)
