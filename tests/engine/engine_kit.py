"""Small helpers shared by the engine tests: spec builders, runs, and an independent forward pass.

Everything here uses real Keras models; nothing is mocked.  TensorFlow is
imported lazily (inside functions) so that collecting the tests stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradviz.engine.control import RunControl
from gradviz.engine.jacobians import JACOBIAN_PROBES
from gradviz.engine.report import LAYER_PROBES, EpochReport
from gradviz.engine.spec import RunSpec

# Every array-valued field of an EpochReport that must be reproducible.
REPORT_ARRAYS: tuple[str, ...] = (
    "loss", "full_loss", "diverged", *LAYER_PROBES, *JACOBIAN_PROBES, "hist_counts", "prediction"
)


def layer(units: int, activation: str = "linear", initializer: Any = "glorot_uniform") -> dict[str, Any]:
    return {"units": units, "activation": activation, "initializer": initializer}


def lane(
    name: str,
    layers: Sequence[dict[str, Any]],
    optimizer: dict[str, Any] | None = None,
    input_dim: int = 1,
) -> dict[str, Any]:
    return {
        "name": name,
        "model": {"input_dim": input_dim, "layers": list(layers)},
        "optimizer": optimizer or {"name": "sgd", "learning_rate": 0.05},
    }


def spec_json(
    lanes: Iterable[dict[str, Any]],
    dataset: dict[str, Any] | str | None = None,
    *,
    epochs: int = 3,
    batch_size: int = 16,
    shuffle: bool = False,
    seed: int = 7,
) -> dict[str, Any]:
    return {
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "shuffle": shuffle,
        "dataset": dataset or {"name": "cubic", "n_samples": 40},
        "lanes": list(lanes),
    }


def make_spec(lanes: Iterable[dict[str, Any]], dataset: dict[str, Any] | str | None = None, **kw: Any) -> RunSpec:
    return RunSpec.from_json(spec_json(lanes, dataset, **kw))


def run_all(spec: RunSpec, control: RunControl | None = None, **kwargs: Any) -> list[EpochReport]:
    """Every report of a run (epoch 0 .. spec.epochs)."""
    from gradviz.engine.trainer import iter_run

    return list(iter_run(spec, control, **kwargs))


def stacked(reports: Sequence[EpochReport], name: str) -> np.ndarray:
    """(epochs, ...) one report field over a run."""
    return np.stack([getattr(r, name) for r in reports])


def initial_weights(spec: RunSpec) -> list[list[np.ndarray]]:
    """Each lane's seeded initial weights, as build_model makes them."""
    from gradviz.engine.models import build_model

    return [build_model(lane.model, spec.seed).get_weights() for lane in spec.lanes]


def load_lane_weights(spec: RunSpec, lane_index: int, path: Path) -> list[np.ndarray]:
    """A ``.weights.h5`` file of one lane, loaded into a fresh build_model."""
    from gradviz.engine.models import build_model

    model = build_model(spec.lanes[lane_index].model, spec.seed)
    model.load_weights(str(path))
    return model.get_weights()


def _softmax(z: np.ndarray) -> np.ndarray:
    """Across a sample's units, not unit by unit."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_NUMPY_ACTIVATIONS = {
    "linear": lambda z: z,
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "relu": lambda z: np.maximum(z, 0.0),
    "softmax": _softmax,
}


def numpy_forward(weights: Sequence[np.ndarray], activations: Sequence[str], x: np.ndarray) -> list[np.ndarray]:
    """Post-activation outputs of each Dense layer, computed in float64 numpy."""
    h = np.asarray(x, np.float64)
    outs = []
    for j, activation in enumerate(activations):
        kernel, bias = weights[2 * j].astype(np.float64), weights[2 * j + 1].astype(np.float64)
        h = _NUMPY_ACTIVATIONS[activation](h @ kernel + bias)
        outs.append(h)
    return outs


def tape_probe(spec: RunSpec, lane_index: int, weights: Sequence[np.ndarray], x: np.ndarray, y: np.ndarray) -> dict:
    """Activations, full-set MSE and its gradients for one lane's weights, straight from tf.GradientTape."""
    from gradviz.engine.models import build_model
    from gradviz.engine.runtime import import_tensorflow

    tf = import_tensorflow()
    model = build_model(spec.lanes[lane_index].model, spec.seed)
    model.set_weights(list(weights))
    dense = [layer for layer in model.layers if hasattr(layer, "kernel")]
    x_t, y_t = tf.constant(x), tf.constant(y)
    with tf.GradientTape() as tape:
        acts = model(x_t)
        loss = tf.reduce_mean(tf.square(y_t - acts[-1]))
    kernel_grads = tape.gradient(loss, [d.kernel for d in dense])
    with tf.GradientTape() as tape:
        acts = model(x_t)
        loss = tf.reduce_mean(tf.square(y_t - acts[-1]))
    bias_grads = tape.gradient(loss, [d.bias for d in dense])
    return {
        "acts": [a.numpy() for a in acts],
        "loss": float(loss.numpy()),
        "kernel_grads": [g.numpy() for g in kernel_grads],
        "bias_grads": [g.numpy() for g in bias_grads],
        "model": model,
    }


# With other lanes beside it, a lane trains bit-identically (its loss, its
# weights), but it is probed in one stack with the lanes of its architecture,
# and TensorFlow rounds a stack of one differently from a stack of several:
# the probes of its outputs and gradients may differ in the last float32 bits,
# and a sample within rounding of a histogram edge or a saturation threshold
# may count on the other side.  Those of its weights alone are exact.
COMPANY_EXACT: tuple[str, ...] = ("loss", "diverged", "weight_norm", "update_ratio")
SAMPLE_FRACTIONS: tuple[str, ...] = ("saturation", "dead_fraction")


def assert_reports_identical(
    a: Sequence[EpochReport], b: Sequence[EpochReport], lanes_a=None, lanes_b=None, other_company: bool = False
) -> None:
    """Every probe of two runs bit-equal (NaN equal to NaN), optionally for a subset of lanes.

    With ``other_company`` (the lanes ran beside different lanes), only
    :data:`COMPANY_EXACT` must be bit-equal and the other probes agree to
    float32 rounding (see above).
    """
    assert [r.epoch for r in a] == [r.epoch for r in b]
    for name in REPORT_ARRAYS:
        if getattr(a[0], name) is None or getattr(b[0], name) is None:
            assert getattr(a[0], name) is None and getattr(b[0], name) is None
            continue
        va, vb = stacked(a, name), stacked(b, name)
        if lanes_a is not None:
            va, vb = va[:, lanes_a], vb[:, lanes_b]
        if not other_company or name in COMPANY_EXACT:
            np.testing.assert_array_equal(va, vb, err_msg=f"probe {name!r} differs")
        elif name == "hist_counts":
            np.testing.assert_array_equal(va.sum(axis=-1), vb.sum(axis=-1), err_msg="histogram totals differ")
            moved = np.abs(va - vb).sum(axis=-1) / 2
            assert (moved <= 2).all(), f"up to {moved.max()} samples changed bins"
        elif name in SAMPLE_FRACTIONS:
            np.testing.assert_allclose(va, vb, rtol=0, atol=0.01, err_msg=f"probe {name!r} differs")
        else:
            np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-7, err_msg=f"probe {name!r} differs")
