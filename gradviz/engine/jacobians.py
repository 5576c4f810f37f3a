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
    sigma_max = np.empty(depth)
    sigma_min = np.empty(depth)
    product = np.empty(depth)
    running: np.ndarray | None = None
    with np.errstate(all="ignore"):
        for i in range(depth - 1, -1, -1):
            jac = derivatives[i][:, None].astype(np.float64) * kernels[i].T.astype(np.float64)
            if not np.isfinite(jac).all():
                sigma_max[i] = sigma_min[i] = product[i] = np.nan
                running = None if running is None else np.full((running.shape[0], jac.shape[1]), np.nan)
                continue
            s = np.linalg.svd(jac, compute_uv=False)
            # A singular Jacobian (dead ReLUs) has exact zeros that SVD
            # returns as round-off; report them as 0.
            sigma_max[i] = s[0]
            sigma_min[i] = s[-1] if s[-1] > 1e-12 * s[0] else 0.0
            running = jac if running is None else running @ jac
            product[i] = np.linalg.norm(running, 2) if np.isfinite(running).all() else np.nan
    return sigma_max, sigma_min, product
