"""Long runs stay readable: the race's loss curves draw a bounded number of points, the history keeps every epoch."""

from __future__ import annotations

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
