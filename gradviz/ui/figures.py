"""Headless figures: each live panel rendered offscreen to a PNG.

The same panel classes as the window draw the figures, so a learner's files
show exactly what the class saw.  Works from a plain script or the headless
CLI: a QApplication (offscreen, unless the caller chose a platform) is created
if none exists.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSize, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from gradviz.engine.files import atomic_write_bytes
from gradviz.engine.history import RunHistory
from gradviz.ui.panels import PANELS, Panel
from gradviz.ui.theme import LIGHT, Theme

__all__ = [
    "ensure_app", "lay_out_panel", "panel_image", "panels_for", "png_bytes", "render_figures", "render_panel",
]


def ensure_app() -> QApplication:
    """The running QApplication, or a new offscreen one when there is none."""
    app = QApplication.instance()
    if app is None:
        # Nobody will see a window we create here: never try to reach a display.
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        app = QApplication([])
    assert isinstance(app, QApplication)
    return app


def panels_for(history: RunHistory) -> tuple[type[Panel], ...]:
    """The panel classes that mean something for this kind of run (as the window shows them)."""
    from gradviz.engine.lab import lab_grid
    from gradviz.ui.panels import JacobiansPanel, LabPanel, RacePanel, SurfacePanel

    if history.layout.surface is not None:
        return (RacePanel, SurfacePanel)
    return (*PANELS, JacobiansPanel) + ((LabPanel,) if lab_grid(history.layout.spec) else ())


def lay_out_panel(panel: Panel, size: tuple[int, int]) -> None:
    """Lay ``panel`` (a panel of no window) out at ``size`` pixels without showing it on screen."""
    app = ensure_app()
    panel.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    panel.resize(int(size[0]), int(size[1]))
    panel.show()
    # Two passes: the first lays out widgets, the second lets pyqtgraph fit
    # its axes to the sizes the first one produced.
    app.processEvents()
    panel.render(panel.epoch)
    app.processEvents()


def panel_image(panel: Panel, size: tuple[int, int]) -> QImage:
    """``panel`` laid out at ``size`` and drawn into an image of exactly that many pixels."""
    width, height = int(size[0]), int(size[1])
    lay_out_panel(panel, (width, height))
    image = panel.grab().toImage()
    if image.size() != QSize(width, height):
        image = image.scaled(width, height, Qt.AspectRatioMode.IgnoreAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    return image


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("could not encode the figure as PNG")
    buffer.close()
    return bytes(data.data())


def render_panel(panel: Panel, path: Path, size: tuple[int, int]) -> Path:
    """Lay ``panel`` out at ``size`` pixels without showing it, and save a PNG (whole or not at all)."""
    data = png_bytes(panel_image(panel, size))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def render_figures(
    history: RunHistory,
    out_dir: str | Path,
    size: tuple[int, int] = (1280, 800),
    *,
    epoch: int | None = None,
    panels: Sequence[type[Panel]] = PANELS,
    theme: Theme = LIGHT,
    font_scale: float = 1.0,
) -> list[Path]:
    """Render every panel at ``epoch`` (default: the last recorded) to ``out_dir/<panel.name>.png``.

    Parameters
    ----------
    history
        The recorded run; needs at least one epoch.
    out_dir
        Folder to write into (created if missing).
    size
        (width, height) of each PNG in pixels.
    epoch
        The epoch to show; the newest one if ``None``.
    panels
        Panel classes to render, in order.
    theme, font_scale
        Look of the figures (light at scale 1 prints well).

    Returns
    -------
    list of Path
        The files written, in ``panels`` order.
    """
    if not len(history):
        raise ValueError("the run has no recorded epoch to draw")
    ensure_app()
    out = Path(out_dir)
    shown = history.last_epoch if epoch is None else epoch
    paths = []
    for cls in panels:
        panel = cls(theme=theme)
        try:
            panel.set_font_scale(font_scale)
            panel.bind(history)
            panel.render(shown)
            paths.append(render_panel(panel, out / f"{cls.name}.png", size))
        finally:
            panel.close()
    return paths
