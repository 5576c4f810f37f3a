"""The Lab panel, fed synthetic lab runs (the shipped lesson's grid, no TensorFlow)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from panel_checks import assert_unbind_frees_everything
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from synthetic import lab_history, lab_loss, lab_reports, make_broken_history, race_history

from gradviz.engine.history import RunHistory
from gradviz.engine.lab import lab_grid
from gradviz.ui.panels import EXTRA_PANELS, PANELS, LabPanel
from gradviz.ui.panels.lab import NOT_A_GRID
from gradviz.ui.theme import DARK

DIVERGE = {5: 6, 30: 9}  # sigmoid · he_normal · Momentum at epoch 6, relu · he_normal · RMSProp at 9


@pytest.fixture(scope="module")
def history() -> RunHistory:
    return lab_history(12, diverge_at=DIVERGE)


@pytest.fixture
def make_panel(panel_factory):
    return functools.partial(panel_factory, LabPanel)


def shown_loss(history: RunHistory, epoch: int) -> np.ndarray:
    """(lanes,) what a cell shows: the epoch loss, or at epoch 0 the loss at initialization."""
    row = history.row(epoch)
    values = np.array(history.full_loss[:, row] if epoch == 0 else history.loss[:, row], dtype=float)
    values[np.isinf(values)] = np.nan
    return values


def test_name_title_and_not_a_default_panel() -> None:
    assert (LabPanel.name, LabPanel.title) == ("lab", "Lab")
    assert LabPanel in EXTRA_PANELS
    assert LabPanel not in PANELS


def test_matrix_is_log10_loss_arranged_by_the_grid(make_panel, history) -> None:
    panel = make_panel(history, 4)
    grid = lab_grid(history.layout.spec)
    assert panel.grid.rows == grid.rows and panel.grid.columns == grid.columns
    np.testing.assert_array_equal(panel.grid.cell_lane, grid.cell_lane)
    assert panel.image.image.shape == (9, 4)
    for epoch in (4, 0, 12):
        panel.render(epoch)
        loss = shown_loss(history, epoch)
        want = np.log10(loss[grid.cell_lane])
        diverged = history.diverged_epoch()[grid.cell_lane]
        want[(diverged >= 0) & (diverged <= epoch)] = np.nan
        np.testing.assert_allclose(panel.image.image, want, rtol=1e-6, equal_nan=True)
    # epoch 0 is the loss at initialization (the epoch "fit" loss does not exist yet)
    panel.render(0)
    assert np.isnan(history.loss[0, 0])
    assert panel.cell_values()[0, 0] == pytest.approx(lab_loss(0, 0))


def test_rows_and_columns_are_labelled(make_panel, history) -> None:
    panel = make_panel(history, 3)
    left = panel.plot.getAxis("left")._tickLevels[0]
    top = panel.plot.getAxis("top")._tickLevels[0]
    assert [text for _v, text in left][:3] == [
        "sigmoid · glorot_uniform", "sigmoid · he_normal", "sigmoid · random_normal(stddev=0.01)",
    ]
    assert [text for _v, text in top] == ["SGD", "Momentum", "RMSProp", "Adam"]
    assert panel.plot.getViewBox().yInverted()  # row 0 at the top


def test_levels_are_fixed_from_the_starting_losses(make_panel, history) -> None:
    panel = make_panel(history, 0)
    start = history.full_loss[:, 0]
    hi = np.log10(start.max())
    lo = min(hi - 3, np.log10(start.min()) - 1)
    assert panel.levels == pytest.approx((lo, hi))
    seen = set()
    for epoch in (0, 3, 6, 9, 12, 1):
        panel.render(epoch)
        seen.add((tuple(panel.image.getLevels()), tuple(panel.color_bar.levels())))
    assert len(seen) == 1
    levels = seen.pop()
    assert levels[0] == pytest.approx((lo, hi)) and levels[1] == pytest.approx((lo, hi))
    assert "Darker = lower loss = better" in panel._caption.text()
    assert "3 decades lower" in panel._caption.text()


def test_cells_show_their_numbers(make_panel, history) -> None:
    panel = make_panel(history, 7)
    loss = shown_loss(history, 7)
    grid = panel.grid
    for r, c in ((0, 0), (3, 2), (8, 3)):
        lane = int(grid.cell_lane[r, c])
        assert panel.cell_text(r, c).toPlainText() == f"{loss[lane]:.4g}"
    panel.render(0)
    assert panel.cell_text(0, 0).toPlainText() == f"{lab_loss(0, 0):.4g}"


def test_diverged_cells_are_marked_from_their_epoch(make_panel, history) -> None:
    panel = make_panel(history, 5)
    r, c = (int(v) for v in np.argwhere(panel.grid.cell_lane == 5)[0])
    assert "diverged" not in panel.cell_text(r, c).toPlainText()  # blowing up, not yet diverged
    assert not panel.cell_hatch(r, c).isVisible()
    panel.render(6)  # inf loss at the divergence epoch
    assert panel.cell_text(r, c).toPlainText() == "✕ diverged @ 6"
    assert panel.cell_hatch(r, c).isVisible()
    assert np.isnan(panel.image.image[r, c])
    panel.render(12)  # NaN afterwards; the other diverged lane too
    r2, c2 = (int(v) for v in np.argwhere(panel.grid.cell_lane == 30)[0])
    assert panel.cell_text(r, c).toPlainText() == "✕ diverged @ 6"
    assert panel.cell_text(r2, c2).toPlainText() == "✕ diverged @ 9"
    assert np.isfinite(panel.image.getLevels()).all()  # NaN never reaches the levels
    panel.render(2)  # scrubbing back clears the mark
    assert not panel.cell_hatch(r, c).isVisible()
    assert panel.cell_text(r, c).toPlainText() == f"{shown_loss(history, 2)[5]:.4g}"


def test_missing_lane_leaves_its_cell_blank(make_panel) -> None:
    hist = lab_history(4, drop_last_lane=True)
    panel = make_panel(hist, 4)
    assert panel.grid.cell_lane[8, 3] == -1
    assert np.isnan(panel.image.image[8, 3])
    assert panel.cell_text(8, 3).toPlainText() == ""
    assert not panel.cell_hatch(8, 3).isVisible()
    assert panel.lane_at(3.0, 8.0) is None


def test_fills_in_live_as_epochs_arrive(make_panel) -> None:
    full = lab_history(6)
    live = RunHistory(full.layout)
    reports = lab_reports(full.layout.spec, layout=full.layout)
    panel = make_panel(live)  # bound before any report: nothing to scale by yet
    assert panel.levels is None
    panel.render(0)  # no-op on an empty history
    live.append(next(reports))
    panel.render(0)
    levels = panel.levels
    assert levels is not None
    for report in reports:
        live.append(report)
        panel.render(report.epoch)
        assert panel.levels == levels
        assert panel.epoch == report.epoch
    np.testing.assert_allclose(panel.cell_values()[panel.grid.cell_lane >= 0],
                               shown_loss(full, 6)[panel.grid.cell_lane.ravel()])


def test_lane_at_maps_cells_to_lanes(make_panel, history) -> None:
    panel = make_panel(history, 3)
    grid = panel.grid
    for r in range(9):
        for c in range(4):
            centre = panel.cell_center(r, c)
            assert panel.lane_at(centre.x(), centre.y()) == grid.cell_lane[r, c]
            assert panel.lane_at(centre.x() + 0.45, centre.y() - 0.45) == grid.cell_lane[r, c]
    assert panel.lane_at(-0.6, 0.0) is None
    assert panel.lane_at(0.0, 9.0) is None
    assert panel.lane_at(float("nan"), 0.0) is None


def test_clicking_a_cell_emits_its_lane(make_panel, history, qtbot) -> None:
    panel = make_panel(history, 12)
    panel.show()
    qtbot.waitExposed(panel)
    view = panel._view
    vb = panel.plot.getViewBox()

    def click(r: int, c: int) -> None:
        scene_pos = vb.mapViewToScene(panel.cell_center(r, c))
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(scene_pos))

    for r, c in ((0, 0), (4, 2), (8, 3)):
        lane = int(panel.grid.cell_lane[r, c])
        assert panel.lane_at_scene(vb.mapViewToScene(panel.cell_center(r, c))) == lane
        with qtbot.waitSignal(panel.lane_selected, timeout=2000) as blocker:
            click(r, c)
        assert blocker.args == [lane]
        assert panel.selected_lane == lane
    # a click on the row labels is not a cell
    with qtbot.assertNotEmitted(panel.lane_selected):
        left = panel.plot.getAxis("left").sceneBoundingRect().center()
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene(left))


def test_hidden_lane_cell_is_blank(make_panel, history) -> None:
    panel = make_panel(history, 3)
    panel.set_lane_visible(0, False)
    assert np.isnan(panel.image.image[0, 0])
    assert panel.cell_text(0, 0).toPlainText() == ""
    panel.set_lane_visible(0, True)
    assert panel.cell_text(0, 0).toPlainText() != ""
    with pytest.raises(IndexError):
        panel.set_lane_visible(36, False)


def test_text_contrasts_with_the_cell_colour(make_panel) -> None:
    hist = lab_history(300)  # losses fall over two decades: both ends of the colour map
    panel = make_panel(hist, 0)
    bright = panel.cell_text(0, 0).color.name()
    panel.render(300)
    dark = panel.cell_text(0, 0).color.name()
    lo, _hi = panel.levels
    assert np.log10(panel.cell_values()[0, 0]) < lo + 1  # near the dark end
    assert bright.lower() == "#111111" and dark.lower() == "#ffffff"


def test_not_a_grid_shows_a_message_and_nothing_else(make_panel, history) -> None:
    race = race_history(10)
    assert lab_grid(race.layout.spec) is None
    panel = make_panel(race, 5)
    assert not panel.is_grid
    assert panel.message.text() == NOT_A_GRID
    assert not panel.message.isHidden()
    assert panel._view.isHidden() and panel._caption.isHidden()
    assert panel.image is None and panel._plots == []
    assert panel.lane_at(0.0, 0.0) is None
    panel.set_lane_visible(1, False)
    panel.set_font_scale(1.6)
    panel.set_theme(DARK)
    # the next run is a grid again
    panel.bind(history)
    panel.render(3)
    assert panel.is_grid and panel.message.isHidden() and not panel._view.isHidden()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_runs_render_without_error(make_panel, value) -> None:
    broken = make_broken_history(value)  # three lanes on a 3 × 3 grid's diagonal, every loss broken
    panel = make_panel(broken)
    assert panel.is_grid
    assert panel.levels == LabPanel.FALLBACK_LEVELS
    for epoch in range(broken.last_epoch + 1):
        panel.render(epoch)
        assert np.isfinite(panel.image.getLevels()).all()
    for lane in range(broken.layout.n_lanes):
        panel.set_lane_visible(lane, False)
        panel.set_lane_visible(lane, True)


def test_render_only_updates_items(make_panel, history) -> None:
    panel = make_panel(history, 3)
    counts = [len(plot.items) for plot in panel._plots]
    for epoch in (12, 0, 6, 999, -5):
        panel.render(epoch)
    assert [len(plot.items) for plot in panel._plots] == counts


def test_font_scale_and_theme(make_panel, history) -> None:
    panel = make_panel(history, 8)
    before = panel.cell_text(0, 0).textItem.font().pointSizeF()
    panel.set_font_scale(1.6)
    assert panel.cell_text(0, 0).textItem.font().pointSizeF() == pytest.approx(1.6 * before)
    panel.set_theme(DARK)
    assert panel._views[0].backgroundBrush().color().name().upper() == DARK.background.upper()
    r, c = (int(v) for v in np.argwhere(panel.grid.cell_lane == 5)[0])
    assert panel.cell_text(r, c).color.name().upper() == DARK.foreground.upper()  # diverged: theme text
    panel.render(2)
    with pytest.raises(ValueError):
        LabPanel(decades=0)


def test_unbind_lets_go_of_the_run_and_its_items(make_panel, history) -> None:
    assert_unbind_frees_everything(make_panel(history, 8), history, 8)
