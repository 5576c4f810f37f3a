"""The live panels, fed synthetic runs (no TensorFlow): what their plot items hold."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from panel_checks import assert_unbind_frees_everything
from synthetic import LaneDef, SyntheticRun, make_broken_history, make_history

from gradviz.engine.history import RunHistory
from gradviz.ui.panels import PANELS, ActivationsPanel, GradientsPanel, RacePanel
from gradviz.ui.panels.activations import density
from gradviz.ui.panels.base import safe_log10
from gradviz.ui.theme import DARK, LIGHT, OKABE_ITO, lane_color, lane_style

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history() -> RunHistory:
    # 3 lanes (12, 12, 8 layers), 200 epochs, lane 2 diverges at 50, lane 1's layer 3 is dead,
    # a learning-rate edit on lane 0 before epoch 30.
    return make_history()


@pytest.fixture
def make_panel(panel_factory):
    return panel_factory


def n_points(item: pg.PlotDataItem) -> int:
    return 0 if item.yData is None else len(item.yData)


def loss_with_init(history: RunHistory, epoch: int) -> np.ndarray:
    y = np.array(history.loss[:, : epoch + 1], dtype=float)
    y[:, 0] = history.full_loss[:, 0]
    y[np.isinf(y)] = np.nan
    return y


# contract ----------------------------------------------------------------


def test_panel_classes_have_titles_and_names() -> None:
    assert [(p.name, p.title) for p in PANELS] == [
        ("race", "Optimizer race"),
        ("gradients", "Gradient flow"),
        ("activations", "Activations"),
    ]


@pytest.mark.parametrize("cls", PANELS)
def test_render_before_bind_and_on_empty_history_is_a_no_op(cls, qtbot, history) -> None:
    panel = cls()
    qtbot.addWidget(panel)
    panel.render(3)
    empty = RunHistory(history.layout)
    panel.bind(empty)
    panel.render(0)
    assert panel.epoch == 0


@pytest.mark.parametrize("cls", PANELS)
def test_render_only_updates_items(cls, make_panel, history) -> None:
    panel = make_panel(cls, history, 10)
    counts = [len(plot.items) for plot in panel._plots]
    for epoch in (200, 3, 0, 150, 999, -5):
        panel.render(epoch)
    assert [len(plot.items) for plot in panel._plots] == counts


@pytest.mark.parametrize("cls", PANELS)
def test_unbind_lets_go_of_the_run_and_its_items(cls, make_panel, history) -> None:
    assert_unbind_frees_everything(make_panel(cls, history, 30), history, 30)


@pytest.mark.parametrize("cls", PANELS)
def test_epoch_is_clamped_to_recorded_range(cls, make_panel) -> None:
    partial = make_history(upto=40)
    panel = make_panel(cls, partial, 500)
    assert panel.epoch == 40
    panel.render(-3)
    assert panel.epoch == 0


@pytest.mark.parametrize("cls", PANELS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_runs_render_without_error(cls, make_panel, value) -> None:
    broken = make_broken_history(value, broken_edges=True)
    panel = make_panel(cls, broken)
    for epoch in range(broken.last_epoch + 1):
        panel.render(epoch)
    for lane in range(broken.layout.n_lanes):
        panel.set_lane_visible(lane, False)
        panel.set_lane_visible(lane, True)


@pytest.mark.parametrize("cls", PANELS)
def test_font_scale_and_theme(cls, make_panel, history) -> None:
    panel = make_panel(cls, history, 20)
    plot = panel._plots[0]
    before = plot.getAxis("bottom").style["tickFont"].pointSizeF()
    panel.set_font_scale(1.6)
    assert plot.getAxis("bottom").style["tickFont"].pointSizeF() == pytest.approx(1.6 * before)
    assert f"font-size:{LIGHT.point_size(1.6, 2):.1f}pt" in panel._header.text()
    with pytest.raises(ValueError):
        panel.set_font_scale(0)
    panel.set_theme(DARK)
    assert panel._views[0].backgroundBrush().color().name().upper() == DARK.background.upper()
    panel.render(30)  # still renders after restyling


@pytest.mark.parametrize("cls", PANELS)
def test_unknown_lane_is_an_error(cls, make_panel, history) -> None:
    panel = make_panel(cls, history, 5)
    with pytest.raises(IndexError):
        panel.set_lane_visible(3, False)


def test_lanes_differ_by_style_not_only_colour() -> None:
    assert len({lane_color(i).name() for i in range(8)}) == len(OKABE_ITO)
    assert len({lane_style(i) for i in range(4)}) == 4
    assert {(lane_color(i).name(), lane_style(i)) for i in range(40)}.__len__() == 40


def test_importing_panels_does_not_import_tensorflow() -> None:
    code = textwrap.dedent(
        """
        import sys
        import gradviz.ui.panels, gradviz.ui.figures, gradviz.ui.theme
        bad = sorted(m for m in sys.modules if m.split(".")[0] in {"tensorflow", "keras"})
        assert not bad, bad
        """
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": ""}, timeout=120)
    assert result.returncode == 0, result.stderr


# race ----------------------------------------------------------------------


def test_race_curves_hold_loss_up_to_the_selected_epoch(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 120)
    panel.set_log_scale(False)
    expected = loss_with_init(history, 120)
    for lane in range(3):
        curve = panel.curve(lane)
        np.testing.assert_array_equal(curve.xData, np.arange(121))
        np.testing.assert_allclose(curve.yData, expected[lane], equal_nan=True)
    # epoch 0 starts at the loss at initialization, not at the NaN epoch-0 "fit" loss
    assert np.isnan(history.loss[0, 0])
    assert panel.curve(0).yData[0] == history.full_loss[0, 0]
    panel.render(17)  # scrubbing back shortens the curves
    np.testing.assert_allclose(panel.curve(1).yData, loss_with_init(history, 17)[1])


def test_race_log_scale_clamps_to_a_floor_and_keeps_nan(make_panel) -> None:
    run = SyntheticRun(lanes=(LaneDef("a", layers=2), LaneDef("b", layers=2, diverge_at=12)), epochs=20)
    hist = make_history(run)
    panel = make_panel(RacePanel, hist, 20)
    assert panel.log_scale
    assert panel.loss_plot.getAxis("left").logMode
    y = panel.curve(1).yData
    assert np.isnan(y[12:]).all()  # inf at divergence shown as a gap, not sent to pyqtgraph
    assert np.isfinite(y[:12]).all()
    labels = panel.loss_plot.getAxis("left").logTickStrings([-2.0, -1.0, 0.0, 1.0], 1.0, 1.0)
    assert labels == ["10⁻²", "10⁻¹", "1", "10"]


def test_race_leaderboard_order_and_text(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 120)
    rows = panel.leaderboard()
    assert [r.name for r in rows] == ["ReLU + He", "Sigmoid", "Tanh (lr 1.0)"]
    current = loss_with_init(history, 120)[:, -1]
    assert rows[0].loss == pytest.approx(current[1])
    table = panel.table
    assert [table.item(r, 1).text() for r in range(3)] == ["ReLU + He", "Sigmoid", "Tanh (lr 1.0)"]
    assert table.columnCount() == 5
    assert table.item(2, 2).text() == "✕ @50"  # no current loss after divergence: when it went instead
    assert "Diverged at epoch 50" in table.item(2, 2).toolTip()
    assert table.item(0, 2).text() == f"{rows[0].loss:.4g}" and table.item(0, 2).toolTip() == ""
    # "reached" is the first epoch at or below the threshold: a quarter of the
    # mean starting loss unless the user picks one
    start = history.full_loss[:, 0].mean()
    assert panel.threshold == pytest.approx(float(f"{0.25 * start:.2g}"))
    panel.set_threshold(0.02)
    rows = panel.leaderboard()
    y = loss_with_init(history, 120)[1]
    first = int(np.flatnonzero(y <= 0.02)[0])
    assert rows[0].reached == first
    assert table.item(0, 4).text() == f"epoch {first}"
    assert table.horizontalHeaderItem(4).text() == "≤ 0.02 at"


def test_race_diverged_marker_appears_only_once_diverged(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 40)
    assert panel.leaderboard()[-1].diverged == -1
    assert n_points(panel.diverge_marker(2)) == 0
    assert "✕" not in panel.table.item(2, 2).text()
    panel.render(60)
    assert panel.table.item(2, 2).text() == "✕ @50"
    assert panel.diverge_marker(2).xData.tolist() == [49.0]  # last finite loss
    assert panel.leaderboard()[-1].diverged == 50


def test_race_threshold_is_configurable(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 200)
    panel.set_threshold(0.5)
    y = loss_with_init(history, 200)
    sigmoid = next(r for r in panel.leaderboard() if r.lane == 0)
    assert sigmoid.reached == int(np.flatnonzero(y[0] <= 0.5)[0])
    assert panel.table.horizontalHeaderItem(4).text() == "≤ 0.5 at"
    with pytest.raises(ValueError):
        panel.set_threshold(-1)


def test_race_fitted_curves_follow_the_scrubbed_epoch(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 80)
    assert panel.fit_visible is not False
    for epoch in (80, 5):
        panel.render(epoch)
        for lane in (0, 1):
            fit = panel.fitted_curve(lane)
            np.testing.assert_allclose(fit.xData, history.layout.grid_x)
            np.testing.assert_allclose(fit.yData, history.prediction(epoch)[lane])
    # a diverged lane's NaN prediction is not sent to the plot
    panel.render(120)
    assert n_points(panel.fitted_curve(2)) == 0


def test_race_hides_fit_plot_without_1d_inputs(make_panel) -> None:
    hist = make_history(SyntheticRun(input_dim=3, epochs=10))
    assert hist.layout.grid_x is None
    panel = make_panel(RacePanel, hist, 10)
    assert not panel.fit_visible
    assert len(panel.leaderboard()) == 3


def test_race_marks_hyperparameter_edits(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 20)
    assert n_points(panel.edit_marker(0)) == 0  # the edit (epoch 30) is in the future
    panel.render(100)
    assert panel.edit_marker(0).xData.tolist() == [30.0]
    assert panel.edit_marker(0).yData[0] == pytest.approx(panel.curve(0).yData[30])
    label = panel._edit_labels[0]
    assert label.isVisible() and "0.01 → 0.05" in label.toPlainText()


def test_race_hiding_a_lane_hides_its_items(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 100)
    panel.set_lane_visible(1, False)
    assert not panel.curve(1).isVisible()
    assert not panel.fitted_curve(1).isVisible()
    assert panel.curve(0).isVisible()
    panel.set_lane_visible(1, True)
    assert panel.curve(1).isVisible()


def _span(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    return float(values.min()), float(values.max())


def test_race_loss_axis_fits_the_visible_lanes(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 120)
    y = loss_with_init(history, 120)
    top = int(np.nanargmax(np.nanmax(np.where(np.isfinite(y), y, np.nan), axis=1)))
    for log in (False, True):
        panel.set_log_scale(log)
        view = np.log10(y) if log else y
        lo, hi = _span(view)
        shown_lo, shown_hi = panel.loss_plot.viewRange()[1]
        assert shown_lo <= lo and shown_hi >= hi
        assert shown_hi - shown_lo <= 1.25 * (hi - lo)  # fitted, not merely wide enough

    # Hiding the lane that reaches highest fits the axis to the others.
    panel.set_lane_visible(top, False)
    panel.render(120)
    lo, hi = _span(np.log10(np.delete(y, top, axis=0)))
    shown_lo, shown_hi = panel.loss_plot.viewRange()[1]
    assert shown_lo <= lo and shown_hi >= hi
    assert shown_hi - shown_lo <= 1.25 * (hi - lo)


def test_race_loss_axis_is_left_alone_once_the_learner_zooms(qtbot, make_panel, history) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    panel = make_panel(RacePanel, history, 60)
    panel.show()
    qtbot.waitExposed(panel)
    vb = panel.loss_plot.getViewBox()
    view = panel._loss_view

    def wheel_over(item: object) -> None:
        # rect(), not boundingRect(): an axis's bounding box reaches over the plot for its grid lines.
        at = view.mapFromScene(item.mapToScene(item.rect().center()))
        QApplication.sendEvent(view.viewport(), QWheelEvent(
            QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(0, 0), QPoint(0, 240),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))

    # Zooming along the epochs (over the bottom axis) keeps the loss axis fitted.
    wheel_over(panel.loss_plot.getAxis("bottom"))
    panel.render(100)
    lo, hi = _span(np.log10(loss_with_init(history, 100)))
    shown_lo, shown_hi = panel.loss_plot.viewRange()[1]
    assert shown_lo <= lo and shown_hi >= hi and shown_hi - shown_lo <= 1.25 * (hi - lo)

    wheel_over(vb)  # zooming in the plot takes the loss axis over
    zoomed = panel.loss_plot.viewRange()[1]
    panel.render(150)
    assert panel.loss_plot.viewRange()[1] == pytest.approx(zoomed)
    panel.set_log_scale(False)  # a new scale fits the curves again
    lo, hi = _span(loss_with_init(history, 150))
    shown_lo, shown_hi = panel.loss_plot.viewRange()[1]
    assert shown_lo <= lo and shown_hi >= hi


def test_empty_markers_are_not_set_again_each_frame(make_panel, history) -> None:
    panel = make_panel(RacePanel, history, 40)
    marker = panel.diverge_marker(0)  # lane 0 never diverges
    changes: list[object] = []
    marker.sigPlotChanged.connect(changes.append)
    for epoch in (41, 42, 43):
        panel.render(epoch)
    assert changes == []
    assert panel.curve(0).xData[-1] == 43


# gradients -----------------------------------------------------------------


def test_gradient_heatmap_is_log10_of_grad_norms(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 40)
    grads = np.array(history.layer("grad_norm"))  # (lanes, epochs, layers)
    for lane in range(3):
        image = panel.heatmap(lane).image
        assert image.shape == (12, 41)  # layers × epochs 0..40, layer 1 in row 0
        expected = np.log10(np.maximum(grads[lane, :41, :].T, panel.floor))
        np.testing.assert_allclose(image, expected, rtol=1e-5, equal_nan=True)
    # the dead layer (lane 1, layer 3) is at the floor, the missing layers of lane 2 are NaN
    assert (panel.heatmap(1).image[2] == -8).all()
    assert np.isnan(panel.heatmap(2).image[8:]).all()


def test_gradient_heatmap_follows_scrubbing_and_marks_divergence(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 150)
    image = panel.heatmap(2).image
    assert image.shape[1] == 151
    assert np.isnan(image[:, 50:]).all()  # inf and NaN after divergence: blank, no crash
    assert "diverged at epoch 50" in panel.heatmap_plot(2).titleLabel.text
    panel.render(10)
    assert panel.heatmap(2).image.shape[1] == 11
    assert panel.heatmap_plot(2).titleLabel.text == "Tanh (lr 1.0)"


def test_gradient_colour_levels_are_fixed(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 0)
    levels = []
    for epoch in (0, 10, 49, 50, 200, 3):
        panel.render(epoch)
        levels.append((tuple(panel.heatmap(0).getLevels()), tuple(panel.heatmap(2).getLevels()),
                       tuple(panel.color_bar.levels())))
    assert set(levels) == {((-8.0, 4.0), (-8.0, 4.0), (-8.0, 4.0))}


def test_gradient_bars_show_the_selected_epoch(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 25)
    g = np.array(history.layer("grad_norm")[:, 25, :])
    bars = panel.bars(0)
    np.testing.assert_allclose(bars.opts["height"], np.log10(g[0]) + 8)
    assert bars.opts["y0"] == -8
    # grouped: lane 0 left of lane 1 at every layer
    assert (panel.bars(0).opts["x"] < panel.bars(1).opts["x"]).all()
    # lane 1's dead layer 3 sits at the floor and is marked
    assert panel.bars(1).opts["height"][2] == 0
    marks = panel.floor_marks(1).getData()
    assert marks[0].tolist() == pytest.approx([3.0])
    # lane 2 has 8 layers, and none finite after divergence
    assert len(panel.bars(2).opts["x"]) == 8
    panel.render(60)
    assert len(panel.bars(2).opts["x"]) == 0


def test_gradient_hiding_a_lane(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 25)
    panel.set_lane_visible(0, False)
    assert not panel.heatmap(0).isVisible()
    assert not panel.bars(0).isVisible()
    assert panel.bars(1).isVisible()


def test_gradient_heatmap_grows_with_a_live_run(make_panel) -> None:
    from synthetic import make_layout, make_reports

    run = SyntheticRun(epochs=30)
    layout = make_layout(run)
    live = RunHistory(layout, capacity=4)
    reports = make_reports(run, layout)
    live.append(next(reports))
    panel = make_panel(GradientsPanel, live, 0)
    for report in reports:
        live.append(report)
        panel.render(report.epoch)
    full = make_history(run)
    expected = np.log10(np.maximum(np.array(full.layer("grad_norm"))[0].T, panel.floor))
    np.testing.assert_allclose(panel.heatmap(0).image, expected, rtol=1e-5)


# activations ----------------------------------------------------------------


def test_activation_histograms_follow_the_epoch(make_panel, history) -> None:
    panel = make_panel(ActivationsPanel, history, 0)
    assert "epoch 0 - at initialization" in panel._header.text()
    edges = history.layout.hist_edges
    for epoch in (0, 100):
        panel.render(epoch)
        counts = history.hist_counts(epoch)
        for lane, layer in ((0, 1), (1, 5), (2, 8)):
            curve = panel.hist_curve(lane, layer)
            np.testing.assert_allclose(curve.xData, edges[lane, layer - 1])
            widths = np.diff(edges[lane, layer - 1])
            c = counts[lane, layer - 1].astype(float)
            np.testing.assert_allclose(curve.yData, c / (c.sum() * widths), rtol=1e-6)
            assert np.sum(curve.yData * widths) == pytest.approx(1.0)
    assert "epoch 100 of 200" in panel._header.text()
    # lane 2 has no layer 12: its curve there is empty
    assert n_points(panel.hist_curve(2, 12)) == 0


def test_activation_variance_by_depth(make_panel, history) -> None:
    panel = make_panel(ActivationsPanel, history, 7)
    var = np.array(history.layer("act_var")[:, 7, :])
    curve = panel.variance_curve(0)
    np.testing.assert_array_equal(curve.xData, np.arange(1, 13))
    np.testing.assert_allclose(curve.yData, var[0])
    assert panel.variance_plot.getAxis("left").logMode
    panel.render(120)  # diverged lane: all NaN, nothing sent
    assert n_points(panel.variance_curve(2)) == 0


def test_activation_saturation_and_dead_fractions(make_panel, history) -> None:
    panel = make_panel(ActivationsPanel, history, 40)
    sat = np.array(history.layer("saturation")[:, 40, :])
    dead = np.array(history.layer("dead_fraction")[:, 40, :])
    # sigmoid lane: saturation of its 11 sigmoid layers (the linear output has none)
    np.testing.assert_allclose(panel.fraction_bars(0).opts["height"], 100 * sat[0, :11])
    # relu lane: dead fraction
    np.testing.assert_allclose(panel.fraction_bars(1).opts["height"], 100 * dead[1, :11])


def test_activation_many_layers_are_sampled(make_panel) -> None:
    run = SyntheticRun(lanes=(LaneDef("deep", "relu", 40),), epochs=3)
    panel = make_panel(ActivationsPanel, make_history(run), 3)
    assert panel.shown_layers[0] == 1 and panel.shown_layers[-1] == 40
    assert len(panel.shown_layers) <= 12


def test_activation_hiding_a_lane(make_panel, history) -> None:
    panel = make_panel(ActivationsPanel, history, 3)
    panel.set_lane_visible(2, False)
    assert not panel.hist_curve(2, 1).isVisible()
    assert not panel.variance_curve(2).isVisible()
    assert not panel.fraction_bars(2).isVisible()
    assert panel.hist_curve(0, 1).isVisible()


# helpers --------------------------------------------------------------------


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from([0.0, 1e-30, 1e-3, 1.0, 1e30, np.inf, -np.inf, np.nan, -1.0]), min_size=1,
                max_size=20))
def test_safe_log10_never_returns_inf(values) -> None:
    out = safe_log10(np.array(values), 1e-8)
    assert not np.isinf(out).any()
    assert (out[np.isfinite(out)] >= -8).all()


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=3, max_size=3))  # counts are whole numbers
def test_density_integrates_to_one(counts) -> None:
    edges = np.array([0.0, 0.5, 2.0, 3.0])
    d = density(np.array(counts), edges)
    if sum(counts) > 0 and d is not None:
        assert np.sum(d * np.diff(edges)) == pytest.approx(1.0)
    assert density(np.array(counts), np.array([0.0, np.nan, 1.0, 2.0])) is None


def test_decade_axis_is_used_everywhere(make_panel, history) -> None:
    panel = make_panel(GradientsPanel, history, 3)
    assert isinstance(panel.bar_plot.getAxis("left"), pg.AxisItem)
    assert panel.bar_plot.getAxis("left").logMode


def test_long_loss_curves_are_drawn_solid_and_short_ones_keep_their_dashes(panel_factory) -> None:
    from PySide6.QtCore import Qt
    from synthetic import race_history

    from gradviz.ui.panels.base import DASH_MAX_POINTS

    history = race_history(DASH_MAX_POINTS + 100)
    panel = panel_factory(RacePanel, history, epoch=50)
    assert panel.curve(1).opts["pen"].style() == lane_style(1) != Qt.PenStyle.SolidLine
    panel.render(DASH_MAX_POINTS + 100)  # too dense for dashes: seconds per frame to stroke a noisy curve
    assert [panel.curve(lane).opts["pen"].style() for lane in range(4)] == [Qt.PenStyle.SolidLine] * 4
    assert panel.curve(1).opts["pen"].color() == lane_color(1)  # still the lane's colour
    panel.render(50)  # scrubbing back: dashes again
    assert panel.curve(1).opts["pen"].style() == lane_style(1)
    panel.set_theme(DARK)  # a restyle keeps the rule
    panel.render(DASH_MAX_POINTS + 100)
    assert panel.curve(1).opts["pen"].style() == Qt.PenStyle.SolidLine
