"""What the trainer yields: one :class:`EpochReport` per epoch for all lanes.

Reports are frozen and carry fresh, read-only numpy arrays, so they can cross
from the worker thread to the GUI thread safely.  Per-layer arrays have shape
(lanes, layers), padded with NaN where a lane has fewer layers than the
deepest lane.  Layers are numbered 1..L from the input side; the output layer
is layer L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradviz.engine.spec import RunSpec
from gradviz.engine.surfaces import SurfaceInfo

__all__ = ["LAYER_PROBES", "EpochReport", "HyperparameterEdit", "RunLayout", "lane_layers", "read_only"]

# Per-layer probes, in the column order of layers.csv.
LAYER_PROBES: tuple[str, ...] = (
    "grad_norm",
    "bias_grad_norm",
    "weight_norm",
    "act_mean",
    "act_var",
    "saturation",
    "dead_fraction",
    "update_ratio",
)

HIST_BINS = 40


def read_only(a: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """A contiguous copy of ``a`` (as ``dtype``, if given) that cannot be written to."""
    out = np.array(a, dtype=dtype, copy=True, order="C")
    out.setflags(write=False)
    return out


def lane_layers(spec: RunSpec) -> tuple[tuple[int, ...], tuple[tuple[str, ...], ...]]:
    """:attr:`RunLayout.layer_counts` and :attr:`RunLayout.activations` of ``spec``.

    A point on a loss surface counts as one linear layer.
    """
    counts = tuple(1 if lane.model is None else lane.model.depth for lane in spec.lanes)
    activations = tuple(
        ("linear",) if lane.model is None else tuple(layer.activation for layer in lane.model.layers)
        for lane in spec.lanes
    )
    return counts, activations


@dataclass(frozen=True, slots=True)
class HyperparameterEdit:
    """A change to one lane's optimizer, applied before ``epoch`` was trained."""

    epoch: int
    lane: int
    name: str
    value: float | int | bool
    previous: float | int | bool | None


@dataclass(frozen=True, slots=True, eq=False)
class RunLayout:
    """What stays fixed for a run: lanes, layers, data and histogram bins.

    One instance is shared by every report of a run.

    Attributes
    ----------
    spec
        The run's validated spec.
    lane_names
        Lane names in spec order.
    layer_counts
        Dense layers per lane, output layer included.
    activations
        Activation name per lane per layer.
    hist_edges
        (lanes, layers, HIST_BINS + 1) bin edges of each layer's activation
        histogram, fixed at epoch 0 so frames compare; NaN for absent layers.
    data_x, data_y
        The training data in unshuffled order.
    grid_x
        (grid,) inputs the prediction curves are evaluated on, for 1-D inputs;
        ``None`` otherwise.
    jacobian_x
        (inputs,) the input the layer Jacobians are taken at.
    surface
        For a loss-surface race: the function, its view and the start;
        ``None`` for a network run.
    start_epoch
        The epoch of the first report: 0, or the epoch a continued run
        picked up from.
    """

    spec: RunSpec
    lane_names: tuple[str, ...]
    layer_counts: tuple[int, ...]
    activations: tuple[tuple[str, ...], ...]
    hist_edges: np.ndarray
    data_x: np.ndarray
    data_y: np.ndarray
    grid_x: np.ndarray | None
    jacobian_x: np.ndarray | None = None
    surface: SurfaceInfo | None = None
    start_epoch: int = 0

    @property
    def n_lanes(self) -> int:
        return len(self.lane_names)

    @property
    def max_layers(self) -> int:
        return max(self.layer_counts)

    @property
    def epochs(self) -> int:
        """The last planned epoch (the report for epoch 0 comes before the first)."""
        return self.start_epoch + self.spec.epochs



@dataclass(frozen=True, slots=True, eq=False)
class EpochReport:
    """Every lane's probes after one epoch (epoch 0: at initialization).

    Attributes
    ----------
    run_id
        Identifies the run, so reports of a stopped run can be dropped.
    epoch
        0 at initialization, then 1..E.
    layout
        The run's fixed layout (the same object in every report of a run).
    loss
        (lanes,) what Keras ``fit`` reports: the sample-weighted mean of the
        batch losses over the epoch; NaN at epoch 0.
    full_loss
        (lanes,) MSE over the whole training set after the epoch.
    diverged
        (lanes,) True from the epoch a lane's loss or gradients became
        non-finite; such a lane stops updating.
    grad_norm, bias_grad_norm, weight_norm, act_mean, act_var, saturation, dead_fraction, update_ratio
        (lanes, layers) per-layer probes; see ``docs`` in the README.
    hist_counts
        (lanes, layers, HIST_BINS) activation histogram counts over
        ``layout.hist_edges`` (values outside the edges land in the end bins).
    prediction
        (lanes, grid) each lane's output over ``layout.grid_x``, or ``None``.
    sigma_max, sigma_min, product_to_output
        (lanes, layers) singular values of each layer's input–output Jacobian
        at ``layout.jacobian_x``, and the largest singular value of the
        product of Jacobians from the output back to the layer (see
        :mod:`gradviz.engine.jacobians`).
    position
        (lanes, 2) each lane's point (x, y) in a loss-surface race, else ``None``.
    weights
        Per lane, its weights after the epoch in ``model.get_weights()``
        order (kernel, bias, layer by layer; for a surface race, the point):
        what a saved session continues training from.
    edits
        Hyperparameter changes applied just before this epoch.
    messages
        Things the class should be told about this epoch (e.g. an edit that
        could not be applied).
    seconds
        Wall time the engine spent on this epoch.
    """

    run_id: int
    epoch: int
    layout: RunLayout
    loss: np.ndarray
    full_loss: np.ndarray
    diverged: np.ndarray
    grad_norm: np.ndarray
    bias_grad_norm: np.ndarray
    weight_norm: np.ndarray
    act_mean: np.ndarray
    act_var: np.ndarray
    saturation: np.ndarray
    dead_fraction: np.ndarray
    update_ratio: np.ndarray
    hist_counts: np.ndarray
    prediction: np.ndarray | None
    sigma_max: np.ndarray | None = None
    sigma_min: np.ndarray | None = None
    product_to_output: np.ndarray | None = None
    position: np.ndarray | None = None
    weights: tuple[tuple[np.ndarray, ...], ...] | None = None
    edits: tuple[HyperparameterEdit, ...] = ()
    messages: tuple[str, ...] = ()
    seconds: float = 0.0
