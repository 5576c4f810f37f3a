"""What every live panel shares: the bind/render contract, fonts, theme, axes.

A panel is told about a new run once (:meth:`Panel.bind`), which is the only
place it creates or removes plot items, and is then asked many times a second
to show one epoch (:meth:`Panel.render`), which only feeds data to the items
it already has.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPalette, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QLabel, QVBoxLayout, QWidget

from gradviz.engine.history import RunHistory
from gradviz.ui.theme import LIGHT, Theme, lane_color, lane_pen, superscript

__all__ = [
    "DASH_MAX_POINTS", "DecadeAxis", "Panel", "clear_data", "finite", "grouped_offsets", "has_finite",
    "marker_indices", "safe_log10",
]

# Points beyond which a lane's curve is drawn solid (see Panel._fit_pen_to_density).
DASH_MAX_POINTS = 400


def finite(a: np.ndarray) -> np.ndarray:
    """A float64 copy of ``a`` with ±inf turned into NaN (pyqtgraph chokes on inf)."""
    out = np.array(a, dtype=np.float64, copy=True)
    out[np.isinf(out)] = np.nan
    return out


_EMPTY = np.empty(0)


def clear_data(item: pg.PlotDataItem | pg.ScatterPlotItem) -> None:
    """Empty a plot item, unless it is empty already.

    Setting no data still costs pyqtgraph a round of bounds updates and a
    repaint; most edit and divergence markers stay empty frame after frame.
    """
    points = item.data if isinstance(item, pg.ScatterPlotItem) else item.xData
    if points is not None and len(points):
        item.setData(x=_EMPTY, y=_EMPTY)


def has_finite(a: np.ndarray) -> bool:
    """Whether ``a`` holds at least one finite value (else it must not reach a plot)."""
    return bool(np.isfinite(a).any())


def safe_log10(a: np.ndarray, floor: float) -> np.ndarray:
    """log10 of ``a`` with values in [0, floor] lifted to ``floor`` and non-finite/negative → NaN."""
    a = finite(a)
    out = np.full(a.shape, np.nan)
    ok = np.isfinite(a) & (a >= 0)
    out[ok] = np.log10(np.maximum(a[ok], floor))
    return out


def grouped_offsets(n_lanes: int, group_width: float = 0.8) -> tuple[np.ndarray, float]:
    """x offsets of ``n_lanes`` bars side by side around each category, and the bar width."""
    width = group_width / max(1, n_lanes)
    offsets = (np.arange(n_lanes) - (n_lanes - 1) / 2.0) * width
    return offsets, width


def marker_indices(n_points: int, step: int, lane: int, n_lanes: int) -> np.ndarray:
    """Indices of the points of a lane's curve that carry its marker symbol.

    Every ``step``-th point and always the last one (the current epoch), so a
    lane is known by its marker as well as its colour and line style without
    burying a long curve in symbols.  Each lane starts at a different offset,
    so overlapping curves do not hide each other's markers.
    """
    if n_points <= 0:
        return np.zeros(0, dtype=np.intp)
    step = max(1, int(step))
    offset = (lane * step) // max(1, n_lanes)
    idx = np.arange(offset, n_points, step, dtype=np.intp)
    if not idx.size or idx[-1] != n_points - 1:
        idx = np.append(idx, n_points - 1)
    return idx


class DecadeAxis(pg.AxisItem):
    """An axis that, in log mode, labels whole decades as ``10⁻²``, ``1``, ``10``.

    Ticks between decades stay unlabelled unless the view spans less than
    about two decades, where 2·10ⁿ and 5·10ⁿ are labelled too (as plain
    numbers), and under half a decade every minor tick is, so the axis never
    shows a single lonely label.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.enableAutoSIPrefix(False)  # "(x1e+09)" next to a log-scale label is noise
        # Kept as a pixmap until the axis changes: replaying its tick labels and
        # grid on every frame was two thirds of a panel's paint time, and the
        # GUI thread's, at full pace.  Exports switch it off (vector output).
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        lo, hi = (float(v) for v in self.range)
        narrow = abs(hi - lo) < 2.0
        very_narrow = abs(hi - lo) < 0.7
        out = []
        for v in (float(v) for v in values):
            k = round(v)
            if abs(v - k) < 1e-6:
                out.append(superscript(k))
                continue
            mantissa = 10.0 ** (v - np.floor(v))
            if very_narrow or (narrow and (abs(mantissa - 2) < 1e-3 or abs(mantissa - 5) < 1e-3)):
                out.append(f"{10.0 ** v * scale:.3g}")
            else:
                out.append("")
        return out


class Panel(QWidget):
    """Base class of the live panels.

    Subclasses set :attr:`title` and :attr:`name`, implement ``_bind`` and
    ``_render``, and ``_forget_items`` if they keep references to what
    ``_bind`` created; this class clamps the epoch, keeps the header, lane
    visibility, font scale and theme.

    Parameters
    ----------
    parent
        Owning widget, if any.
    theme
        Light (default, also used for exported figures) or dark.
    """

    title: ClassVar[str] = ""
    name: ClassVar[str] = ""

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self._history: RunHistory | None = None
        self._epoch = 0
        self._lane_visible: list[bool] = []
        self._font_scale = 1.0
        self._line_scale = 1.0
        self._theme = theme
        self._plots: list[pg.PlotItem] = []
        self._labels: dict[tuple[int, str], str] = {}
        self._titles: dict[int, str] = {}
        self._legends: list[pg.LegendItem] = []
        # Legends in a row of their own under a plot: (legend, its canvas, most columns).
        self._row_legends: list[tuple[pg.LegendItem, pg.GraphicsView, int]] = []
        self._grids: dict[int, tuple[bool, bool]] = {}
        self._captions: list[QLabel] = []
        self._views: list[pg.GraphicsView] = []

        self._header = QLabel(self)
        self._header.setTextFormat(Qt.TextFormat.RichText)
        self._header.setObjectName("panelHeader")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 4, 6, 4)
        self._layout.setSpacing(4)
        self._layout.addWidget(self._header)
        self.setAutoFillBackground(True)
        self._apply_palette()
        self._update_header()

    # public contract -----------------------------------------------------

    @property
    def history(self) -> RunHistory | None:
        return self._history

    @property
    def epoch(self) -> int:
        """The epoch last rendered."""
        return self._epoch

    @property
    def theme(self) -> Theme:
        return self._theme

    @property
    def font_scale(self) -> float:
        return self._font_scale

    @property
    def line_scale(self) -> float:
        """Multiplies every line width and marker size (1.0 = normal; presentation mode uses more)."""
        return self._line_scale

    def bind(self, history: RunHistory) -> None:
        """Show a new run: (re)create the plot items for its lanes and layers.

        Items start empty; call :meth:`render` to show an epoch.
        """
        self._history = history
        self._epoch = history.first_epoch if len(history) else 0
        self._lane_visible = [True] * history.layout.n_lanes
        self._clear_plots()
        self._bind(history)
        self._apply_style()
        self._update_header()

    def unbind(self) -> None:
        """Let go of the run shown last, its history and every plot item, until the next :meth:`bind`.

        For a panel off screen when a new run starts: it would be bound anew
        before it is shown anyway, and meanwhile the old run's items and
        numbers would only take memory.
        """
        if self._history is None:
            return
        for view in self._views:
            view.clear()
        self._history = None
        self._epoch = 0
        self._lane_visible = []
        self._clear_plots()
        self._forget_items()
        self._update_header()

    def render(self, epoch: int) -> None:
        """Show ``epoch`` (clamped to the recorded range); cheap enough for 30 Hz."""
        history = self._history
        if history is None or not len(history):
            return
        self._epoch = int(np.clip(epoch, history.first_epoch, history.last_epoch))
        self._render(self._epoch)
        self._update_header()

    def set_lane_visible(self, lane: int, visible: bool) -> None:
        """Show or hide every item drawn for ``lane``."""
        if self._history is None:
            return
        if not 0 <= lane < len(self._lane_visible):
            raise IndexError(f"lane {lane} does not exist (run has {len(self._lane_visible)} lanes)")
        self._lane_visible[lane] = bool(visible)
        self._set_lane_items_visible(lane, bool(visible))
        self.render(self._epoch)

    def lane_visible(self, lane: int) -> bool:
        return self._lane_visible[lane]

    def set_font_scale(self, scale: float) -> None:
        """Scale every font of the panel (1.0 = normal; presentation mode scales with the screen)."""
        self.set_appearance(font_scale=scale)

    def set_line_scale(self, scale: float) -> None:
        """Scale every line width and marker size (1.0 = normal)."""
        self.set_appearance(line_scale=scale)

    def set_theme(self, theme: Theme) -> None:
        """Switch between light and dark plots; lane colours follow."""
        self.set_appearance(theme=theme)

    def set_appearance(
        self, *, theme: Theme | None = None, font_scale: float | None = None, line_scale: float | None = None,
    ) -> None:
        """Change theme, font scale and line scale at once (one restyle instead of three)."""
        for name, value in (("font scale", font_scale), ("line scale", line_scale)):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        if theme is not None:
            self._theme = theme
        if font_scale is not None:
            self._font_scale = float(font_scale)
        if line_scale is not None:
            self._line_scale = float(line_scale)
        self._apply_style()
        self._update_header()

    # for subclasses ------------------------------------------------------

    def _bind(self, history: RunHistory) -> None:
        raise NotImplementedError

    def _render(self, epoch: int) -> None:
        raise NotImplementedError

    def _set_lane_items_visible(self, lane: int, visible: bool) -> None:
        raise NotImplementedError

    def _style_items(self) -> None:
        """Re-apply theme/font to items that are not plots (lane pens, tables ...)."""

    def _lane_pen(self, lane: int, width: float = 2.0) -> QPen:
        """The lane's pen (colour and line style) at ``width`` times the line scale."""
        return lane_pen(lane, self._theme, width * self._line_scale)

    def _fit_pen_to_density(self, curve: pg.PlotDataItem, lane: int, points: int, width: float = 2.0) -> None:
        """The lane's dashed pen on a short curve, a solid one past :data:`DASH_MAX_POINTS` points.

        Dashes along a long, noisy curve cannot be seen (they are shorter
        than its wiggles) and cost Qt seconds per frame to stroke; the lane
        is still told apart by its colour and markers.  The pen changes only
        when the curve crosses the limit (``_style_items`` resets it).
        """
        dense = points > DASH_MAX_POINTS
        if curve.property("gradvizDense") is dense:
            return
        pen = self._lane_pen(lane, width)
        if dense:
            pen.setStyle(Qt.PenStyle.SolidLine)
        curve.setPen(pen)
        curve.setProperty("gradvizDense", dense)

    def _px(self, size: float) -> float:
        """A marker size or line width in pixels, times the line scale."""
        return size * self._line_scale

    def _style_marker(
        self, item: pg.ScatterPlotItem | pg.PlotDataItem, color: QColor | str, size: float,
        edge: QColor | str | None = None, edge_width: float = 1.0,
    ) -> None:
        """A lane's marker symbols: filled with ``color``, outlined in ``edge`` (default: the foreground).

        Sizes are in pixels times the line scale.  Takes scatter items and
        symbol-carrying plot items (curves, legend samples) alike.
        """
        pen = pg.mkPen(self._theme.foreground if edge is None else edge, width=self._px(edge_width))
        if isinstance(item, pg.ScatterPlotItem):
            item.setSize(self._px(size))
            item.setBrush(pg.mkBrush(color))
            item.setPen(pen)
        else:
            item.setSymbolSize(self._px(size))
            item.setSymbolBrush(color)
            item.setSymbolPen(pen)

    def _epoch_text(self, epoch: int) -> str:
        if epoch == 0:
            return "epoch 0 - at initialization"
        planned = self._history.layout.epochs if self._history is not None else 0
        return f"epoch {epoch} of {max(planned, epoch)}"

    def _update_header(self) -> None:
        t = self._theme
        size = t.point_size(self._font_scale, 2)
        sub = t.point_size(self._font_scale, 0.5)
        text = f"<span style='font-size:{size:.1f}pt; font-weight:600'>{self.title}</span>"
        if self._history is not None and len(self._history):
            text += (
                f"<span style='font-size:{sub:.1f}pt; color:{t.muted}'>"
                f"&nbsp;&nbsp;·&nbsp;&nbsp;{self._epoch_text(self._epoch)}</span>"
            )
        self._header.setText(text)

    def _clear_plots(self) -> None:
        self._plots = []
        self._labels = {}
        self._titles = {}
        self._legends = []
        self._row_legends = []
        self._grids = {}

    def _forget_items(self) -> None:
        """Drop the references to plot items (and what they drew) that :meth:`_bind` created."""

    @staticmethod
    def _show_note(note: QLabel, shown: bool, *content: QWidget) -> None:
        """``note`` in place of ``content`` (a run the panel cannot draw), or ``content`` in place of ``note``."""
        for widget in content if shown else (note,):  # hidden first, so the layout never holds both
            widget.hide()
        for widget in (note,) if shown else content:
            widget.show()

    def _new_view(self) -> pg.GraphicsLayoutWidget:
        """A graphics canvas whose background follows the theme."""
        view = pg.GraphicsLayoutWidget()
        # pyqtgraph caches the background as a pixmap the size of the view; ours
        # is a flat fill, so the cache saved nothing and kept 1-2 MB per view.
        view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)
        view.installEventFilter(self)  # its resizes fit the legends in rows (eventFilter)
        view.ci.setContentsMargins(4, 4, 4, 4)
        view.ci.setSpacing(6)
        self._views.append(view)
        return view

    def _add_plot(
        self, layout: pg.GraphicsLayout, row: int, col: int, grid: tuple[bool, bool] = (True, True),
        **kwargs: object,
    ) -> pg.PlotItem:
        """A plot with decade-labelled axes, registered for theme and font changes."""
        axes = {side: DecadeAxis(side) for side in ("left", "bottom")}
        plot = pg.PlotItem(axisItems=axes)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        layout.addItem(plot, row=row, col=col, **kwargs)
        self._plots.append(plot)
        self._grids[id(plot)] = grid
        return plot

    def _set_label(self, plot: pg.PlotItem, side: str, text: str) -> None:
        self._labels[(id(plot), side)] = text
        plot.setLabel(side, text, **self._label_style())

    def _set_title(self, plot: pg.PlotItem, text: str) -> None:
        """Set a plot title; a no-op when unchanged (titles are set every frame)."""
        if self._titles.get(id(plot)) == text:
            return
        self._titles[id(plot)] = text
        t = self._theme
        plot.setTitle(text, size=f"{t.point_size(self._font_scale, 1):.1f}pt", color=t.foreground)
        # pyqtgraph fixes the title row at 30 px, which clips large (presentation) text.
        height = max(30, round(QFontMetrics(t.font(self._font_scale, 1)).height() * 1.3))
        plot.titleLabel.setMaximumHeight(height)
        plot.layout.setRowFixedHeight(0, height)

    def _add_row_legend(
        self, view: pg.GraphicsLayoutWidget, row: int, columns: int, col: int = 0, colspan: int = 1,
    ) -> pg.LegendItem:
        """A legend in a row of ``view``'s layout: up to ``columns`` entries a row, fewer if they do not fit."""
        legend = pg.LegendItem(colCount=max(1, columns))
        view.ci.addItem(legend, row=row, col=col, colspan=colspan)
        self._legends.append(legend)
        self._row_legends.append((legend, view, max(1, columns)))
        return legend

    def _fit_row_legends(self) -> None:
        # Presentation fonts on a narrow screen: six entries in one row ran past the canvas's edge.
        for legend, view, most in self._row_legends:
            if not legend.items or view.width() < 100:  # not laid out yet
                continue
            spacing = legend.layout.horizontalSpacing()
            entries = [sample.boundingRect().width() + spacing + label.item.boundingRect().width()
                       for sample, label in legend.items]
            available = view.width() - 2 * _LEGEND_MARGIN
            columns = min(most, len(entries))
            while columns > 1 and _row_width(entries, columns, spacing) > available:
                columns -= 1
            legend.setColumnCount(columns)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # A canvas's new width is known here, before the canvas lays out its plots.
        if event.type() == QEvent.Type.Resize and watched in self._views:
            self._fit_row_legends()
        return super().eventFilter(watched, event)

    def _add_legend(self, plot: pg.PlotItem, **kwargs: object) -> pg.LegendItem:
        legend = plot.addLegend(**kwargs)
        self._legends.append(legend)
        return legend

    def _add_caption(self, text: str) -> QLabel:
        """A muted, word-wrapped explanation (floors, markers) under the plots.

        A QLabel, not a plot item: it wraps instead of forcing the canvas wider.
        """
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        self._captions.append(label)
        self._style_caption(label)
        return label

    def _style_caption(self, label: QLabel) -> None:
        t = self._theme
        label.setStyleSheet(f"color: {t.muted}; font-size: {t.point_size(self._font_scale, -0.5):.1f}pt;")

    def _label_style(self) -> dict[str, str]:
        t = self._theme
        return {"color": t.foreground, "font-size": f"{t.point_size(self._font_scale):.1f}pt"}

    def _apply_style(self) -> None:
        t = self._theme
        scale = self._font_scale
        tick_font = t.font(scale, -0.5)
        for view in self._views:
            view.setBackground(t.background)
        for plot in self._plots:
            for side in ("left", "bottom", "right", "top"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(t.foreground, width=self._line_scale))
                axis.setTextPen(pg.mkPen(t.foreground))
                axis.setStyle(tickFont=tick_font, tickTextOffset=max(2, round(3 * scale)),
                              tickLength=-round(5 * self._line_scale))
                label = self._labels.get((id(plot), side))
                if label is not None:
                    plot.setLabel(side, label, **self._label_style())
            # A title longer than its plot is clipped instead of pushing the canvas past the panel
            # (large presentation fonts on a narrow screen).
            plot.titleLabel.setMinimumWidth(0)
            grid_x, grid_y = self._grids.get(id(plot), (True, True))
            plot.showGrid(x=grid_x, y=grid_y, alpha=t.grid_alpha)
            title = self._titles.pop(id(plot), None)
            if title is not None:
                self._set_title(plot, title)
        for legend in self._legends:
            self._style_legend(legend)
        self._fit_row_legends()
        for caption in self._captions:
            self._style_caption(caption)
        self._apply_palette()
        self._style_items()

    def _apply_palette(self) -> None:
        """Panel chrome (header, table, controls) in the theme's colours, so figures match."""
        t = self._theme
        palette = self.palette()
        bg, fg = QColor(t.background), QColor(t.foreground)
        alt = bg.darker(106) if not t.dark else bg.lighter(125)
        for role, color in (
            (QPalette.ColorRole.Window, bg.darker(104) if not t.dark else bg),
            (QPalette.ColorRole.Base, bg),
            (QPalette.ColorRole.AlternateBase, alt),
            (QPalette.ColorRole.Button, alt),
            (QPalette.ColorRole.WindowText, fg),
            (QPalette.ColorRole.Text, fg),
            (QPalette.ColorRole.ButtonText, fg),
        ):
            palette.setColor(role, color)
        self.setPalette(palette)

    def _style_legend(self, legend: pg.LegendItem) -> None:
        t = self._theme
        legend.setLabelTextColor(t.foreground)
        legend.setLabelTextSize(f"{t.point_size(self._font_scale, -0.5):.1f}pt")
        for _sample, label in legend.items:
            label.setText(label.text)  # setAttr alone does not redraw the text
        fill = pg.mkColor(t.background)
        fill.setAlpha(200)
        legend.setBrush(pg.mkBrush(fill))
        legend.setPen(pg.mkPen(t.muted, width=0.5))

    def _lane_html(self, lane: int, text: str) -> str:
        return f"<span style='color:{lane_color(lane, self._theme).name()}'>{text}</span>"


_LEGEND_MARGIN = 16  # the canvas's and the legend's own margins, each side


def _row_width(entries: list[float], columns: int, spacing: float) -> float:
    """Width of a legend laid out row by row in ``columns`` columns, each as wide as its widest entry."""
    widths = [max(entries[j::columns]) for j in range(columns)]
    return sum(widths) + spacing * (columns - 1)


def layer_ticks(n_layers: int) -> list[tuple[float, str]]:
    """Tick labels for a layer axis 1..L: every layer, or about a dozen on a deep net (always the last)."""
    step = 1 if n_layers <= 16 else math.ceil(n_layers / 12)
    ticks = list(range(1, n_layers + 1, step))
    if ticks[-1] != n_layers:
        ticks.append(n_layers)
    return [(float(k), str(k)) for k in ticks]
