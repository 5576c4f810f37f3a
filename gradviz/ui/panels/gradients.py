"""Gradient flow: a layer × epoch heatmap of gradient norms per lane, and bars for one epoch."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from gradviz.engine.history import RunHistory
from gradviz.ui.panels.base import Panel, finite, grouped_offsets, layer_ticks, safe_log10
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_symbol, superscript

__all__ = ["GradientsPanel"]


class GradientsPanel(Panel):
    """How strongly each layer's weights are pushed, epoch by epoch.

    Top: per lane, a heatmap of log10 of the kernel gradient norm with layers
    up (layer 1, the input side, at the bottom) and epochs across.  All lanes
    share one fixed colour scale (:attr:`levels`), so the same colour means
    the same gradient in every lane and every frame.  Bottom: the same norms
    at the selected epoch as grouped bars on a log axis.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.
    levels
        (low, high) of the colour scale in log10 units.  Gradients below
        ``10**low`` (including exact zeros: a dead layer) get the darkest
        colour and are drawn at that floor in the bar chart, marked ✕.
    """

    title = "Gradient flow"
    name = "gradients"
    # 1e-8 is where a float32 gradient step no longer moves typical weights;
    # the exploding lesson's input layer reaches ~1e3.5, so the top is 1e4.
    # Fixed, so colours never flicker and lessons compare.
    DEFAULT_LEVELS: tuple[float, float] = (-8.0, 4.0)
    MAX_COLUMNS = 4

    def __init__(
        self, parent: QWidget | None = None, theme: Theme = LIGHT,
        levels: tuple[float, float] = DEFAULT_LEVELS,
    ) -> None:
        super().__init__(parent, theme)
        lo, hi = float(levels[0]), float(levels[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"levels must be two finite numbers, low < high, not {levels!r}")
        self._levels = (lo, hi)
        self._view = self._new_view()
        self._layout.addWidget(self._view, 1)
        self._caption = self._add_caption("")
        self._layout.addWidget(self._caption)
        self._forget_items()
        self._bar_top = hi

    # public extras -------------------------------------------------------

    @property
    def levels(self) -> tuple[float, float]:
        """The fixed (low, high) of the colour scale, in log10 units."""
        return self._levels

    @property
    def floor(self) -> float:
        """Gradient norms at or below this are drawn at it (log scales cannot show 0)."""
        return 10.0 ** self._levels[0]

    @property
    def color_bar(self) -> pg.ColorBarItem | None:
        return self._color_bar

    @property
    def bar_plot(self) -> pg.PlotItem | None:
        return self._bar_plot

    def heatmap(self, lane: int) -> pg.ImageItem:
        """The heatmap image of ``lane``: (layers, epochs 0..selected) of log10 grad norm."""
        return self._images[lane]

    def heatmap_plot(self, lane: int) -> pg.PlotItem:
        return self._heat_plots[lane]

    def bars(self, lane: int) -> pg.BarGraphItem:
        return self._bars[lane]

    def floor_marks(self, lane: int) -> pg.ScatterPlotItem:
        return self._floor_marks[lane]

    # building ------------------------------------------------------------

    def _forget_items(self) -> None:
        self._caption.setText("")
        self._images: list[pg.ImageItem] = []
        self._heat_plots: list[pg.PlotItem] = []
        self._bars: list[pg.BarGraphItem] = []
        self._floor_marks: list[pg.ScatterPlotItem] = []
        # The lane's marker on top of each of its bars, and its legend sample:
        # bars would otherwise tell lanes apart by colour alone.
        self._tops: list[pg.ScatterPlotItem] = []
        self._samples: list[pg.PlotDataItem] = []
        self._color_bar: pg.ColorBarItem | None = None
        self._bar_plot: pg.PlotItem | None = None
        self._cache = np.empty((0, 0, 0), dtype=np.float32)
        self._cached_rows = 0

    def _bind(self, history: RunHistory) -> None:
        layout = history.layout
        lo, hi = self._levels
        n, n_layers = layout.n_lanes, layout.max_layers
        self._view.clear()
        self._images, self._heat_plots, self._bars, self._floor_marks = [], [], [], []
        self._tops, self._samples = [], []
        self._cache = np.full((n, n_layers, max(16, len(history), layout.epochs + 1)), np.nan, np.float32)
        self._cached_rows = 0
        self._bar_top = hi

        ncols = min(n, self.MAX_COLUMNS)
        nrows = math.ceil(n / ncols)
        heat = self._view.ci.addLayout(row=0, col=0)
        heat.setSpacing(8)
        ticks = layer_ticks(n_layers)
        planned = max(layout.epochs, history.first_epoch + 1)
        for lane, lane_name in enumerate(layout.lane_names):
            r, c = divmod(lane, ncols)
            plot = self._add_plot(heat, r, c, grid=(False, False))
            # Stretch shares out only the space beyond the preferred widths;
            # equal preferred widths keep the lanes' heatmaps equally wide.
            plot.setPreferredWidth(200)
            plot.setMinimumWidth(80)
            self._set_title(plot, lane_name)
            if c == 0:
                self._set_label(plot, "left", "layer (1 = input side)")
            if r == nrows - 1 or lane + ncols >= n:
                self._set_label(plot, "bottom", "epoch")
            plot.getAxis("left").setTicks([ticks])
            plot.setXRange(history.first_epoch - 0.5, planned + 0.5, padding=0)
            plot.setYRange(0.5, n_layers + 0.5, padding=0)
            plot.enableAutoRange(x=False, y=False)
            image = pg.ImageItem(axisOrder="row-major")
            image.setAutoDownsample(True)
            image.setNanPolicy("omit")
            plot.addItem(image)
            self._heat_plots.append(plot)
            self._images.append(image)
        self._color_bar = pg.ColorBarItem(values=self._levels, colorMap="viridis", interactive=False, width=14)
        self._color_bar.setImageItem(self._images)
        heat.addItem(self._color_bar, row=0, col=ncols, rowspan=nrows)
        for c in range(ncols):
            heat.layout.setColumnStretchFactor(c, 1)
        heat.layout.setColumnStretchFactor(ncols, 0)

        bar_plot = self._add_plot(self._view.ci, 1, 0, grid=(False, True))
        self._bar_plot = bar_plot
        self._set_title(bar_plot, "Gradient norm per layer at the selected epoch")
        self._set_label(bar_plot, "left", "‖∂L/∂W‖")
        self._set_label(bar_plot, "bottom", "layer (1 = input side)")
        bar_plot.getAxis("left").setLogMode(True)
        bar_plot.getAxis("bottom").setTicks([ticks])
        bar_plot.setXRange(0.5, n_layers + 0.5, padding=0.01)
        bar_plot.setYRange(lo, hi, padding=0)
        bar_plot.enableAutoRange(x=False, y=False)
        legend = self._add_legend(bar_plot, offset=(-10, 8), colCount=min(n, 4))
        for lane, lane_name in enumerate(layout.lane_names):
            bars = pg.BarGraphItem(x=np.empty(0), height=np.empty(0), width=0.1, y0=lo)
            marks = pg.ScatterPlotItem(symbol="x", size=9)
            tops = pg.ScatterPlotItem(symbol=lane_symbol(lane))
            bar_plot.addItem(bars)
            bar_plot.addItem(marks)
            bar_plot.addItem(tops)
            sample = pg.PlotDataItem([0.0], [0.0], pen=None, symbol=lane_symbol(lane))
            legend.addItem(sample, lane_name)
            self._bars.append(bars)
            self._floor_marks.append(marks)
            self._tops.append(tops)
            self._samples.append(sample)
        self._caption.setText(
            f"Heatmaps and bars share one fixed scale, {superscript(int(lo))} … {superscript(int(hi))}. "
            f"Darkest colour / ✕: a zero gradient (dead layer) or one below {superscript(int(lo))}, "
            "clamped to that floor. Blank: not finite (diverged) or no such layer in that lane."
        )
        self._view.ci.layout.setRowStretchFactor(0, 3)
        self._view.ci.layout.setRowStretchFactor(1, 2)

    def _style_items(self) -> None:
        t = self._theme
        _offsets, width = grouped_offsets(len(self._bars))
        for lane, bars in enumerate(self._bars):
            color = lane_color(lane, t)
            fill = QColor(color)
            fill.setAlpha(220)
            bars.setOpts(brush=pg.mkBrush(fill), pen=pg.mkPen(QColor(t.foreground), width=0.5), width=width)
            self._style_marker(self._floor_marks[lane], color, 9, edge=color, edge_width=2)
            self._style_marker(self._tops[lane], color, 8)
            self._style_marker(self._samples[lane], color, 10)
        if self._color_bar is not None:
            axis = self._color_bar.axis
            lo, hi = self._levels
            step = 1 if hi - lo <= 6 else 2
            if self._font_scale >= 1.5:
                step *= 2  # large text: fewer labels, or the short bar would drop them all
            major = [(float(k), superscript(k)) for k in range(math.floor(hi), math.ceil(lo) - 1, -step)]
            minor = [(float(k), "") for k in range(math.ceil(lo), math.floor(hi) + 1)]
            axis.setTicks([major, minor])
            axis.setPen(pg.mkPen(t.foreground))
            axis.setTextPen(pg.mkPen(t.foreground))
            # The bar is short; let decade labels fill it rather than drop every other one.
            axis.setStyle(tickFont=t.font(self._font_scale, -0.5), textFillLimits=[(0, 0.95)])
            axis.setLabel("‖∂L/∂W‖ (colour, log scale)", **self._label_style())
            axis.setWidth(None)  # ColorBarItem fixes 45 px: scaled-up labels would overlap the axis title

    # rendering -----------------------------------------------------------

    def _update_cache(self) -> None:
        """log10 of newly recorded epochs only: recorded epochs never change."""
        h = self._history
        assert h is not None
        n = len(h)
        if n > self._cache.shape[2]:
            grown = np.full((*self._cache.shape[:2], max(n, 2 * self._cache.shape[2])), np.nan, np.float32)
            grown[:, :, : self._cache.shape[2]] = self._cache
            self._cache = grown
        if n > self._cached_rows:
            new = h.layer("grad_norm")[:, self._cached_rows : n, :]
            self._cache[:, :, self._cached_rows : n] = safe_log10(new, self.floor).transpose(0, 2, 1)
            self._cached_rows = n

    def _render(self, epoch: int) -> None:
        h = self._history
        assert h is not None
        self._update_cache()
        row = h.row(epoch)
        first = h.first_epoch
        n_layers = h.layout.max_layers
        diverged_at = h.diverged_epoch()
        plot0 = self._heat_plots[0] if self._heat_plots else None
        if plot0 is not None and epoch + 0.5 > plot0.viewRange()[0][1]:
            for plot in self._heat_plots:
                plot.setXRange(first - 0.5, epoch * 1.25, padding=0)
        for lane, image in enumerate(self._images):
            image.setImage(self._cache[lane, :, : row + 1], autoLevels=False, levels=self._levels)
            image.setRect(QRectF(first - 0.5, 0.5, row + 1, n_layers))
            name = h.layout.lane_names[lane]
            d = diverged_at[lane]
            self._set_title(self._heat_plots[lane], f"{name} (diverged at epoch {d})" if 0 <= d <= epoch else name)

        lo, _hi = self._levels
        grads = finite(h.layer("grad_norm")[:, row, :])
        offsets, width = grouped_offsets(len(self._bars))
        layers = np.arange(1, n_layers + 1, dtype=np.float64)
        top = self._bar_top
        for lane, bars in enumerate(self._bars):
            g = grads[lane]
            ok = np.isfinite(g) & (g >= 0)
            logs = np.log10(np.maximum(g[ok], self.floor))
            xs = layers[ok] + offsets[lane]
            bars.setOpts(x=xs, height=logs - lo, y0=lo, width=width)
            clamped = g[ok] <= self.floor
            self._floor_marks[lane].setData(x=xs[clamped], y=np.full(int(clamped.sum()), lo + 0.15))
            self._tops[lane].setData(x=xs[~clamped], y=logs[~clamped])
            if logs.size and self._lane_visible[lane]:
                top = max(top, float(np.ceil(logs.max() + 0.2)))
        if top > self._bar_top and self._bar_plot is not None:
            self._bar_top = top  # only grows: the axis never jumps back and forth
            self._bar_plot.setYRange(lo, top, padding=0)

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        self._images[lane].setVisible(visible)
        self._bars[lane].setVisible(visible)
        self._floor_marks[lane].setVisible(visible)
        self._tops[lane].setVisible(visible)
        self._samples[lane].setVisible(visible)
