"""Colours, line styles and font sizes shared by every panel.

Lanes are told apart by the Okabe–Ito palette (safe for the common forms of
colour blindness) *and* by a line style and a marker symbol, so a lane can
still be identified on a grey-scale projector or a printed figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

__all__ = [
    "DARK",
    "LIGHT",
    "OKABE_ITO",
    "Theme",
    "lane_color",
    "lane_icon",
    "lane_pen",
    "lane_style",
    "lane_symbol",
    "superscript",
    "theme_named",
]

# Okabe & Ito (2008), in the order lanes take them: the first four (the
# usual race) are the most distinct pairwise; orange and vermillion, which
# are easy to confuse, are four lanes apart.  Yellow comes late: it is hard
# to read on white; black is swapped for grey on a dark background.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)

_STYLES: tuple[Qt.PenStyle, ...] = (
    Qt.PenStyle.SolidLine,
    Qt.PenStyle.DashLine,
    Qt.PenStyle.DotLine,
    Qt.PenStyle.DashDotLine,
    Qt.PenStyle.DashDotDotLine,
)
_SYMBOLS: tuple[str, ...] = ("o", "s", "t", "d", "star", "p", "h", "t1")


@dataclass(frozen=True, slots=True)
class Theme:
    """The look of the plots: light for print, dark for a dim lecture hall.

    Attributes
    ----------
    name
        ``"light"`` or ``"dark"``.
    background, foreground
        Plot background and the colour of axes, ticks and text.
    muted
        Secondary text and the training-data points.
    grid_alpha
        Opacity of the grid lines, 0..1.
    base_point_size
        Font size in points at font scale 1.
    """

    name: str
    background: str
    foreground: str
    muted: str
    grid_alpha: float = 0.25
    base_point_size: float = 10.0

    @property
    def dark(self) -> bool:
        return self.name == "dark"

    def point_size(self, scale: float = 1.0, step: float = 0.0) -> float:
        """Font size in points for ``scale``; ``step`` adds points (titles are +1)."""
        return max(5.0, (self.base_point_size + step) * scale)

    def font(self, scale: float = 1.0, step: float = 0.0, bold: bool = False) -> QFont:
        f = QFont()
        f.setPointSizeF(self.point_size(scale, step))
        f.setBold(bold)
        return f


LIGHT = Theme("light", background="#FFFFFF", foreground="#202020", muted="#7A7A7A")
DARK = Theme("dark", background="#1E1E1E", foreground="#E6E6E6", muted="#9A9A9A", grid_alpha=0.2)


def lane_color(lane: int, theme: Theme = LIGHT) -> QColor:
    """The lane's Okabe–Ito colour (black becomes light grey on a dark background)."""
    hex_ = OKABE_ITO[lane % len(OKABE_ITO)]
    if hex_ == "#000000" and theme.dark:
        hex_ = "#BBBBBB"
    return QColor(hex_)


def theme_named(name: str) -> Theme:
    """``LIGHT`` or ``DARK`` by name; ``LIGHT`` for any other name."""
    return DARK if name == DARK.name else LIGHT


def lane_style(lane: int) -> Qt.PenStyle:
    """Line style: solid, dashed, dotted, dash-dot, dash-dot-dot, in turn (shifted after eight lanes)."""
    return _STYLES[(lane // len(OKABE_ITO) + lane) % len(_STYLES)]


def lane_symbol(lane: int) -> str:
    """A pyqtgraph marker symbol, different for each of the first eight lanes."""
    return _SYMBOLS[lane % len(_SYMBOLS)]


def lane_pen(lane: int, theme: Theme = LIGHT, width: float = 2.0) -> QPen:
    """A cosmetic pen in the lane's colour and line style."""
    pen = QPen(lane_color(lane, theme))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(lane_style(lane))
    return pen


def lane_icon(lane: int, theme: Theme = LIGHT, size: int = 16) -> QIcon:
    """A swatch for tables and menus: the lane's colour as a line in its style."""
    pix = QPixmap(size * 2, size)
    pix.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.fillRect(2, 2, size - 4, size - 4, lane_color(lane, theme))
    pen = lane_pen(lane, theme, width=2.5)
    painter.setPen(pen)
    painter.drawLine(size, size // 2, 2 * size - 2, size // 2)
    painter.end()
    return QIcon(pix)


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(exponent: int) -> str:
    """``10`` raised to ``exponent`` as text: ``10⁻²``, ``1``, ``10``, ``10³``."""
    if exponent == 0:
        return "1"
    if exponent == 1:
        return "10"
    return "10" + str(exponent).translate(_SUPERSCRIPT)
