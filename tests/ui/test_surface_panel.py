"""The loss-surface panel, fed synthetic surface races (numpy optimizers, no TensorFlow)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from panel_checks import assert_unbind_frees_everything
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from synthetic import race_history, surface_history, surface_layout, surface_reports, surface_trajectories

from gradviz.engine.history import RunHistory
from gradviz.engine.surfaces import SURFACES
from gradviz.ui.figures import render_figures
from gradviz.ui.panels import EXTRA_PANELS, PANELS, SurfacePanel
from gradviz.ui.panels.surface import NOT_A_SURFACE
from gradviz.ui.theme import DARK

SHOTS = Path("/tmp/gradviz_shots/surface")


@pytest.fixture(scope="module")
def ravine() -> RunHistory:
    return surface_history("ravine", 60, diverging_lr=0.045)  # lane 3 diverges at step 37


@pytest.fixture
def make_panel(panel_factory):
    return functools.partial(panel_factory, SurfacePanel)


def xy(item) -> np.ndarray:
    x, y = item.getData()
    if x is None:
        return np.empty((0, 2))
    return np.column_stack([x, y])


def test_name_title_and_extra_panel() -> None:
    assert (SurfacePanel.name, SurfacePanel.title) == ("surface", "Loss surface")
    assert SurfacePanel in EXTRA_PANELS and EXTRA_PANELS[-1] is SurfacePanel
    assert SurfacePanel not in PANELS


def test_synthetic_ravine_zig_zags(ravine) -> None:
    y = ravine.positions[0, :20, 1]  # SGD across the valley: y changes sign every step
    assert (np.sign(y[1:]) != np.sign(y[:-1])).all()
    assert ravine.diverged_epoch().tolist() == [-1, -1, -1, 37]


def test_trajectories_grow_up_to_the_epoch(make_panel, ravine) -> None:
    panel = make_panel(ravine, 10)
    for epoch in (10, 0, 25, 60):
        panel.render(epoch)
        for lane in range(3):
            want = ravine.positions[lane, : epoch + 1]
            np.testing.assert_allclose(xy(panel.path(lane)), want)
            np.testing.assert_allclose(xy(panel.head(lane)), want[-1:])
    assert panel.epoch == 60
    assert "step 60 of 60" in panel._header.text()
    panel.render(0)
    assert "step 0" in panel._header.text()
    np.testing.assert_allclose(xy(panel.head(0)), [SURFACES["ravine"].start])


def test_loss_curves_are_f_at_each_position(make_panel, ravine) -> None:
    panel = make_panel(ravine, 30)
    assert panel.log_scale and panel.loss_plot.getAxis("left").logMode
    assert "log scale" in panel._labels[(id(panel.loss_plot), "left")]
    for lane in range(3):
        x, y = panel.curve(lane).xData, panel.curve(lane).yData  # getData() is log10 in log mode
        np.testing.assert_array_equal(x, np.arange(31))
        p = ravine.positions[lane, :31]
        np.testing.assert_allclose(y, SURFACES["ravine"].f(p[:, 0], p[:, 1]), rtol=1e-9)
        np.testing.assert_allclose(y, ravine.full_loss[lane, :31])


def test_nan_tail_ends_the_line(make_panel, ravine) -> None:
    panel = make_panel(ravine, 36)
    assert xy(panel.diverge_marker(3)).size == 0
    assert np.isfinite(xy(panel.head(3))).all()
    for epoch in (37, 45, 60):
        panel.render(epoch)
        path = xy(panel.path(3))
        assert len(path) == epoch + 1 and np.isnan(path[37:]).all()
        assert xy(panel.head(3)).size == 0  # no current position once diverged
        assert xy(panel.diverge_marker(3)).shape == (1, 2)  # ✕ at the last finite (drawable) point
        y = panel.curve(3).yData
        assert np.isnan(y[37:]).all() and np.isfinite(y[:37]).all()
    panel.render(20)  # scrubbing back clears the mark
    assert xy(panel.diverge_marker(3)).size == 0


def test_background_is_fixed_log_grid_with_contours(make_panel, ravine) -> None:
    panel = make_panel(ravine, 0)
    img = panel.image
    assert img.image.shape == (SurfacePanel.GRID, SurfacePanel.GRID)
    assert np.isfinite(img.image).all()
    lo, hi = panel.levels
    assert lo < hi
    # the darkest pixel is at the minimum (0, 0); row 0 is y_min
    r, c = np.unravel_index(np.argmin(img.image), img.image.shape)
    (x0, x1), (y0, y1) = SURFACES["ravine"].bounds
    n = SurfacePanel.GRID
    assert abs(x0 + (c + 0.5) * (x1 - x0) / n) < 0.05 and abs(y0 + (r + 0.5) * (y1 - y0) / n) < 0.02
    rect = img.mapRectToParent(img.boundingRect())
    assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((x0, x1, y0, y1))
    seen = set()
    for epoch in (0, 10, 37, 60, 3):
        panel.render(epoch)
        seen.add(tuple(panel.image.getLevels()))
    assert seen == {(lo, hi)}
    levels = panel.contour_levels
    assert len(panel.contours) == len(levels) == SurfacePanel.CONTOURS
    assert np.allclose(np.diff(levels), levels[1] - levels[0])  # evenly spaced logs = log-spaced f
    assert all(c.parentItem() is img for c in panel.contours)
    np.testing.assert_allclose(panel.minima_marker.getData()[0], [0.0])
    np.testing.assert_allclose(np.column_stack(panel.start_marker.getData()), [SURFACES["ravine"].start])
    assert SURFACES["ravine"].formula in panel._titles[id(panel.surface_plot)]


def test_render_only_updates_items(make_panel, ravine) -> None:
    panel = make_panel(ravine, 3)
    counts = [len(plot.items) for plot in panel._plots]
    image = panel.image.image
    for epoch in (60, 0, 30, 999, -5):
        panel.render(epoch)
    assert [len(plot.items) for plot in panel._plots] == counts
    assert panel.image.image is image


def test_clicking_the_surface_emits_the_point(make_panel, ravine, qtbot) -> None:
    panel = make_panel(ravine, 20)
    panel.show()
    qtbot.waitExposed(panel)
    view = panel._surface_view
    vb = panel.surface_plot.getViewBox()
    for point in ((1.0, 0.5), (-2.0, -0.25), (0.0, 0.0)):
        scene_pos = vb.mapViewToScene(QPointF(*point))
        with qtbot.waitSignal(panel.start_selected, timeout=2000) as blocker:
            QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene_pos))
        (got,) = blocker.args
        assert isinstance(got, tuple) and all(isinstance(v, float) for v in got)
        assert got == pytest.approx(point, abs=0.03)
    with qtbot.assertNotEmitted(panel.start_selected):  # the axis is not the surface
        left = panel.surface_plot.getAxis("left").sceneBoundingRect().center()
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(left))
    assert "Click the surface to start the race from another point." in panel._caption.text()


def test_saddle_uses_a_linear_axis(make_panel) -> None:
    hist = surface_history("saddle", 150)
    panel = make_panel(hist, 150)
    assert not panel.log_scale and not panel.loss_plot.getAxis("left").logMode
    assert "linear" in panel._labels[(id(panel.loss_plot), "left")]
    assert np.isfinite(panel.image.image).all()  # shifted by the grid minimum (f < 0 there)
    _x, y = panel.curve(2).getData()
    assert np.nanmin(y) < 0  # negative f drawn as is
    assert "saddle point" in [label.text for _s, label in panel._legend.items]


@pytest.mark.parametrize("function", ["rosenbrock", "himmelblau", "beale"])
def test_other_surfaces_bind_and_render(make_panel, function) -> None:
    hist = surface_history(function, 40)
    panel = make_panel(hist, 40)
    assert panel.log_scale
    assert np.isfinite(panel.image.image).all()
    assert len(panel.minima_marker.getData()[0]) == len(SURFACES[function].minima)
    for lane in range(hist.layout.n_lanes):
        assert len(xy(panel.path(lane))) == 41


def test_live_history_and_all_nan_lane(make_panel) -> None:
    names, positions = surface_trajectories("ravine", 8)
    positions[1, 1:] = np.nan  # a lane that is lost after the first step
    layout = surface_layout("ravine", names, 8)
    live = RunHistory(layout)
    panel = make_panel(live)
    panel.render(0)  # nothing recorded yet: no-op
    for report in surface_reports(layout, positions):
        live.append(report)
        panel.render(report.epoch)
        assert len(xy(panel.path(0))) == report.epoch + 1
    assert xy(panel.head(1)).size == 0


def test_not_a_surface_shows_a_message(make_panel, ravine) -> None:
    panel = make_panel(race_history(10), 5)
    assert panel.surface is None and panel.message.text() == NOT_A_SURFACE
    assert not panel.message.isHidden() and panel._splitter.isHidden()
    panel.set_lane_visible(1, False)
    panel.set_theme(DARK)
    panel.bind(ravine)
    panel.render(4)
    assert panel.surface is not None and panel.message.isHidden()


def test_lane_visibility_font_and_theme(make_panel, ravine) -> None:
    panel = make_panel(ravine, 10)
    panel.set_lane_visible(1, False)
    assert not any(item.isVisible() for item in (panel.path(1), panel.head(1), panel.curve(1)))
    panel.set_lane_visible(1, True)
    assert panel.path(1).isVisible()
    with pytest.raises(IndexError):
        panel.set_lane_visible(4, False)
    panel.set_font_scale(1.6)
    panel.set_theme(DARK)
    assert panel._views[0].backgroundBrush().color().name().upper() == DARK.background.upper()
    assert panel.image.getLevels() == pytest.approx(panel.levels)


@pytest.mark.parametrize("size", [(1280, 800), (1920, 1080)])
@pytest.mark.parametrize("function", ["ravine", "rosenbrock", "himmelblau"])
def test_figures(function, size) -> None:
    epochs = {"ravine": 60, "rosenbrock": 300, "himmelblau": 120}[function]
    hist = surface_history(function, epochs, diverging_lr=0.045 if function == "ravine" else None)
    out = SHOTS / f"{function}_{size[0]}x{size[1]}"
    (path,) = render_figures(hist, out, size, panels=[SurfacePanel], epoch=epochs // 2)
    image = QImage(str(path))
    assert (image.width(), image.height()) == size


def test_unbind_lets_go_of_the_run_and_its_items(make_panel, ravine) -> None:
    assert_unbind_frees_everything(make_panel(ravine, 40), ravine, 40)


def test_legend_wraps_to_fit_a_narrow_canvas_with_large_fonts(make_panel, ravine, qtbot) -> None:
    # Presentation fonts at 1024×768: six entries in one row ran past the canvas's edge.
    panel = make_panel(ravine, 40)
    panel.show()
    qtbot.waitExposed(panel)
    legend, view = panel._legend, panel._surface_view
    assert legend.columnCount == 6  # 1280 wide, normal fonts: one row
    panel.set_font_scale(1.8)
    panel.resize(1000, 700)
    qtbot.waitUntil(lambda: legend.columnCount < 6)
    qtbot.waitUntil(lambda: view.centralWidget.geometry().width() <= view.width())  # nothing runs past the edge
    content = legend.layout.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
    assert content <= view.width()
    panel.set_font_scale(1.0)
    panel.resize(1280, 800)
    qtbot.waitUntil(lambda: legend.columnCount == 6)
