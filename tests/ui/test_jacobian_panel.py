"""The Jacobian panel, fed synthetic runs (no TensorFlow): what its plot items hold."""

from __future__ import annotations

import functools

import numpy as np
import pyqtgraph as pg
import pytest
from panel_checks import assert_unbind_frees_everything
from synthetic import (
    LaneDef,
    SyntheticRun,
    jacobian_layout,
    jacobian_reports,
    make_broken_history,
    make_jacobian_history,
)

from gradviz.engine.history import RunHistory
from gradviz.ui.panels import EXTRA_PANELS, PANELS, JacobiansPanel
from gradviz.ui.panels.jacobians import clamp_to_floor
from gradviz.ui.theme import DARK, LIGHT, lane_color

LAYERS = np.arange(1, 13, dtype=float)


@pytest.fixture(scope="module")
def history() -> RunHistory:
    # 3 lanes (12, 12, 8 layers), 200 epochs; lane 1 (ReLU) has a dead layer 3 and singular
    # Jacobians (σ_min = 0); lane 2 diverges at epoch 50 (inf, then NaN).
    return make_jacobian_history()


@pytest.fixture
def make_panel(panel_factory):
    return functools.partial(panel_factory, JacobiansPanel)


def n_points(item: pg.PlotDataItem) -> int:
    return 0 if item.yData is None else len(item.yData)


def expected(history: RunHistory, probe: str, epoch: int, floor: float) -> np.ndarray:
    values = np.array(history.layer(probe)[:, history.row(epoch), :], dtype=float)
    values[np.isinf(values)] = np.nan
    return np.where(values >= 0, np.maximum(values, floor), np.nan)


def test_name_title_and_not_a_default_panel() -> None:
    assert (JacobiansPanel.name, JacobiansPanel.title) == ("jacobians", "Jacobians")
    assert JacobiansPanel in EXTRA_PANELS
    assert JacobiansPanel not in PANELS


def test_caption_states_the_jacobian_and_the_probe_input(make_panel, history) -> None:
    panel = make_panel(history, 0)
    text = panel._caption.text()
    assert "Jᵢ = diag(φ′(zᵢ))·Wᵢᵀ at x = 0.5" in text
    assert "∂L/∂x₀ = ∏ Jᵢ · ∂L/∂xₙ" in text
    assert "epoch 0 - at initialization" in panel._header.text()
    panel.render(120)
    assert "epoch 120 of 200" in panel._header.text()


def test_product_and_measured_curves_hold_the_scrubbed_epoch(make_panel, history) -> None:
    panel = make_panel(history, 40)
    for epoch in (40, 7, 0, 200):
        panel.render(epoch)
        product = expected(history, "product_to_output", epoch, panel.PRODUCT_FLOOR)
        measured = expected(history, "grad_norm", epoch, panel.PRODUCT_FLOOR)
        for lane in (0, 1):
            for item, want in ((panel.product_curve(lane), product), (panel.measured_curve(lane), measured)):
                np.testing.assert_array_equal(item.xData, LAYERS)
                np.testing.assert_allclose(item.yData, want[lane], equal_nan=True)
    panel.render(30)
    # lane 2 has 8 layers: NaN padding beyond them, a gap in the line
    y = panel.product_curve(2).yData
    assert np.isfinite(y[:8]).all() and np.isnan(y[8:]).all()
    np.testing.assert_allclose(y[:8], history.layer("product_to_output")[2, 30, :8])


def test_both_plots_are_log_scaled_with_the_layer_axis(make_panel, history) -> None:
    panel = make_panel(history, 10)
    for plot in (panel.product_plot, panel.sigma_plot):
        assert plot.getAxis("left").logMode
        assert plot.getAxis("bottom").labelText == "layer (1 = input side)"
    # in log mode pyqtgraph draws log10 of what the item holds
    curve = panel.product_curve(0)
    np.testing.assert_allclose(curve.getData()[1], np.log10(curve.yData))


def test_dead_layer_zero_product_is_clamped_and_marked(make_panel, history) -> None:
    panel = make_panel(history, 25)
    raw = history.layer("product_to_output")[1, 25]
    assert (raw[:3] == 0).all()  # a dead layer 3 zeroes the product down to the input
    y = panel.product_curve(1).yData
    assert (y[:3] == panel.PRODUCT_FLOOR).all()
    assert history.layer("grad_norm")[1, 25, 2] == 0
    assert panel.measured_curve(1).yData[2] == panel.PRODUCT_FLOOR
    marks = panel.product_floor_marks(1)
    assert sorted(marks.xData.tolist()) == [1.0, 2.0, 3.0, 3.0]  # three products, one gradient
    assert (marks.yData == panel.PRODUCT_FLOOR).all()
    assert n_points(panel.product_floor_marks(0)) == 0
    assert "cannot show 0" in panel._caption.text()


def test_singular_values_and_their_spread(make_panel, history) -> None:
    panel = make_panel(history, 60)
    offsets = panel.sigma_offsets
    assert offsets[0] < offsets[1] < offsets[2]  # lanes side by side at each layer
    s_max = expected(history, "sigma_max", 60, panel.SIGMA_FLOOR)
    s_min = expected(history, "sigma_min", 60, panel.SIGMA_FLOOR)
    for lane in (0, 1):
        item = panel.sigma_max_curve(lane)
        np.testing.assert_allclose(item.xData, LAYERS + offsets[lane])
        np.testing.assert_allclose(item.yData, s_max[lane])
        spread = panel.sigma_spread(lane)
        assert spread.opts["connect"] == "pairs"
        np.testing.assert_allclose(spread.xData, np.repeat(LAYERS + offsets[lane], 2))
        np.testing.assert_allclose(spread.yData, np.column_stack([s_min[lane], s_max[lane]]).ravel())
    # ReLU lane: σ_min = 0 for every hidden layer (singular), clamped to the floor and marked ✕
    assert (history.layer("sigma_min")[1, 60, :11] == 0).all()
    assert (panel.sigma_spread(1).yData[0:22:2] == panel.SIGMA_FLOOR).all()
    marks = panel.sigma_floor_marks(1)
    np.testing.assert_allclose(marks.xData, LAYERS[:11] + offsets[1])
    assert (marks.yData == panel.SIGMA_FLOOR).all()
    assert n_points(panel.sigma_floor_marks(0)) == 0  # the sigmoid lane's σ_min is not 0


def test_unit_line_is_drawn_and_labelled(make_panel, history) -> None:
    panel = make_panel(history, 5)
    line = panel.unit_line
    assert line is not None and line in panel.sigma_plot.items
    assert line.angle == 0 and line.value() == 0.0  # log10(σ = 1)
    assert panel.sigma_plot.getAxis("right")._tickLevels[0] == [(0.0, "σ = 1")]
    legend_texts = [label.text for legend in panel._legends for _sample, label in legend.items]
    assert "σ = 1: neither shrinks nor stretches" in legend_texts


def test_diverged_lane_draws_nothing(make_panel, history) -> None:
    panel = make_panel(history, 50)  # inf at the divergence epoch
    for item in (panel.product_curve(2), panel.measured_curve(2), panel.sigma_max_curve(2),
                 panel.sigma_spread(2), panel.sigma_floor_marks(2)):
        assert n_points(item) == 0
    panel.render(49)
    assert n_points(panel.product_curve(2)) == 12
    assert np.isfinite(panel.product_curve(2).yData[:8]).all()


def test_render_only_updates_items_and_axes_do_not_jump(make_panel, history) -> None:
    panel = make_panel(history, 10)
    counts = [len(plot.items) for plot in panel._plots]
    ranges = [tuple(plot.viewRange()[1]) for plot in panel._plots]
    for epoch in (200, 3, 0, 150, 999, -5, 50):
        panel.render(epoch)
        assert [tuple(plot.viewRange()[1]) for plot in panel._plots] == ranges
    assert [len(plot.items) for plot in panel._plots] == counts


def test_axes_grow_with_a_live_run(make_panel) -> None:
    run = SyntheticRun(lanes=(LaneDef("deep sigmoid", "sigmoid", 20),), epochs=5)
    layout = jacobian_layout(run)
    live = RunHistory(layout)
    stream = jacobian_reports(run, layout)
    live.append(next(stream))
    panel = make_panel(live, 0)
    for report in stream:
        live.append(report)
        panel.render(report.epoch)
    product = np.array(live.layer("product_to_output")[0, -1])
    np.testing.assert_allclose(panel.product_curve(0).yData, product)
    low, high = panel.product_plot.viewRange()[1]
    assert low <= np.log10(product.min()) and high >= np.log10(product.max())


def test_epoch_is_clamped(make_panel) -> None:
    partial = make_jacobian_history(upto=40)
    panel = make_panel(partial, 500)
    assert panel.epoch == 40
    panel.render(-3)
    assert panel.epoch == 0


def test_render_before_bind_and_on_empty_history(qtbot, history) -> None:
    panel = JacobiansPanel()
    qtbot.addWidget(panel)
    panel.render(3)
    panel.bind(RunHistory(history.layout))
    panel.render(0)
    assert panel.epoch == 0


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_runs_render_without_error(make_panel, value) -> None:
    broken = make_broken_history(value)  # no Jacobian probes at all (NaN) and broken gradients
    panel = make_panel(broken)
    for epoch in range(broken.last_epoch + 1):
        panel.render(epoch)
        for lane in range(3):
            assert n_points(panel.product_curve(lane)) == 0
            assert n_points(panel.measured_curve(lane)) == 0
    for lane in range(broken.layout.n_lanes):
        panel.set_lane_visible(lane, False)
        panel.set_lane_visible(lane, True)


def test_clamp_to_floor() -> None:
    values, lifted = clamp_to_floor(np.array([0.0, 1e-20, 0.5, np.inf, -1.0, np.nan]), 1e-12)
    np.testing.assert_array_equal(values, [1e-12, 1e-12, 0.5, np.nan, np.nan, np.nan])
    assert lifted.tolist() == [True, True, False, False, False, False]


def test_hiding_a_lane(make_panel, history) -> None:
    panel = make_panel(history, 20)
    panel.set_lane_visible(1, False)
    for item in (panel.product_curve(1), panel.measured_curve(1), panel.sigma_max_curve(1),
                 panel.sigma_spread(1), panel.sigma_floor_marks(1)):
        assert not item.isVisible()
    assert panel.product_curve(0).isVisible()
    panel.render(120)  # a hidden lane is not redrawn ...
    panel.set_lane_visible(1, True)  # ... until it is shown again, at the current epoch
    np.testing.assert_allclose(panel.product_curve(1).yData,
                               expected(history, "product_to_output", 120, panel.PRODUCT_FLOOR)[1])
    with pytest.raises(IndexError):
        panel.set_lane_visible(3, False)


def test_lane_colours_and_marker_styles(make_panel, history) -> None:
    panel = make_panel(history, 20)
    for lane in range(3):
        color = lane_color(lane).name()
        product, measured = panel.product_curve(lane), panel.measured_curve(lane)
        assert pg.mkPen(product.opts["pen"]).color().name() == color
        assert pg.mkPen(measured.opts["pen"]).color().name() == color
        assert pg.mkPen(measured.opts["pen"]).style() != pg.mkPen(product.opts["pen"]).style()
        assert pg.mkBrush(product.opts["symbolBrush"]).color().name() == color  # filled
        assert pg.mkBrush(measured.opts["symbolBrush"]).color().name() == LIGHT.background.lower()  # hollow


def test_font_scale_and_theme(make_panel, history) -> None:
    panel = make_panel(history, 20)
    plot = panel._plots[0]
    before = plot.getAxis("bottom").style["tickFont"].pointSizeF()
    panel.set_font_scale(1.6)
    assert plot.getAxis("bottom").style["tickFont"].pointSizeF() == pytest.approx(1.6 * before)
    panel.set_theme(DARK)
    assert panel._views[0].backgroundBrush().color().name().upper() == DARK.background.upper()
    assert pg.mkBrush(panel.measured_curve(0).opts["symbolBrush"]).color().name() == DARK.background.lower()
    panel.render(30)


def test_many_lanes_leave_the_lane_legend_out(make_panel) -> None:
    run = SyntheticRun(lanes=tuple(LaneDef(f"lane {i}", "tanh", 3) for i in range(14)), epochs=2)
    panel = make_panel(make_jacobian_history(run), 2)
    lane_names = {label.text for legend in panel._legends for _sample, label in legend.items}
    assert "lane 0" not in lane_names
    assert "14 lanes" in panel._caption.text()


def test_unbind_lets_go_of_the_run_and_its_items(make_panel, history) -> None:
    assert_unbind_frees_everything(make_panel(history, 20), history, 20)
