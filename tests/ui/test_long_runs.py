"""Long runs and big data stay readable: the race draws a bounded number of points, the history keeps them all."""

from __future__ import annotations

import dataclasses

import numpy as np

from gradviz.ui.panels import RacePanel
from tests.ui.synthetic import LaneDef, SyntheticRun, make_history

EPOCHS = 6000


def long_race_history():
    run = SyntheticRun(lanes=(LaneDef("SGD", "tanh", 2, 0.015), LaneDef("Adam", "tanh", 2, 0.09, optimizer="adam")),
                       epochs=EPOCHS, edits=())
    return make_history(run)


def shown_points(panel: RacePanel, lane: int) -> int:
    """Points the curve hands to the painter (after downsampling and clipping)."""
    x, _ = panel.curve(lane).getData()
    return 0 if x is None else len(x)


def test_race_curve_holds_a_bounded_number_of_points_while_the_history_keeps_all(qtbot, panel_factory) -> None:
    history = long_race_history()
    panel = panel_factory(RacePanel, history)
    panel.resize(640, 480)
    panel.show()
    qtbot.waitExposed(panel)
    pixels = panel.curve(0).getViewBox().width()
    assert pixels > 100
    # "peak" keeps each bucket's min and max, at most about five buckets per pixel.
    bound = 2 * 2 * 5 * pixels
    for epoch in (EPOCHS // 2, EPOCHS):
        panel.render(epoch)
        qtbot.wait(10)
        for lane in (0, 1):
            assert shown_points(panel, lane) <= bound
            assert shown_points(panel, lane) < epoch
    assert len(history) == EPOCHS + 1  # recording is never thinned
    assert np.isfinite(history.loss[:, 1:]).all() and history.loss.shape == (2, EPOCHS + 1)
    x, _ = panel.loss_series(EPOCHS)
    assert len(x) == EPOCHS + 1  # the data handed to the curve is every epoch

    # Zoomed into the last tenth, the curve is clipped to the view and shows that stretch in full detail.
    panel.loss_plot.setXRange(EPOCHS * 0.9, EPOCHS, padding=0)
    qtbot.wait(10)
    shown_x, _ = panel.curve(0).getData()
    assert shown_x.min() >= EPOCHS * 0.9 - 10
    assert len(shown_x) <= bound


def test_race_draws_a_sample_of_a_large_dataset_under_the_fitted_curves(panel_factory) -> None:
    history = long_race_history()
    n = 300_000  # a CSV this long took seconds to bind and every frame a quarter second to paint
    x = np.linspace(-2, 2, n, dtype=np.float32).reshape(-1, 1)
    x.setflags(write=False)
    y = 0.5 * x**3 - x
    y.setflags(write=False)
    history.layout = dataclasses.replace(history.layout, data_x=x, data_y=y)
    panel = panel_factory(RacePanel, history, EPOCHS)
    points = panel.fit_plot.listDataItems()[0]  # the training data, under the fitted curves
    shown_x = np.array([p.pos().x() for p in points.points()])
    assert len(shown_x) <= RacePanel.MAX_DATA_POINTS
    assert shown_x.min() == -2 and shown_x.max() == 2  # an even sample across the whole range
    assert len(history.layout.data_x) == n
