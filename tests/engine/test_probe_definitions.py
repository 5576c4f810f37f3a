"""Every per-layer probe checked against an independent computation from the lane's exact weights.

The weights come from the run itself (``weights_dir``); gradients from a
direct ``tf.GradientTape`` of the full-set MSE; activations are cross-checked
with a float64 numpy forward pass.  The run mixes lanes probed alone with two
lanes of one architecture, which the engine probes side by side as one stack,
and a softmax layer, which acts across a sample's units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_kit import initial_weights, lane, layer, load_lane_weights, make_spec, numpy_forward, run_all, tape_probe

from gradviz.engine.report import HIST_BINS, EpochReport
from gradviz.engine.spec import RunSpec
from gradviz.engine.trainer import SATURATION_LEVEL, lane_folder_names

pytestmark = pytest.mark.usefixtures("tf")

EPOCHS = 3
DEAD_UNITS = 3  # of the relu lane's first layer


def probe_spec(epochs: int = EPOCHS) -> RunSpec:
    return make_spec(
        [
            lane("tanh", [layer(8, "tanh"), layer(1)], {"name": "sgd", "learning_rate": 0.1}),
            lane(
                "saturated",
                [layer(6, "sigmoid", {"name": "random_normal", "stddev": 8.0}),
                 layer(16, "tanh", {"name": "random_normal", "stddev": 3.0}),
                 layer(1)],
                {"name": "adam", "learning_rate": 0.05},
            ),
            lane(
                "relu",
                [layer(8, "relu", "he_normal"), layer(4, "relu", "he_uniform"), layer(1)],
                {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
            ),
            lane(
                "saturated twin",  # lane 1's architecture, other weights and optimizer: stacked with it
                [layer(6, "sigmoid", "he_normal"),
                 layer(16, "tanh", {"name": "random_normal", "stddev": 3.0}),
                 layer(1)],
                {"name": "rmsprop", "learning_rate": 0.01},
            ),
            lane("softmax", [layer(5, "softmax"), layer(1)], {"name": "sgd", "learning_rate": 0.1}),
        ],
        {"name": "cubic", "n_samples": 40},
        epochs=epochs,
        batch_size=16,
        seed=5,
    )


def crafted_weights(spec: RunSpec) -> list[list[np.ndarray]]:
    """Seeded weights, except that the relu lane's first units get a bias no input in [-1, 1] can beat."""
    weights = initial_weights(spec)
    relu = weights[2]
    assert np.abs(relu[0]).max() * 1.0 < 5.0  # |x| <= 1, so x*w - 5 < 0 for every sample
    relu[1][:DEAD_UNITS] = -5.0
    return weights


class ProbeRuns:
    """Two runs from the same crafted weights, one epoch apart, with their weight files."""

    def __init__(self, root: Path) -> None:
        self.spec = probe_spec(EPOCHS)
        start = crafted_weights(self.spec)
        self.start = start
        self.dir_full = root / "full"
        self.dir_short = root / "short"
        self.reports = run_all(self.spec, weights_dir=self.dir_full, initial_weights=start)
        self.short_reports = run_all(
            self.spec.replace(epochs=EPOCHS - 1), weights_dir=self.dir_short, initial_weights=start
        )
        self.folders = lane_folder_names(self.spec.lane_names)
        self.x = self.reports[0].layout.data_x
        self.y = self.reports[0].layout.data_y

    def weights(self, lane_index: int, which: str) -> list[np.ndarray]:
        folder = {"epoch0": self.dir_full, "final": self.dir_full, "before_final": self.dir_short}[which]
        name = "epoch_0000.weights.h5" if which == "epoch0" else "final.weights.h5"
        return load_lane_weights(self.spec, lane_index, folder / self.folders[lane_index] / name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ProbeRuns:
    return ProbeRuns(tmp_path_factory.mktemp("probes"))


def expected_saturation(activation: str, a: np.ndarray) -> float:
    if activation == "tanh":
        return float(np.mean(np.abs(a) > SATURATION_LEVEL))
    if activation == "sigmoid":
        return float(np.mean((a < 1 - SATURATION_LEVEL) | (a > SATURATION_LEVEL)))
    return float("nan")


def expected_hist_range(activation: str, a: np.ndarray) -> tuple[float, float]:
    """The histogram's outer edges fixed at epoch 0 for a layer with outputs ``a``."""
    bounded = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}
    if activation in bounded:
        return bounded[activation]
    lo, hi = float(a.min()), float(a.max())
    span = max(hi - lo, 1e-6)
    return (0.0 if lo >= 0 else lo - 0.25 * span), hi + 0.25 * span


def check_lane_probes(
    runs: ProbeRuns,
    report: EpochReport,
    lane_index: int,
    weights: list[np.ndarray],
    before: list[np.ndarray] | str | None,
) -> None:
    """Compare one lane's probes in ``report`` with ``weights``; ``before`` is the kernel before the epoch,
    ``None`` at epoch 0, or ``"unknown"`` to skip the update ratio."""
    spec = runs.spec
    activations = [layer.activation for layer in spec.lanes[lane_index].model.layers]
    ref = tape_probe(spec, lane_index, weights, runs.x, runs.y)
    n = runs.x.shape[0]

    # The Keras forward pass agrees with plain float64 arithmetic, so the reference is trustworthy.
    for keras_act, np_act in zip(ref["acts"], numpy_forward(weights, activations, runs.x)):
        np.testing.assert_allclose(keras_act, np_act, rtol=1e-4, atol=1e-5)

    assert report.full_loss[lane_index] == pytest.approx(ref["loss"], rel=1e-5)
    for j, a in enumerate(ref["acts"]):
        a64 = a.astype(np.float64)
        where = f"lane {spec.lane_names[lane_index]!r}, layer {j + 1}, epoch {report.epoch}"
        kernel = weights[2 * j]
        got = {name: getattr(report, name)[lane_index, j] for name in (
            "grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var", "saturation", "dead_fraction",
            "update_ratio")}
        assert got["grad_norm"] == pytest.approx(np.linalg.norm(ref["kernel_grads"][j]), rel=1e-4), where
        assert got["bias_grad_norm"] == pytest.approx(np.linalg.norm(ref["bias_grads"][j]), rel=1e-4, abs=1e-9), where
        assert got["weight_norm"] == pytest.approx(np.linalg.norm(kernel.astype(np.float64)), rel=1e-6), where
        assert got["act_mean"] == pytest.approx(a64.mean(), rel=1e-5, abs=1e-6), where
        assert got["act_var"] == pytest.approx(a64.var(ddof=0), rel=1e-4, abs=1e-9), where
        sat = expected_saturation(activations[j], a)
        if np.isnan(sat):
            assert np.isnan(got["saturation"]), where
        else:
            assert got["saturation"] == pytest.approx(sat, abs=1.5 / a.size), where
        dead = float(np.mean(np.all(a == 0.0, axis=0)))
        assert got["dead_fraction"] == dead, where

        counts = report.hist_counts[lane_index, j]
        assert counts.sum() == n * a.shape[1], where
        edges = report.layout.hist_edges[lane_index, j]
        if before is None:  # epoch 0 fixes the bins: the activation's range, or these values' with a margin
            assert (edges[0], edges[-1]) == pytest.approx(expected_hist_range(activations[j], a64), rel=1e-4), where
        expected_counts, _ = np.histogram(np.clip(a64, edges[0], edges[-1]), bins=edges)
        # TF bins in float32: only a value within rounding of an inner edge may land one bin over.
        on_edge = np.min(np.abs(a64.reshape(-1, 1) - edges[1:-1]), axis=1) <= 1e-6 * (edges[-1] - edges[0])
        assert np.abs(counts - expected_counts).sum() <= 2 * on_edge.sum(), where

        if before is None:
            assert np.isnan(got["update_ratio"]), where
        elif not isinstance(before, str):
            k0 = before[2 * j].astype(np.float64)
            expected_ratio = np.std(kernel.astype(np.float64) - k0) / np.std(k0)
            assert got["update_ratio"] == pytest.approx(expected_ratio, rel=1e-3), where

    grid = report.layout.grid_x
    prediction = ref["model"](grid.reshape(-1, 1))[-1].numpy()[:, 0]
    np.testing.assert_allclose(report.prediction[lane_index], prediction, rtol=1e-5, atol=1e-6)


def test_run_starts_from_the_given_initial_weights(runs: ProbeRuns) -> None:
    for i in range(len(runs.spec.lanes)):
        for saved, given in zip(runs.weights(i, "epoch0"), runs.start[i]):
            np.testing.assert_array_equal(saved, given)


LANE_IDS = ["tanh", "saturated", "relu", "saturated twin", "softmax"]


@pytest.mark.parametrize("lane_index", range(len(LANE_IDS)), ids=LANE_IDS)
def test_probes_at_initialization_match_direct_computation(runs: ProbeRuns, lane_index: int) -> None:
    check_lane_probes(runs, runs.reports[0], lane_index, runs.weights(lane_index, "epoch0"), None)


@pytest.mark.parametrize("lane_index", range(len(LANE_IDS)), ids=LANE_IDS)
def test_probes_after_training_match_direct_computation(runs: ProbeRuns, lane_index: int) -> None:
    final = runs.weights(lane_index, "final")
    before = runs.weights(lane_index, "before_final")
    assert not all(np.array_equal(a, b) for a, b in zip(final, before)), "the last epoch changed nothing"
    check_lane_probes(runs, runs.reports[EPOCHS], lane_index, final, before)


def test_probes_of_the_shorter_run_match_its_final_weights(runs: ProbeRuns) -> None:
    # Also a determinism check: the same start and spec gives the same epochs, whatever the run length.
    for i in range(len(runs.spec.lanes)):
        check_lane_probes(runs, runs.short_reports[EPOCHS - 1], i, runs.weights(i, "before_final"), "unknown")
        for name in ("full_loss", "grad_norm", "act_var", "update_ratio"):
            np.testing.assert_array_equal(
                getattr(runs.short_reports[EPOCHS - 1], name), getattr(runs.reports[EPOCHS - 1], name)
            )


def test_probes_see_nonzero_saturation_and_dead_units(runs: ProbeRuns) -> None:
    """The crafted lanes really exercise the probes (guards against vacuous comparisons)."""
    first = runs.reports[0]
    assert first.saturation[1, 0] > 0.1 and first.saturation[1, 1] > 0.1
    assert np.isnan(first.saturation[2, :3]).all()  # relu, relu, linear: undefined
    assert np.isnan(first.saturation[0, 1])  # linear output
    for report in runs.reports:
        assert report.dead_fraction[2, 0] >= DEAD_UNITS / 8
    assert first.dead_fraction[2, 0] == DEAD_UNITS / 8


def test_shallower_lanes_are_padded_with_nan(runs: ProbeRuns) -> None:
    report = runs.reports[EPOCHS]
    assert report.grad_norm.shape == (5, 3)
    assert report.hist_counts.shape == (5, 3, HIST_BINS)
    for shallow in (0, 4):
        assert np.isnan(report.grad_norm[shallow, 2]) and np.isnan(report.act_var[shallow, 2])
        assert not report.hist_counts[shallow, 2].any()
    assert np.isfinite(report.grad_norm[1:4, :]).all()
    assert report.layout.layer_counts == (2, 3, 3, 3, 2)


def test_report_arrays_are_read_only(runs: ProbeRuns) -> None:
    report = runs.reports[1]
    for name in ("loss", "full_loss", "grad_norm", "hist_counts", "prediction", "diverged"):
        with pytest.raises(ValueError):
            getattr(report, name)[0] = 0
