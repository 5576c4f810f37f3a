"""Layer Jacobians at a probe input: notebook section 4's product, made measurable.

For a Dense layer h = φ(W·h_prev + b), the input–output Jacobian at one input
is J = diag(φ'(z)) · Wᵀ.  Backpropagation multiplies them:
∂y/∂h₀ = J_L ⋯ J_2 · J_1, so the gradient reaching layer i is scaled by the
product of the Jacobians from the output back to that layer.  Singular values
below 1 shrink it (vanishing), above 1 grow it (exploding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["JACOBIAN_PROBES", "jacobian_stats", "probe_input"]

# Per-layer Jacobian probes, in the column order of jacobians.csv.
JACOBIAN_PROBES: tuple[str, ...] = ("sigma_max", "sigma_min", "product_to_output")

PROBE_X = 0.5  # the notebook's x_sample


def probe_input(x: np.ndarray) -> np.ndarray:
    """The input the Jacobians are taken at: x = 0.5 for 1-D data (as in the
    notebook), otherwise the first training sample."""
    if x.shape[1] == 1:
        return np.full((1, 1), PROBE_X, np.float32)
    return np.asarray(x[:1], np.float32)


def jacobian_stats(
    derivatives: Sequence[np.ndarray], kernels: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Singular values of each layer's Jacobian and of the running product.

    Parameters
    ----------
    derivatives
        Per layer, φ'(z) at the probe input, shape (units,).
    kernels
        Per layer, the kernel W, shape (inputs, units).

    Returns
    -------
    sigma_max, sigma_min
        (layers,) largest and smallest singular value of Jᵢ.
    product_to_output
        (layers,) largest singular value of J_L ⋯ Jᵢ: how much the path from
        layer i's input to the output can stretch a gradient.
    """
    depth = len(kernels)
    sigma_max = np.full(depth, np.nan)
    sigma_min = np.full(depth, np.nan)
    product = np.full(depth, np.nan)
    with np.errstate(all="ignore"):
        jacs = [d[:, None].astype(np.float64) * k.T.astype(np.float64) for d, k in zip(derivatives, kernels)]
        finite = [bool(np.isfinite(j).all()) for j in jacs]
        # One batched SVD per shape (a deep net's hidden layers share one):
        # per-call overhead, not arithmetic, is what 32×32 SVDs cost.
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, jac in enumerate(jacs):
            if finite[i]:
                by_shape.setdefault(jac.shape, []).append(i)
        for layers in by_shape.values():
            values = np.linalg.svd(np.stack([jacs[i] for i in layers]), compute_uv=False)
            for i, s in zip(layers, values):
                # A singular Jacobian (dead ReLUs) has exact zeros that SVD
                # returns as round-off; report them as 0.
                sigma_max[i] = s[0]
                sigma_min[i] = s[-1] if s[-1] > 1e-12 * s[0] else 0.0
        running: np.ndarray | None = None
        for i in range(depth - 1, -1, -1):
            if not finite[i]:
                break  # the product through a non-finite layer means nothing
            running = jacs[i] if running is None else running @ jacs[i]
            if running.shape[0] == 1:  # a single output: the spectral norm is the vector norm
                product[i] = float(np.sqrt(np.sum(running * running)))
            else:
                product[i] = np.linalg.norm(running, 2)
            if not np.isfinite(product[i]):
                product[i] = np.nan
                break
    return sigma_max, sigma_min, product
