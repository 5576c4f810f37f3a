"""The Jacobian probe against TensorFlow's own batch_jacobian of the same weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_kit import lane, layer, make_spec

from gradviz.engine.models import build_model
from gradviz.engine.trainer import iter_run

LAYERS = [layer(8, "tanh"), layer(8, "sigmoid"), layer(6, "relu", "he_normal"), layer(1)]


def _reference(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σ of each Jᵢ = ∂hᵢ/∂hᵢ₋₁ and ‖∂y/∂hᵢ₋₁‖₂, all by tf.GradientTape.batch_jacobian."""
    import tensorflow as tf

    dense = [lyr for lyr in model.layers if hasattr(lyr, "kernel")]
    inputs = [tf.constant(x, tf.float32)]
    for d in dense:
        inputs.append(d(inputs[-1]))
    smax, smin, product = [], [], []
    for i, d in enumerate(dense):
        h_prev = inputs[i]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(h_prev)
            h = d(h_prev)
            y = h
            for later in dense[i + 1:]:
                y = later(y)
        jac = tape.batch_jacobian(h, h_prev)[0].numpy().astype(np.float64)
        whole = tape.batch_jacobian(y, h_prev)[0].numpy().astype(np.float64)
        s = np.linalg.svd(jac, compute_uv=False)
        smax.append(s[0])
        smin.append(s[-1])
        product.append(np.linalg.norm(whole, 2))
    return np.array(smax), np.array(smin), np.array(product)


def _final_model(spec, tmp_path: Path, lane_index: int, epoch: int):
    model = build_model(spec.lanes[lane_index].model, spec.seed)
    name = "epoch_0000.weights.h5" if epoch == 0 else "final.weights.h5"
    model.load_weights(str(tmp_path / spec.lane_names[lane_index] / name))
    return model


@pytest.mark.parametrize("epoch", [0, 3])
def test_jacobian_probe_matches_batch_jacobian(tf, tmp_path: Path, epoch: int) -> None:
    # Lanes 0 and 1 share an architecture, so they are probed as one stack; lane 2 alone.
    spec = make_spec([
        lane("net", LAYERS, {"name": "adam", "learning_rate": 0.05}),
        lane("twin", [layer(8, "tanh", "he_normal"), *LAYERS[1:]], {"name": "sgd", "learning_rate": 0.1}),
        lane("shallow", [layer(5, "tanh"), layer(1)], {"name": "sgd", "learning_rate": 0.1}),
    ], epochs=epoch)
    report = list(iter_run(spec, weights_dir=tmp_path))[-1]
    np.testing.assert_array_equal(report.layout.jacobian_x, [0.5])  # the notebook's x_sample
    for i in range(3):
        smax, smin, product = _reference(_final_model(spec, tmp_path, i, epoch), np.array([[0.5]]))
        depth = len(smax)
        np.testing.assert_allclose(report.sigma_max[i, :depth], smax, rtol=1e-4, err_msg=spec.lane_names[i])
        np.testing.assert_allclose(report.sigma_min[i, :depth], smin, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(report.product_to_output[i, :depth], product, rtol=1e-4)


def test_a_softmax_layer_has_no_jacobian_probe_rather_than_a_wrong_one(tf, tmp_path: Path) -> None:
    # softmax's Jacobian is not diag(φ')·Wᵀ: the probe reports NaN for it and for the path through it.
    spec = make_spec([lane("softmax", [layer(5, "softmax"), layer(1)])], epochs=0)
    report = list(iter_run(spec, weights_dir=tmp_path))[-1]
    smax, _, product = _reference(_final_model(spec, tmp_path, 0, 0), np.array([[0.5]]))
    assert smax[0] > 0.01  # batch_jacobian sees a real, non-zero Jacobian there
    assert np.isnan(report.sigma_max[0, 0]) and np.isnan(report.sigma_min[0, 0])
    assert np.isnan(report.product_to_output[0, 0])
    # The output layer and the path from its input on do not go through the softmax.
    np.testing.assert_allclose(report.sigma_max[0, 1], smax[1], rtol=1e-4)
    np.testing.assert_allclose(report.product_to_output[0, 1], product[1], rtol=1e-4)


def test_product_predicts_vanishing_gradients_in_the_sigmoid_net(tf) -> None:
    from gradviz.engine.lessons import load_lesson

    report = next(iter(iter_run(load_lesson("vanishing").spec.replace(epochs=0))))
    sigmoid, relu = report.product_to_output
    # The sigmoid net's product shrinks by orders of magnitude toward the input ...
    assert sigmoid[0] < 1e-5 * sigmoid[-2]
    # ... and ranks the layers the same way as the measured gradient norms.
    order = np.argsort(sigmoid[:-1])
    assert list(order) == list(np.argsort(report.grad_norm[0, :-1]))
    # ReLU + He keeps it within two orders of magnitude through every layer.
    assert relu.max() / relu.min() < 100
