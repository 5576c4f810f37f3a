"""Offscreen figures: the live panels rendered to PNG files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage
from synthetic import make_history

from gradviz.engine.history import RunHistory
from gradviz.ui.figures import render_figures
from gradviz.ui.panels import GradientsPanel
from gradviz.ui.theme import DARK

REPO = Path(__file__).resolve().parents[2]


def pixels(path: Path) -> np.ndarray:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    buf = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return buf.reshape(image.height(), image.width()).copy()


@pytest.fixture(scope="module")
def history() -> RunHistory:
    return make_history()


def test_render_figures_writes_one_png_per_panel(qapp, tmp_path, history) -> None:
    paths = render_figures(history, tmp_path / "figs", size=(960, 600), epoch=120)
    assert [p.name for p in paths] == ["race.png", "gradients.png", "activations.png"]
    for path in paths:
        assert path.stat().st_size > 10_000
        image = QImage(str(path))
        assert (image.width(), image.height()) == (960, 600)
        px = pixels(path)
        assert len(np.unique(px)) > 50, f"{path.name} is nearly a flat colour"


def test_render_figures_draws_the_data(qapp, tmp_path, history) -> None:
    (path,) = render_figures(history, tmp_path, size=(800, 500), panels=(GradientsPanel,))
    px = pixels(path)
    # viridis fills the heatmaps: plenty of distinct, clearly coloured (not grey) pixels
    r, g, b = (px >> 16) & 255, (px >> 8) & 255, px & 255
    coloured = (np.abs(r.astype(int) - b) > 60) | (np.abs(g.astype(int) - b) > 60)
    assert coloured.mean() > 0.05


def test_render_figures_dark_theme_and_default_size(qapp, tmp_path, history) -> None:
    paths = render_figures(history, tmp_path, theme=DARK, font_scale=1.4)
    for path in paths:
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1280, 800)
        px = pixels(path)
        # mostly dark: the median brightness is low
        brightness = ((px >> 16) & 255) + ((px >> 8) & 255) + (px & 255)
        assert np.median(brightness) < 3 * 80


def test_render_figures_needs_a_recorded_epoch(qapp, tmp_path, history) -> None:
    with pytest.raises(ValueError):
        render_figures(RunHistory(history.layout), tmp_path)


def test_render_figures_from_a_plain_script(tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests" / "ui")!r})
        from synthetic import make_history
        from PySide6.QtWidgets import QApplication
        from gradviz.ui.figures import render_figures
        assert QApplication.instance() is None
        paths = render_figures(make_history(), {str(tmp_path)!r}, size=(640, 400))
        print(",".join(p.name for p in paths))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "race.png,gradients.png,activations.png"
    for name in ("race", "gradients", "activations"):
        image = QImage(str(tmp_path / f"{name}.png"))
        assert (image.width(), image.height()) == (640, 400)
