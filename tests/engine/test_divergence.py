"""One lane blowing up is flagged, frozen, and leaves the other lanes' numbers untouched."""

from __future__ import annotations

import numpy as np
import pytest
from engine_kit import assert_reports_identical, lane, layer, make_spec, run_all, stacked

from gradviz.engine.history import RunHistory
from gradviz.engine.spec import RunSpec

pytestmark = pytest.mark.usefixtures("tf")

EPOCHS = 6
DEEP = [layer(16, "relu", "he_normal"), layer(16, "relu", "he_normal"), layer(16, "relu", "he_normal"), layer(1)]


def divergence_spec(with_blowup: bool) -> RunSpec:
    lanes = [
        lane("steady", [layer(8, "tanh"), layer(1)], {"name": "sgd", "learning_rate": 0.05}),
        lane("adam", DEEP, {"name": "adam", "learning_rate": 0.01}),
    ]
    if with_blowup:
        # The same model as "adam" (so the same start and histogram bins), with an absurd step size:
        # with this seed the weights grow to ~1e9 in epoch 1 and the gradients overflow in epoch 2.
        lanes.insert(1, lane("blowup", DEEP, {"name": "sgd", "learning_rate": 1.0}))
    return make_spec(lanes, {"name": "cubic", "n_samples": 40}, epochs=EPOCHS, batch_size=16, shuffle=True)


@pytest.fixture(scope="module")
def runs() -> dict[str, list]:
    return {"with": run_all(divergence_spec(True)), "without": run_all(divergence_spec(False))}


def diverged_from(reports: list, lane_index: int) -> int:
    flags = stacked(reports, "diverged")[:, lane_index]
    hits = np.flatnonzero(flags)
    assert hits.size, "the lane never diverged"
    return int(hits[0])


def test_blowup_lane_is_flagged_from_one_epoch_on_and_stays_flagged(runs) -> None:
    flags = stacked(runs["with"], "diverged")
    start = diverged_from(runs["with"], 1)
    assert 1 <= start < EPOCHS
    assert not flags[:start, 1].any()
    assert flags[start:, 1].all()
    assert not flags[:, [0, 2]].any()


def test_history_reports_the_divergence_epoch(runs) -> None:
    history = RunHistory(runs["with"][0].layout)
    for report in runs["with"]:
        history.append(report)
    start = diverged_from(runs["with"], 1)
    assert history.diverged_epoch().tolist() == [-1, start, -1]


def test_diverged_lane_reports_nan_loss_after_the_epoch_it_diverged(runs) -> None:
    loss = stacked(runs["with"], "loss")
    start = diverged_from(runs["with"], 1)
    assert np.isfinite(loss[1:start, 1]).all()
    assert np.isnan(loss[start + 1:, 1]).all()
    assert not np.isfinite(loss[start, 1]) or not np.isfinite(stacked(runs["with"], "full_loss")[start, 1])


def test_diverged_lane_weights_stop_changing(runs) -> None:
    start = diverged_from(runs["with"], 1)
    weight_norm = stacked(runs["with"], "weight_norm")[:, 1]
    assert np.isfinite(weight_norm[start]).all(), "frozen weights should be finite for this check to mean much"
    assert not np.array_equal(weight_norm[start], weight_norm[start - 1])
    for epoch in range(start + 1, EPOCHS + 1):
        np.testing.assert_array_equal(weight_norm[epoch], weight_norm[start])
    prediction = stacked(runs["with"], "prediction")[:, 1]
    for epoch in range(start + 1, EPOCHS + 1):
        np.testing.assert_array_equal(prediction[epoch], prediction[start])
    update_ratio = stacked(runs["with"], "update_ratio")[:, 1]
    assert (update_ratio[start + 1:] == 0).all()


def test_other_lanes_are_identical_to_a_run_without_the_blowup_lane(runs) -> None:
    # "adam" is probed in one stack with the blowup lane (same architecture) in one run, alone in the other:
    # its training is bit-identical, and no NaN or infinity crosses into its probes.
    assert_reports_identical(runs["with"], runs["without"], lanes_a=[0, 2], lanes_b=[0, 1], other_company=True)


def test_healthy_lanes_keep_learning(runs) -> None:
    full_loss = stacked(runs["with"], "full_loss")
    assert full_loss[-1, 0] < full_loss[0, 0]
    assert full_loss[-1, 2] < full_loss[0, 2]
