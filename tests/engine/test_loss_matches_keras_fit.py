"""The reported ``loss`` is exactly what ``model.fit`` reports for the same weights, batches and optimizer."""

from __future__ import annotations

import numpy as np
import pytest
from engine_kit import lane, layer, make_spec, run_all, stacked

from gradviz.engine.datasets import make_dataset
from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec

pytestmark = pytest.mark.usefixtures("tf")

RTOL = 1e-4


def keras_fit_history(spec: RunSpec, lane_index: int) -> np.ndarray:
    """``model.fit(...).history["loss"]`` of one lane, built the way a notebook would."""
    from gradviz.engine.models import build_model
    from gradviz.engine.registry import make_optimizer
    from gradviz.engine.runtime import import_keras

    keras = import_keras()
    data = make_dataset(spec.dataset, spec.seed)
    lane_spec = spec.lanes[lane_index]
    multi = build_model(lane_spec.model, spec.seed)
    model = keras.Model(multi.inputs, multi.outputs[-1])
    model.compile(optimizer=make_optimizer(lane_spec.optimizer, "optimizer"), loss="mse")
    history = model.fit(
        data.x, data.y, batch_size=spec.batch_size, epochs=spec.epochs, shuffle=False, verbose=0
    )
    return np.asarray(history.history["loss"], dtype=np.float64)


@pytest.fixture(scope="module")
def race_unshuffled() -> tuple[RunSpec, np.ndarray]:
    spec = load_lesson("race").spec.replace(shuffle=False, epochs=15)
    return spec, stacked(run_all(spec), "loss")


def test_race_dataset_has_a_short_last_batch() -> None:
    spec = load_lesson("race").spec
    assert make_dataset(spec.dataset, spec.seed).n_samples % spec.batch_size != 0


def test_epoch_zero_loss_is_nan_for_every_lane(race_unshuffled) -> None:
    _, loss = race_unshuffled
    assert np.isnan(loss[0]).all()


@pytest.mark.parametrize("lane_index", range(4), ids=["SGD", "Momentum", "RMSProp", "Adam"])
def test_race_lane_loss_equals_keras_fit_history(race_unshuffled, lane_index: int) -> None:
    spec, loss = race_unshuffled
    expected = keras_fit_history(spec, lane_index)
    assert expected.shape == (spec.epochs,)
    np.testing.assert_allclose(loss[1:, lane_index], expected, rtol=RTOL, atol=0)


def test_loss_equals_keras_fit_with_odd_dataset_and_batch_sizes() -> None:
    # 45 samples in batches of 10: four full batches and one of 5; nesterov and adamax stress state.
    spec = make_spec(
        [
            lane("nesterov", [layer(6, "tanh"), layer(1)],
                 {"name": "sgd", "learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
            lane("adamax", [layer(5, "sigmoid"), layer(3, "relu", "he_normal"), layer(1)],
                 {"name": "adamax", "learning_rate": 0.02}),
        ],
        {"name": "sine", "n_samples": 45},
        epochs=6,
        batch_size=10,
        seed=11,
    )
    loss = stacked(run_all(spec), "loss")
    for i in range(len(spec.lanes)):
        np.testing.assert_allclose(loss[1:, i], keras_fit_history(spec, i), rtol=RTOL, atol=0)
