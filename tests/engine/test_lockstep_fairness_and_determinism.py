"""Lanes start fair (bit-identical weights where the model specs agree) and runs are reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_kit import (
    REPORT_ARRAYS,
    assert_reports_identical,
    lane,
    layer,
    load_lane_weights,
    make_spec,
    run_all,
    stacked,
)

from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec
from gradviz.engine.trainer import lane_folder_names

pytestmark = pytest.mark.usefixtures("tf")


def epoch0_weights(spec: RunSpec, folder: Path) -> list[list[np.ndarray]]:
    names = lane_folder_names(spec.lane_names)
    return [
        load_lane_weights(spec, i, folder / names[i] / "epoch_0000.weights.h5") for i in range(len(spec.lanes))
    ]


def test_race_lanes_start_from_bit_identical_weights(tmp_path: Path) -> None:
    spec = load_lesson("race").spec.replace(epochs=0)
    reports = run_all(spec, weights_dir=tmp_path)
    assert [r.epoch for r in reports] == [0]
    weights = epoch0_weights(spec, tmp_path)
    for other in weights[1:]:
        for a, b in zip(weights[0], other):
            np.testing.assert_array_equal(a, b)
    first = reports[0]
    for name in ("full_loss", "grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var",
                 "saturation", "hist_counts", "prediction"):
        values = getattr(first, name)
        for i in range(1, len(spec.lanes)):
            np.testing.assert_array_equal(values[i], values[0], err_msg=name)


def test_init_lesson_lanes_differ_only_in_the_first_layer(tmp_path: Path) -> None:
    spec = load_lesson("init").spec.replace(epochs=0)
    run_all(spec, weights_dir=tmp_path)
    glorot, he = epoch0_weights(spec, tmp_path)
    kernel1_g, bias1_g, kernel2_g, bias2_g = glorot
    kernel1_h, bias1_h, kernel2_h, bias2_h = he
    assert kernel1_g.shape == kernel1_h.shape == (100, 128)
    assert not np.array_equal(kernel1_g, kernel1_h)
    # Glorot uniform is bounded by sqrt(6 / (fan_in + fan_out)); He normal has std sqrt(2 / fan_in).
    assert np.abs(kernel1_g).max() <= np.sqrt(6 / (100 + 128)) + 1e-7
    assert kernel1_h.std() == pytest.approx(np.sqrt(2 / 100), rel=0.1)
    np.testing.assert_array_equal(kernel2_g, kernel2_h)
    for bias in (bias1_g, bias2_g, bias1_h, bias2_h):
        assert not bias.any()


def determinism_spec(seed: int) -> RunSpec:
    twin = [layer(8, "tanh"), layer(4, "relu", "he_normal"), layer(1)]
    return make_spec(
        [
            lane("Adam", twin, {"name": "adam", "learning_rate": 0.02}),
            lane("Adam twin", twin, {"name": "adam", "learning_rate": 0.02}),
            lane("RMSProp", twin, {"name": "rmsprop", "learning_rate": 0.01}),
        ],
        {"name": "sine", "n_samples": 50},
        epochs=4,
        batch_size=8,
        shuffle=True,
        seed=seed,
    )


@pytest.fixture(scope="module")
def seed_runs() -> dict[str, list]:
    return {
        "first": run_all(determinism_spec(3)),
        "again": run_all(determinism_spec(3)),
        "other seed": run_all(determinism_spec(4)),
    }


def test_same_spec_and_seed_give_bit_identical_probes(seed_runs) -> None:
    assert_reports_identical(seed_runs["first"], seed_runs["again"])
    for a, b in zip(seed_runs["first"], seed_runs["again"]):
        np.testing.assert_array_equal(a.layout.hist_edges, b.layout.hist_edges)
        np.testing.assert_array_equal(a.layout.data_y, b.layout.data_y)


def test_identical_lanes_stay_identical_through_a_shuffled_run(seed_runs) -> None:
    # Same model spec, same optimizer: same batches in the same order, so the same numbers.
    assert_reports_identical(seed_runs["first"], seed_runs["first"], lanes_a=[0], lanes_b=[1])
    assert not np.array_equal(stacked(seed_runs["first"], "full_loss")[1:, 0],
                              stacked(seed_runs["first"], "full_loss")[1:, 2])


def test_a_different_seed_gives_different_numbers(seed_runs) -> None:
    first, other = seed_runs["first"], seed_runs["other seed"]
    assert not np.array_equal(first[0].layout.data_y, other[0].layout.data_y)
    for name in ("full_loss", "grad_norm", "weight_norm", "act_var", "prediction"):
        assert not np.array_equal(stacked(first, name), stacked(other, name)), name
    for name in REPORT_ARRAYS:
        assert stacked(first, name).shape == stacked(other, name).shape


def test_epochs_count_from_zero_to_the_spec(seed_runs) -> None:
    reports = seed_runs["first"]
    assert [r.epoch for r in reports] == list(range(5))
    assert len({r.run_id for r in reports}) == 1
    assert all(r.layout is reports[0].layout for r in reports)
    assert reports[0].run_id != seed_runs["again"][0].run_id
