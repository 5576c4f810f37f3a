"""Activations: per-layer histograms, variance by depth, saturated and dead units.

At epoch 0 this is the initialization inspector: what Glorot or He weights do
to the signal before a single step is taken.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSplitter, QWidget

from gradviz.engine.history import RunHistory
from gradviz.ui.panels.base import Panel, clear_data, finite, grouped_offsets, has_finite, layer_ticks
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_pen, lane_symbol, superscript

__all__ = ["DYING", "SATURATING", "ActivationsPanel", "density"]

#: Activations whose units saturate (output pinned near a bound, slope ≈ 0).
SATURATING = frozenset({"sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh"})
#: Rectifier-like activations, whose dead-unit fraction is shown: ReLUs can
#: die (output 0 for every input, no gradient); the leaky and smooth ones are
#: shown too, so a lesson can show that theirs stays at 0.
DYING = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish"})


def density(counts: np.ndarray, edges: np.ndarray) -> np.ndarray | None:
    """Histogram counts as a probability density over ``edges`` (area 1), or ``None``.

    Density, not counts, so that lanes whose bins differ compare honestly.
    """
    counts = finite(counts)
    edges = finite(edges)
    widths = np.diff(edges)
    total = np.nansum(counts)
    if not np.isfinite(edges).all() or total <= 0 or (widths <= 0).any():
        return None
    with np.errstate(all="ignore"):  # denormal totals overflow; such a histogram is unusable
        out = counts / (total * widths)
    return out if np.isfinite(out).all() else None


class ActivationsPanel(Panel):
    """What each layer's outputs look like at the selected epoch.

    Left: one small histogram per layer (up to :attr:`max_hist_plots`, spread
    over the depth when there are more), lanes overlaid as density step
    curves.  Right: activation variance against depth on a log axis, and the
    share of saturated units (sigmoid/tanh layers) or dead units (ReLU
    layers) per layer.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.
    max_hist_plots
        At most this many layer histograms are drawn.
    """

    title = "Activations"
    name = "activations"
    #: log axes cannot show 0: variances at or below this are drawn at it.
    VAR_FLOOR = 1e-12

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT, max_hist_plots: int = 12) -> None:
        super().__init__(parent, theme)
        self.max_hist_plots = max(1, int(max_hist_plots))
        self._hist_view = self._new_view()
        self._side_view = self._new_view()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._hist_view)
        splitter.addWidget(self._side_view)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        self._layout.addWidget(splitter, 1)
        self._caption = self._add_caption("")
        self._layout.addWidget(self._caption)
        self._forget_items()

    # public extras -------------------------------------------------------

    @property
    def shown_layers(self) -> list[int]:
        """Layer numbers (1 = input side) that have a histogram plot."""
        return list(self._shown_layers)

    def hist_plot(self, layer: int) -> pg.PlotItem:
        return self._hist_plots[self._shown_layers.index(layer)]

    def hist_curve(self, lane: int, layer: int) -> pg.PlotDataItem:
        """The step curve of ``lane`` in the histogram of ``layer`` (1-based)."""
        return self._hist_curves[self._shown_layers.index(layer)][lane]

    def variance_curve(self, lane: int) -> pg.PlotDataItem:
        return self._var_curves[lane]

    def fraction_bars(self, lane: int) -> pg.BarGraphItem:
        """Per-layer % of saturated (sigmoid/tanh) or dead (ReLU) units of ``lane``."""
        return self._frac_bars[lane]

    @property
    def variance_plot(self) -> pg.PlotItem | None:
        return self._var_plot

    @property
    def fraction_plot(self) -> pg.PlotItem | None:
        return self._frac_plot

    # building ------------------------------------------------------------

    def _forget_items(self) -> None:
        self._caption.setText("")
        self._shown_layers: list[int] = []
        self._hist_plots: list[pg.PlotItem] = []
        self._hist_curves: list[list[pg.PlotDataItem]] = []  # [shown layer][lane]
        self._var_curves: list[pg.PlotDataItem] = []
        self._frac_bars: list[pg.BarGraphItem] = []
        # The lane's marker on top of each of its bars, and its legend sample (not colour alone).
        self._frac_tops: list[pg.ScatterPlotItem] = []
        self._frac_samples: list[pg.PlotDataItem] = []
        self._frac_kind: np.ndarray = np.zeros((0, 0), dtype=np.int8)  # 1 saturation, 2 dead, 0 n/a
        self._var_plot: pg.PlotItem | None = None
        self._frac_plot: pg.PlotItem | None = None

    def _bind(self, history: RunHistory) -> None:
        layout = history.layout
        t = self._theme
        n, n_layers = layout.n_lanes, layout.max_layers
        self._hist_view.clear()
        self._side_view.clear()

        if n_layers <= self.max_hist_plots:
            shown = list(range(1, n_layers + 1))
        else:
            shown = sorted({round(v) for v in np.linspace(1, n_layers, self.max_hist_plots)})
        self._shown_layers = shown
        ncols = 1 if len(shown) == 1 else 2 if len(shown) <= 4 else 3 if len(shown) <= 9 else 4
        nrows = math.ceil(len(shown) / ncols)
        self._hist_plots, self._hist_curves = [], []
        edges = finite(layout.hist_edges)
        for i, layer in enumerate(shown):
            r, c = divmod(i, ncols)
            plot = self._add_plot(self._hist_view.ci, r, c, grid=(False, False))
            # Small preferred and minimum widths let a narrow window shrink the
            # grid instead of pushing its last column out of view.
            plot.setPreferredWidth(120)
            plot.setMinimumWidth(50)
            acts = sorted({layout.activations[lane][layer - 1]
                           for lane in range(n) if layer <= layout.layer_counts[lane]})
            kind = "output" if all(layer == layout.layer_counts[lane] for lane in range(n)
                                   if layer <= layout.layer_counts[lane]) else ""
            # Lanes are told apart by colour; name the activation only when they share it.
            if kind:
                title = f"layer {layer} · output"
            else:
                title = f"layer {layer}" + (f" · {acts[0]}" if len(acts) == 1 else "")
            self._set_title(plot, title)
            # Each small plot scales its own density axis; the numbers would
            # only invite comparing heights across layers, so hide them.
            plot.hideAxis("left")
            if r == nrows - 1 or i + ncols >= len(shown):
                self._set_label(plot, "bottom", "activation")
            e = edges[:, layer - 1, :]
            if has_finite(e):
                plot.setXRange(float(np.nanmin(e)), float(np.nanmax(e)), padding=0.02)
            plot.enableAutoRange(x=False, y=True)
            plot.setLimits(yMin=0)
            curves = []
            for lane in range(n):
                fill = QColor(lane_color(lane, t))
                fill.setAlpha(40)
                curve = pg.PlotDataItem(stepMode="center", pen=lane_pen(lane, t, width=1.5),
                                        fillLevel=0, brush=pg.mkBrush(fill))
                plot.addItem(curve)
                curves.append(curve)
            self._hist_plots.append(plot)
            self._hist_curves.append(curves)
        note = ("Histograms: each layer's outputs as a density (area 1), lanes overlaid; values beyond "
                "the bins count in the end bins.")
        if len(shown) < n_layers:
            note += f" {len(shown)} of {n_layers} layers shown, spread over the depth."

        ticks = layer_ticks(n_layers)
        var = self._add_plot(self._side_view.ci, 0, 0)
        self._var_plot = var
        self._set_title(var, "Activation variance by depth")
        self._set_label(var, "left", "Var[activation]")
        self._set_label(var, "bottom", "layer (1 = input side)")
        var.setLogMode(y=True)
        var.getAxis("bottom").setTicks([ticks])
        var.setXRange(0.5, n_layers + 0.5, padding=0)
        var.enableAutoRange(x=False, y=True)
        # Below the plot, not on it: variance curves can sit in any corner.
        legend = self._add_row_legend(self._side_view, row=1, columns=min(layout.n_lanes, 3))
        self._var_curves = []
        for lane, lane_name in enumerate(layout.lane_names):
            color = lane_color(lane, t)
            curve = pg.PlotDataItem(pen=lane_pen(lane, t), symbol=lane_symbol(lane), symbolSize=7,
                                    symbolBrush=color, symbolPen=pg.mkPen(color), connect="finite")
            var.addItem(curve)
            legend.addItem(curve, lane_name)
            self._var_curves.append(curve)

        frac = self._add_plot(self._side_view.ci, 2, 0)
        self._frac_plot = frac
        self._set_title(frac, "Saturated or dead units")
        self._set_label(frac, "left", "% of the layer's units")
        self._set_label(frac, "bottom", "layer (1 = input side)")
        frac.getAxis("bottom").setTicks([ticks])
        frac.setXRange(0.5, n_layers + 0.5, padding=0)
        frac.setYRange(0, 100, padding=0.02)
        frac.enableAutoRange(x=False, y=False)
        frac_legend = self._add_legend(frac, offset=(10, 8))
        kinds = np.zeros((n, n_layers), dtype=np.int8)
        self._frac_bars, self._frac_tops, self._frac_samples = [], [], []
        for lane, lane_name in enumerate(layout.lane_names):
            for k, act in enumerate(layout.activations[lane]):
                kinds[lane, k] = 1 if act in SATURATING else 2 if act in DYING else 0
            used = {int(v) for v in kinds[lane] if v}
            what = {frozenset({1}): "saturated", frozenset({2}): "dead", frozenset({1, 2}): "saturated/dead"}
            label = f"{lane_name}: {what.get(frozenset(used), 'n/a (no sigmoid/tanh or ReLU-like layer)')}"
            bars = pg.BarGraphItem(x=np.empty(0), height=np.empty(0), width=0.1)
            tops = pg.ScatterPlotItem(symbol=lane_symbol(lane))
            frac.addItem(bars)
            frac.addItem(tops)
            sample = pg.PlotDataItem([0.0], [0.0], pen=None, symbol=lane_symbol(lane))
            frac_legend.addItem(sample, label)
            self._frac_bars.append(bars)
            self._frac_tops.append(tops)
            self._frac_samples.append(sample)
        self._frac_kind = kinds
        self._caption.setText(
            note + f" Variance ≤ {superscript(-12)} is drawn at {superscript(-12)}. Saturated: |output| "
            "near the activation's bound. Dead: a ReLU unit that outputs 0 for every sample (no gradient "
            "reaches it)."
        )
        self._side_view.ci.layout.setRowStretchFactor(0, 1)
        self._side_view.ci.layout.setRowStretchFactor(1, 0)
        self._side_view.ci.layout.setRowStretchFactor(2, 1)

    def _style_items(self) -> None:
        t = self._theme
        _offsets, width = grouped_offsets(len(self._frac_bars))
        for lane, bars in enumerate(self._frac_bars):
            color = lane_color(lane, t)
            fill = QColor(color)
            fill.setAlpha(220)
            bars.setOpts(brush=pg.mkBrush(fill), pen=pg.mkPen(QColor(t.foreground), width=0.5), width=width)
            self._style_marker(self._frac_tops[lane], color, 8)
            self._style_marker(self._frac_samples[lane], color, 10)
        # Lane colours change with the theme (black turns grey on dark); widths with the line scale.
        for curves in self._hist_curves:
            for lane, curve in enumerate(curves):
                fill = QColor(lane_color(lane, t))
                fill.setAlpha(40)
                curve.setPen(self._lane_pen(lane, width=1.5))
                curve.setBrush(pg.mkBrush(fill))
        for lane, curve in enumerate(self._var_curves):
            color = lane_color(lane, t)
            curve.setPen(self._lane_pen(lane))
            curve.setSymbolSize(self._px(7))
            curve.setSymbolBrush(color)
            curve.setSymbolPen(pg.mkPen(color))

    # rendering -----------------------------------------------------------

    def _render(self, epoch: int) -> None:
        h = self._history
        assert h is not None
        layout = h.layout
        row = h.row(epoch)
        counts = h.hist_counts(epoch)
        edges = layout.hist_edges
        for i, layer in enumerate(self._shown_layers):
            for lane, curve in enumerate(self._hist_curves[i]):
                dens = None
                if layer <= layout.layer_counts[lane]:
                    dens = density(counts[lane, layer - 1], edges[lane, layer - 1])
                if dens is None:
                    clear_data(curve)
                else:
                    curve.setData(x=finite(edges[lane, layer - 1]), y=np.nan_to_num(dens))

        layers = np.arange(1, layout.max_layers + 1, dtype=np.float64)
        var = finite(h.layer("act_var")[:, row, :])
        for lane, curve in enumerate(self._var_curves):
            v = var[lane]
            v = np.where(v >= 0, np.maximum(v, self.VAR_FLOOR), np.nan)  # NaN compares False
            if has_finite(v):
                curve.setData(layers, v)
            else:
                clear_data(curve)

        sat = finite(h.layer("saturation")[:, row, :])
        dead = finite(h.layer("dead_fraction")[:, row, :])
        offsets, width = grouped_offsets(len(self._frac_bars))
        for lane, bars in enumerate(self._frac_bars):
            kind = self._frac_kind[lane]
            value = np.where(kind == 1, sat[lane], np.where(kind == 2, dead[lane], np.nan))
            ok = np.isfinite(value) & (kind > 0)
            bars.setOpts(x=layers[ok] + offsets[lane], height=100.0 * np.clip(value[ok], 0, 1),
                         width=width)
            self._frac_tops[lane].setData(x=layers[ok] + offsets[lane], y=100.0 * np.clip(value[ok], 0, 1))

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        for curves in self._hist_curves:
            curves[lane].setVisible(visible)
        self._var_curves[lane].setVisible(visible)
        self._frac_bars[lane].setVisible(visible)
        self._frac_tops[lane].setVisible(visible)
        self._frac_samples[lane].setVisible(visible)
