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


@pytest.mark.parametrize("epoch", [0, 3])
def test_jacobian_probe_matches_batch_jacobian(tf, tmp_path: Path, epoch: int) -> None:
    spec = make_spec([lane("net", LAYERS, {"name": "adam", "learning_rate": 0.05})], epochs=epoch)
    reports = list(iter_run(spec, weights_dir=tmp_path))
    report = reports[-1]
    model = build_model(spec.lanes[0].model, spec.seed)
    name = "epoch_0000.weights.h5" if epoch == 0 else "final.weights.h5"
    model.load_weights(str(tmp_path / "net" / name))
    np.testing.assert_array_equal(report.layout.jacobian_x, [0.5])  # the notebook's x_sample
    smax, smin, product = _reference(model, np.array([[0.5]]))
    np.testing.assert_allclose(report.sigma_max[0], smax, rtol=1e-4)
    np.testing.assert_allclose(report.sigma_min[0], smin, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(report.product_to_output[0], product, rtol=1e-4)


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
