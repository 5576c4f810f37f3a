"""Loss-surface race: lanes as points descending a 2-D test function, one optimizer step per epoch.

Notebook section 7's sentence made visible: on the ravine SGD zig-zags across
the valley while Momentum and Adam run along it.  Left, the function's
contours with every lane's path from the shared start; right, each lane's
loss f(x, y) per step.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QSplitter, QWidget

from gradviz.engine.history import RunHistory
from gradviz.engine.surfaces import SurfaceInfo
from gradviz.ui.panels.base import Panel, clear_data, finite, has_finite
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_symbol

__all__ = ["NOT_A_SURFACE", "SurfacePanel"]

NOT_A_SURFACE = "This run is not a loss-surface race: there is no 2-D function to draw."

_COLORMAP = "viridis"  # perceptually uniform, colour-blind safe, as every heatmap here; dark = low f
_EMPTY = np.empty(0)


def _fmt_value(value: float) -> str:
    if not np.isfinite(value):
        return "—"
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    return f"{value:.2e}"


class SurfacePanel(Panel):
    """Every lane's path down a 2-D test function, and its loss per step.

    The background is log10(f − f_min + ε) over the view, with f_min the
    smallest value on a 300 × 300 grid (so the saddle, unbounded below, works
    too), on a colour scale fixed when the run is bound; contour lines are
    evenly spaced on that log scale.  The grid is computed once per bind.

    The loss curve shows f at each lane's position: ``full_loss`` (step 0 is
    the start).  Its axis is logarithmic except for the saddle, whose f goes
    below zero.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light or dark plots.

    Signals
    -------
    start_selected(object)
        A ``(x, y)`` tuple of floats: the point of the surface the user
        clicked, to restart the race from.
    """

    title = "Loss surface"
    name = "surface"
    #: Points per side of the grid f is evaluated on.
    GRID = 300
    #: Contour lines drawn, evenly spaced in log10(f − f_min + ε).
    CONTOURS = 14
    #: Log scale cannot show f ≤ 0: such values are drawn at this floor.
    LOG_FLOOR = 1e-12
    #: Trajectory points this many view sizes away from the view are not drawn
    #: (a diverging lane leaves the view long before; Qt mis-draws huge coordinates).
    FAR = 50.0

    start_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent, theme)
        self._surface_view = self._new_view()
        self._loss_view = self._new_view()
        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.addWidget(self._surface_view)
        self._splitter.addWidget(self._loss_view)
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        self._splitter.setChildrenCollapsible(False)
        self._layout.addWidget(self._splitter, 1)
        self._message = QLabel(NOT_A_SURFACE)
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.hide()
        self._layout.addWidget(self._message, 1)
        self._caption = self._add_caption("")
        self._layout.addWidget(self._caption)

        self._forget_items()
        self._log = True
        self._f_min = 0.0
        self._eps = 1.0

        scene = self._surface_view.scene()
        scene.sigMouseClicked.connect(self._on_scene_clicked)
        scene.sigMouseMoved.connect(self._on_scene_hovered)

    # public extras -------------------------------------------------------

    @property
    def surface(self) -> SurfaceInfo | None:
        """The bound run's function, or ``None`` if the run is not a surface race."""
        return self._surface

    @property
    def message(self) -> QLabel:
        """The note shown instead of the plots when the run is not a surface race."""
        return self._message

    @property
    def surface_plot(self) -> pg.PlotItem | None:
        return self._surface_plot

    @property
    def loss_plot(self) -> pg.PlotItem | None:
        return self._loss_plot

    @property
    def image(self) -> pg.ImageItem | None:
        """(GRID, GRID) row-major log10(f − f_min + ε); row 0 at y_min."""
        return self._image

    @property
    def levels(self) -> tuple[float, float]:
        """The fixed (low, high) of the background colour scale, in log10 units."""
        return self._levels

    @property
    def contours(self) -> list[pg.IsocurveItem]:
        """One contour line per level of :attr:`contour_levels`."""
        return list(self._contours)

    @property
    def contour_levels(self) -> np.ndarray:
        """The contour levels, in log10(f − f_min + ε) units (evenly spaced = log-spaced in f)."""
        return self._contour_levels.copy()

    @property
    def log_scale(self) -> bool:
        """Whether the loss axis is logarithmic (every surface but the saddle)."""
        return self._log

    @property
    def minima_marker(self) -> pg.ScatterPlotItem | None:
        return self._minima

    @property
    def start_marker(self) -> pg.ScatterPlotItem | None:
        return self._start

    def path(self, lane: int) -> pg.PlotDataItem:
        """``lane``'s trajectory item: positions from the start to the rendered step."""
        return self._paths[lane]

    def head(self, lane: int) -> pg.PlotDataItem:
        """``lane``'s current-position marker (empty when the position is not finite)."""
        return self._heads[lane]

    def diverge_marker(self, lane: int) -> pg.PlotDataItem:
        """✕ at ``lane``'s last finite position once it has diverged."""
        return self._diverge_marks[lane]

    def curve(self, lane: int) -> pg.PlotDataItem:
        """``lane``'s loss-per-step curve."""
        return self._curves[lane]

    def point_at_scene(self, pos: QPointF) -> tuple[float, float] | None:
        """The surface point (x, y) under scene position ``pos``, or ``None`` if off the view."""
        plot, surface = self._surface_plot, self._surface
        if plot is None or surface is None:
            return None
        vb = plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return None
        p = vb.mapSceneToView(pos)
        x, y = float(p.x()), float(p.y())
        (x0, x1), (y0, y1) = surface.bounds
        if not (math.isfinite(x) and math.isfinite(y) and x0 <= x <= x1 and y0 <= y <= y1):
            return None
        return (x, y)

    # building ------------------------------------------------------------

    def _forget_items(self) -> None:
        # The widgets as a fresh panel has them: the canvases (empty), no note, no caption.
        self._surface_view.setToolTip("")
        self._caption.setText("")
        self._show_note(self._message, False, self._splitter, self._caption)
        self._surface: SurfaceInfo | None = None
        self._surface_plot: pg.PlotItem | None = None
        self._loss_plot: pg.PlotItem | None = None
        self._image: pg.ImageItem | None = None
        self._levels: tuple[float, float] = (0.0, 1.0)
        self._contour_levels: np.ndarray = _EMPTY
        self._contours: list[pg.IsocurveItem] = []
        self._minima: pg.ScatterPlotItem | None = None
        self._start: pg.ScatterPlotItem | None = None
        self._paths: list[pg.PlotDataItem] = []
        self._heads: list[pg.PlotDataItem] = []
        self._diverge_marks: list[pg.PlotDataItem] = []
        self._curves: list[pg.PlotDataItem] = []
        self._samples: list[pg.PlotDataItem] = []
        self._legend: pg.LegendItem | None = None

    def _bind(self, history: RunHistory) -> None:
        self._surface_view.clear()
        self._loss_view.clear()
        self._surface_plot = self._loss_plot = self._image = None
        self._minima = self._start = self._legend = None
        self._contours, self._paths, self._heads, self._diverge_marks, self._curves = [], [], [], [], []
        self._samples = []
        self._contour_levels = _EMPTY
        surface = history.layout.surface
        self._surface = surface
        drawable = surface is not None and history.positions is not None
        self._show_note(self._message, not drawable, self._splitter, self._caption)
        if not drawable:
            self._surface = None
            return
        layout = history.layout
        (x0, x1), (y0, y1) = surface.bounds

        plot = self._add_plot(self._surface_view.ci, 0, 0, grid=(False, False))
        self._surface_plot = plot
        plot.setMouseEnabled(x=False, y=False)  # the grid covers exactly the view
        self._set_title(plot, f"{surface.function.capitalize()}:  f(x, y) = {surface.formula}")
        self._set_label(plot, "bottom", "x")
        self._set_label(plot, "left", "y")
        plot.setXRange(x0, x1, padding=0)
        plot.setYRange(y0, y1, padding=0)
        plot.enableAutoRange(x=False, y=False)

        logs = self._log_grid(surface)
        finite_logs = logs[np.isfinite(logs)]
        if finite_logs.size:
            lo, hi = float(np.percentile(finite_logs, 0.5)), float(finite_logs.max())
        else:
            lo, hi = 0.0, 1.0
        if not hi > lo:
            hi = lo + 1.0
        self._levels = (lo, hi)
        image = pg.ImageItem(axisOrder="row-major")
        image.setNanPolicy("omit")
        image.setColorMap(pg.colormap.get(_COLORMAP))
        image.setImage(logs, autoLevels=False, levels=self._levels)
        image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))  # after setImage: it scales by the image size
        image.setZValue(-10)
        plot.addItem(image, ignoreBounds=True)
        self._image = image
        # Log-spaced in f: evenly spaced in the log image, skipping the two ends.
        self._contour_levels = np.linspace(lo, hi, self.CONTOURS + 2)[1:-1]
        for level in self._contour_levels:
            iso = pg.IsocurveItem(data=logs, level=float(level), axisOrder="row-major")
            iso.setParentItem(image)  # image pixels → view coordinates
            self._contours.append(iso)

        legend = self._add_row_legend(self._surface_view, row=1, columns=min(layout.n_lanes + 2, 6))
        self._legend = legend
        self._minima = pg.ScatterPlotItem(symbol="star", size=20)
        self._minima.setData(pos=np.asarray(surface.minima, dtype=float).reshape(-1, 2))
        self._minima.setZValue(5)
        self._start = pg.ScatterPlotItem(symbol="+", size=18)
        self._start.setData(pos=np.asarray([surface.start], dtype=float))
        self._start.setZValue(5)
        plot.addItem(self._minima, ignoreBounds=True)
        plot.addItem(self._start, ignoreBounds=True)

        loss = self._add_plot(self._loss_view.ci, 0, 0)
        self._loss_plot = loss
        self._log = surface.function != "saddle"  # the saddle's f is unbounded below
        self._set_title(loss, "Loss per step")
        self._set_label(loss, "bottom", "step (epoch)")
        self._set_label(loss, "left", "f(x, y), log scale" if self._log
                        else "f(x, y), linear scale (the saddle goes below 0)")
        loss.setLogMode(y=self._log)
        loss.setXRange(history.first_epoch, max(layout.epochs, history.first_epoch + 1), padding=0.02)
        loss.enableAutoRange(x=False, y=True)

        for lane, lane_name in enumerate(layout.lane_names):
            path = pg.PlotDataItem(connect="finite", symbol=lane_symbol(lane), symbolSize=5)
            head = pg.PlotDataItem(pen=None, symbol=lane_symbol(lane), symbolSize=15)
            div = pg.PlotDataItem(pen=None, symbol="x", symbolSize=16)
            for item, z in ((path, 10), (head, 12), (div, 11)):
                item.setZValue(z)
                plot.addItem(item, ignoreBounds=True)
            curve = pg.PlotDataItem(connect="finite")
            loss.addItem(curve)
            # After addItem, which gives the item its plot's (off) downsampling settings.
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            # The legend draws a sample from its item's current symbol options, which an
            # empty head item loses: give it an item of its own that always has a point.
            sample = pg.PlotDataItem([0.0], [0.0], symbol=lane_symbol(lane), symbolSize=12)
            legend.addItem(sample, lane_name)
            self._samples.append(sample)
            self._paths.append(path)
            self._heads.append(head)
            self._diverge_marks.append(div)
            self._curves.append(curve)
        legend.addItem(self._minima, "minimum" if surface.function != "saddle" else "saddle point")
        legend.addItem(self._start, "start")

        self._caption.setText(
            "Left: the function's contours (colour and lines on a log scale, darker = lower f), each lane's path "
            "from the start (+), one marker per optimizer step, and its current position (large marker). "
            "★ " + ("saddle point" if surface.function == "saddle" else "minimum") + "; "
            "✕ diverged (last finite position). Right: f at each lane's position, step 0 = the start"
            + ("." if not self._log else f"; f ≤ {self.LOG_FLOOR:g} is drawn at {self.LOG_FLOOR:g}.")
            + "<br>Click the surface to start the race from another point."
        )
        self._surface_view.setToolTip("")

    def _log_grid(self, surface: SurfaceInfo) -> np.ndarray:
        """log10(f − f_min + ε) on GRID × GRID pixel centres, row 0 at y_min (non-finite → NaN)."""
        (x0, x1), (y0, y1) = surface.bounds
        n = self.GRID
        xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
        ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
        gx, gy = np.meshgrid(xs, ys)
        with np.errstate(all="ignore"):
            f = finite(np.asarray(surface.value(gx, gy), dtype=np.float64))
        if not has_finite(f):
            return np.full(f.shape, np.nan)
        self._f_min = float(np.nanmin(f))
        # ε relative to the range: the minimum is a deep well, not a −∞ pit.
        self._eps = max(1e-12, 1e-6 * (float(np.nanmax(f)) - self._f_min))
        return np.log10(f - self._f_min + self._eps)

    def _style_items(self) -> None:
        t = self._theme
        line = QColor(t.foreground if not t.dark else t.background)
        line.setAlpha(70)
        for iso in self._contours:
            iso.setPen(pg.mkPen(line, width=1, cosmetic=True))
        if self._image is not None:
            self._image.setOpacity(0.5 if not t.dark else 0.55)
        edge = pg.mkPen(t.foreground if not t.dark else t.background, width=1.2)
        if self._minima is not None:
            self._minima.setSize(self._px(20))
            self._minima.setPen(edge)
            self._minima.setBrush(pg.mkBrush("#FFFFFF" if not t.dark else "#F0F0F0"))
        if self._start is not None:
            self._start.setSize(self._px(18))
            self._start.setPen(pg.mkPen(t.foreground, width=self._px(3)))
            self._start.setBrush(pg.mkBrush(t.foreground))
        for lane, path in enumerate(self._paths):
            color = lane_color(lane, t)
            path.setPen(self._lane_pen(lane, width=2.5))
            path.setProperty("gradvizDense", None)
            path.setSymbolSize(self._px(5))
            self._heads[lane].setSymbolSize(self._px(15))
            self._diverge_marks[lane].setSymbolSize(self._px(16))
            path.setSymbolBrush(color)
            path.setSymbolPen(pg.mkPen(color, width=1))
            self._heads[lane].setSymbolBrush(color)
            self._heads[lane].setSymbolPen(pg.mkPen(t.foreground, width=1.5))
            self._diverge_marks[lane].setSymbolBrush(color)
            self._diverge_marks[lane].setSymbolPen(pg.mkPen(color, width=self._px(3)))
            self._curves[lane].setPen(self._lane_pen(lane, width=2.5))
            self._curves[lane].setProperty("gradvizDense", None)
            sample = self._samples[lane]
            sample.setPen(self._lane_pen(lane, width=2.5))
            sample.setSymbolSize(self._px(12))
            sample.setSymbolBrush(color)
            sample.setSymbolPen(pg.mkPen(t.foreground, width=1.5))
        self._message.setStyleSheet(
            f"color: {t.foreground}; font-size: {t.point_size(self._font_scale, 2):.1f}pt;"
        )

    # rendering -----------------------------------------------------------

    def _epoch_text(self, epoch: int) -> str:
        if self._surface is None:
            return super()._epoch_text(epoch)
        if epoch == 0:
            return "step 0 - at the start point"
        planned = self._history.layout.epochs if self._history is not None else 0
        return f"step {epoch} of {max(planned, epoch)}"

    def trajectory(self, epoch: int) -> np.ndarray:
        """(lanes, steps, 2) positions from the first recorded step up to ``epoch``; inf → NaN."""
        h = self._history
        assert h is not None and h.positions is not None
        return finite(h.positions[:, : h.row(epoch) + 1])

    def _drawable(self, xy: np.ndarray) -> np.ndarray:
        """``xy`` with points far outside the view set to NaN (the line ends there)."""
        assert self._surface is not None
        (x0, x1), (y0, y1) = self._surface.bounds
        w, h = x1 - x0, y1 - y0
        with np.errstate(invalid="ignore"):
            far = (np.abs(xy[:, 0] - (x0 + x1) / 2) > self.FAR * w) | (np.abs(xy[:, 1] - (y0 + y1) / 2) > self.FAR * h)
        out = xy.copy()
        out[far] = np.nan
        return out

    def _render(self, epoch: int) -> None:
        h = self._history
        assert h is not None
        if self._surface is None or self._loss_plot is None:
            return
        row = h.row(epoch)
        steps = h.epochs[: row + 1].astype(np.float64)
        traj = self.trajectory(epoch)
        loss = finite(h.full_loss[:, : row + 1])
        if self._log:
            loss = np.maximum(loss, self.LOG_FLOOR)  # NaN stays NaN
        diverged_at = h.diverged_epoch()
        plot = self._loss_plot
        if epoch > plot.viewRange()[0][1]:
            plot.setXRange(h.first_epoch, epoch * 1.25, padding=0.02)
        for lane in range(len(self._paths)):
            xy = self._drawable(traj[lane])
            if has_finite(xy):
                self._paths[lane].setData(xy[:, 0], xy[:, 1])
                self._fit_pen_to_density(self._paths[lane], lane, len(xy), width=2.5)
            else:
                clear_data(self._paths[lane])
            here = xy[-1]
            if np.isfinite(here).all():
                self._heads[lane].setData([here[0]], [here[1]])
            else:
                clear_data(self._heads[lane])
            ok = np.flatnonzero(np.isfinite(xy).all(axis=1))
            d = int(diverged_at[lane])
            if 0 <= d <= epoch and ok.size:
                last = xy[ok[-1]]
                self._diverge_marks[lane].setData([last[0]], [last[1]])
            else:
                clear_data(self._diverge_marks[lane])
            ys = loss[lane]
            if has_finite(ys):
                self._curves[lane].setData(steps, ys)
                self._fit_pen_to_density(self._curves[lane], lane, len(steps), width=2.5)
            else:
                clear_data(self._curves[lane])

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        for items in (self._paths, self._heads, self._diverge_marks, self._curves, self._samples):
            if lane < len(items):
                items[lane].setVisible(visible)

    # mouse -----------------------------------------------------------------

    def _on_scene_clicked(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.point_at_scene(event.scenePos())
        if point is not None:
            self.start_selected.emit(point)

    def _on_scene_hovered(self, pos: QPointF) -> None:
        point = self.point_at_scene(pos)
        if point is None or self._surface is None:
            self._surface_view.setToolTip("")
            return
        x, y = point
        with np.errstate(all="ignore"):
            value = float(self._surface.value(np.float64(x), np.float64(y)))
        self._surface_view.setToolTip(f"x = {x:.3g}, y = {y:.3g}\nf = {_fmt_value(value)}\n"
                                      "Click to start the race from here")
