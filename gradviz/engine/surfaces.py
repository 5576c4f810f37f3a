"""2-D test functions for the loss-surface race: a point (x, y) is the whole "model".

Each function is written once against an array namespace (numpy for the
contours, TensorFlow for the optimizer steps), so the surface drawn and the
surface descended are the same formula.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SURFACES", "Surface", "SurfaceInfo"]


def _rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _ravine(x: Any, y: Any) -> Any:
    return 0.5 * (x**2 + 50 * y**2)


def _saddle(x: Any, y: Any) -> Any:
    return x**2 - y**2


def _beale(x: Any, y: Any) -> Any:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(x: Any, y: Any) -> Any:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


@dataclass(frozen=True, slots=True)
class Surface:
    """A test function with the view and start that show it best.

    Attributes
    ----------
    name
        As in a spec's ``"problem": {"function": ...}``.
    formula
        The function as the class reads it.
    f
        f(x, y), elementwise on numpy arrays or TensorFlow tensors.
    bounds
        ((x_min, x_max), (y_min, y_max)) of the view.
    start
        Default start point.
    minima
        Global minima (and, for the saddle, the saddle point), to mark.
    """

    name: str
    formula: str
    f: Callable[[Any, Any], Any]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface("rosenbrock", "(1 − x)² + 100 (y − x²)²", _rosenbrock, ((-2.0, 2.0), (-1.0, 3.0)), (-1.5, 2.0),
                ((1.0, 1.0),)),
        Surface("ravine", "0.5 (x² + 50 y²)", _ravine, ((-3.0, 3.0), (-1.0, 1.0)), (-2.5, 0.6), ((0.0, 0.0),)),
        Surface("saddle", "x² − y²", _saddle, ((-2.0, 2.0), (-2.0, 2.0)), (-1.5, 0.01), ((0.0, 0.0),)),
        Surface("beale", "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²", _beale,
                ((-4.5, 4.5), (-4.5, 4.5)), (1.0, 1.4), ((3.0, 0.5),)),
        Surface("himmelblau", "(x² + y − 11)² + (x + y² − 7)²", _himmelblau, ((-5.0, 5.0), (-5.0, 5.0)), (-0.5, -0.5),
                ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))),
    )
}


@dataclass(frozen=True, slots=True)
class SurfaceInfo:
    """What a panel needs to draw a surface run (``RunLayout.surface``)."""

    function: str
    formula: str
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    minima: tuple[tuple[float, float], ...]

    def value(self, x: Any, y: Any) -> Any:
        """f(x, y) on numpy arrays (for contours)."""
        return SURFACES[self.function].f(x, y)
