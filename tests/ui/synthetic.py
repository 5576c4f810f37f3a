"""Synthetic runs for panel tests: RunLayout, EpochReports and RunHistory without TensorFlow.

The numbers imitate what the engine measures (decaying losses, vanishing
gradients in a sigmoid stack, a lane that blows up) so the panels can be
tested, and looked at, on something that resembles a real lesson.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from gradviz.engine.history import RunHistory
from gradviz.engine.report import HIST_BINS, EpochReport, HyperparameterEdit, RunLayout
from gradviz.engine.spec import DatasetSpec, LaneSpec, LayerSpec, ModelSpec, OptimizerSpec, RunSpec

__all__ = [
    "LaneDef", "SyntheticRun", "jacobian_layout", "jacobian_reports", "lab_history", "lab_loss", "lab_reports",
    "layout_for_spec", "make_broken_history", "make_history", "make_jacobian_history", "make_layout", "make_reports",
    "race_history", "surface_history", "surface_layout", "surface_reports", "surface_trajectories",
]

_EDGES = {
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, 3.0),
    "linear": (-3.0, 3.0),
}


@dataclass(frozen=True)
class LaneDef:
    """One synthetic lane: name, hidden activation, depth and how it trains."""

    name: str
    activation: str = "tanh"
    layers: int = 12
    rate: float = 0.03  # loss decay per epoch
    diverge_at: int | None = None
    dead_layer: int | None = None  # 1-based layer whose gradient is exactly zero
    optimizer: str = "sgd"


@dataclass
class SyntheticRun:
    """Knobs of a synthetic run."""

    lanes: Sequence[LaneDef] = field(
        default_factory=lambda: (
            LaneDef("Sigmoid", "sigmoid", 12, 0.02, dead_layer=None),
            LaneDef("ReLU + He", "relu", 12, 0.05, dead_layer=3, optimizer="adam"),
            LaneDef("Tanh (lr 1.0)", "tanh", 8, 0.04, diverge_at=50, optimizer="rmsprop"),
        )
    )
    epochs: int = 200
    input_dim: int = 1
    n_samples: int = 100
    seed: int = 0
    edits: Sequence[HyperparameterEdit] = (
        HyperparameterEdit(epoch=30, lane=0, name="learning_rate", value=0.05, previous=0.01),
    )


def _target(x: np.ndarray) -> np.ndarray:
    return 0.5 * x**3 - x


def make_layout(run: SyntheticRun) -> RunLayout:
    """The fixed part of a synthetic run (spec, data, histogram edges)."""
    lanes = []
    for lane in run.lanes:
        hidden = [LayerSpec(32, lane.activation) for _ in range(lane.layers - 1)]
        layers = (*hidden, LayerSpec(1, "linear"))
        lanes.append(LaneSpec(lane.name, ModelSpec(run.input_dim, layers), OptimizerSpec(lane.optimizer)))
    spec = RunSpec(tuple(lanes), DatasetSpec("cubic"), seed=run.seed, epochs=run.epochs)
    rng = np.random.default_rng(run.seed)
    n_lanes = len(run.lanes)
    max_layers = max(lane.layers for lane in run.lanes)
    edges = np.full((n_lanes, max_layers, HIST_BINS + 1), np.nan)
    activations = []
    for i, lane in enumerate(run.lanes):
        acts = (lane.activation,) * (lane.layers - 1) + ("linear",)
        activations.append(acts)
        for k, act in enumerate(acts):
            lo, hi = _EDGES.get(act, (-3.0, 3.0))
            edges[i, k] = np.linspace(lo, hi, HIST_BINS + 1)
    if run.input_dim == 1:
        x = np.linspace(-2.0, 2.0, run.n_samples, dtype=np.float32)[:, None]
        y = (_target(x) + 0.1 * rng.standard_normal(x.shape)).astype(np.float32)
        grid = np.linspace(-2.2, 2.2, 120, dtype=np.float32)
    else:
        x = rng.standard_normal((run.n_samples, run.input_dim)).astype(np.float32)
        y = x[:, :1].astype(np.float32)
        grid = None
    return RunLayout(spec, spec.lane_names, tuple(ln.layers for ln in run.lanes), tuple(activations),
                     edges, x, y, grid)


def make_reports(run: SyntheticRun | None = None, layout: RunLayout | None = None,
                 run_id: int = 1) -> Iterator[EpochReport]:
    """Yield epoch 0..E reports of a synthetic run, in order."""
    run = run or SyntheticRun()
    layout = layout or make_layout(run)
    rng = np.random.default_rng(run.seed + 1)
    n, max_layers = layout.n_lanes, layout.max_layers
    init_loss = np.array([1.2 + 0.1 * i for i in range(n)])
    for epoch in range(run.epochs + 1):
        loss = np.full(n, np.nan)
        full = np.full(n, np.nan)
        diverged = np.zeros(n, dtype=bool)
        probes = {k: np.full((n, max_layers), np.nan) for k in (
            "grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var",
            "saturation", "dead_fraction", "update_ratio")}
        hist = np.zeros((n, max_layers, HIST_BINS), dtype=np.float32)
        pred = None if layout.grid_x is None else np.full((n, len(layout.grid_x)), np.nan, dtype=np.float32)
        for i, lane in enumerate(run.lanes):
            L = lane.layers
            depth = np.arange(1, L + 1)
            decay = np.exp(-lane.rate * epoch)
            value = 0.01 + init_loss[i] * decay * (1 + 0.05 * rng.standard_normal())
            full[i] = 0.01 + init_loss[i] * decay
            gn = 0.3 * decay + 0.01
            if lane.activation == "sigmoid":
                grads = gn * 0.25 ** (L - depth)
            else:
                grads = gn * (1.0 + 0.05 * rng.standard_normal(L))
            var = (0.6 if lane.activation == "relu" else 0.25) * 0.8 ** (depth - 1) * (1 + 0.5 * (1 - decay))
            if lane.dead_layer is not None:
                grads[lane.dead_layer - 1] = 0.0
            if lane.diverge_at is not None and epoch >= lane.diverge_at - 10:
                blow = 10.0 ** (epoch - (lane.diverge_at - 10))
                value *= blow
                full[i] *= blow
                grads = grads * blow
            if lane.diverge_at is not None and epoch >= lane.diverge_at:
                diverged[i] = True
                value = np.inf if epoch == lane.diverge_at else np.nan
                full[i] = value
                grads = np.full(L, np.inf if epoch == lane.diverge_at else np.nan)
                var = np.full(L, np.nan)
            if epoch > 0:
                loss[i] = value
            probes["grad_norm"][i, :L] = grads
            probes["bias_grad_norm"][i, :L] = grads * 0.1
            probes["weight_norm"][i, :L] = 1.0 + 0.01 * epoch
            probes["act_var"][i, :L] = var
            probes["act_mean"][i, :L] = 0.1
            sat = 0.4 * (1 - decay) * depth / L if lane.activation in ("sigmoid", "tanh") else np.zeros(L)
            dead = 0.05 * depth / L * (1 + epoch / max(1, run.epochs)) if lane.activation == "relu" else np.zeros(L)
            probes["saturation"][i, :L] = sat
            probes["dead_fraction"][i, :L] = dead
            probes["update_ratio"][i, :L] = 1e-3
            centers = np.arange(HIST_BINS) + 0.5
            for k in range(L):
                mu = HIST_BINS * (0.3 + 0.4 * (1 - decay) * (k + 1) / L)
                sd = 3 + 4 * (k + 1) / L
                hist[i, k] = (1000 * np.exp(-0.5 * ((centers - mu) / sd) ** 2)).astype(np.float32)
            if pred is not None:
                assert layout.grid_x is not None
                pred[i] = (_target(layout.grid_x) * (1 - decay) + 0.2 * decay * np.sin(3 * layout.grid_x + i))
                if diverged[i]:
                    pred[i] = np.nan
        edits = tuple(e for e in run.edits if e.epoch == epoch)
        yield EpochReport(
            run_id=run_id, epoch=epoch, layout=layout, loss=loss, full_loss=full, diverged=diverged,
            hist_counts=hist, prediction=pred, edits=edits, seconds=0.001, **probes,
        )


def make_history(run: SyntheticRun | None = None, upto: int | None = None) -> RunHistory:
    """A RunHistory holding epochs 0..``upto`` (all planned epochs by default)."""
    run = run or SyntheticRun()
    layout = make_layout(run)
    history = RunHistory(layout)
    for report in make_reports(run, layout):
        history.append(report)
        if upto is not None and report.epoch >= upto:
            break
    return history


def race_history(epochs: int = 100) -> RunHistory:
    """Four optimizers on a 2-layer tanh net, like the race lesson."""
    run = SyntheticRun(
        lanes=(
            LaneDef("SGD", "tanh", 2, 0.015),
            LaneDef("Momentum", "tanh", 2, 0.045, optimizer="sgd"),
            LaneDef("RMSProp", "tanh", 2, 0.07, optimizer="rmsprop"),
            LaneDef("Adam", "tanh", 2, 0.09, optimizer="adam"),
        ),
        epochs=epochs,
        edits=(HyperparameterEdit(epoch=40, lane=0, name="learning_rate", value=0.05, previous=0.01),),
    )
    return make_history(run)


def make_broken_history(value: float = float("nan"), epochs: int = 5, broken_edges: bool = False) -> RunHistory:
    """A run where every probe, loss and prediction is ``value`` (NaN or ±inf).

    With ``broken_edges`` the histogram bin edges are ``value`` too.
    """
    run = SyntheticRun(epochs=epochs)
    layout = make_layout(run)
    if broken_edges:
        layout = dataclasses.replace(layout, hist_edges=np.full_like(layout.hist_edges, value))
    history = RunHistory(layout)
    for report in make_reports(run, layout):
        n, layers = layout.n_lanes, layout.max_layers
        bad = np.full((n, layers), value)
        grid = None if layout.grid_x is None else np.full((n, len(layout.grid_x)), value, dtype=np.float32)
        history.append(EpochReport(
            run_id=1, epoch=report.epoch, layout=layout, loss=np.full(n, value), full_loss=np.full(n, value),
            diverged=np.ones(n, dtype=bool), grad_norm=bad, bias_grad_norm=bad, weight_norm=bad,
            act_mean=bad, act_var=bad, saturation=bad, dead_fraction=bad, update_ratio=bad,
            hist_counts=np.zeros((n, layers, HIST_BINS), dtype=np.float32), prediction=grid,
        ))
    return history


# Jacobians and the lab (appended) --------------------------------------------

#: σ_max of a hidden layer's Jacobian by activation (sigmoid's slope is at most 1/4).
_SIGMA = {"sigmoid": 0.45, "tanh": 1.0, "relu": 2.0, "linear": 1.3}


def _with_jacobians(report: EpochReport, run: SyntheticRun) -> EpochReport:
    """``report`` with sigma_max, sigma_min and product_to_output filled in.

    Per lane: σ_max by activation (slowly growing with the epoch), σ_min a
    hundredth of it, except ReLU layers whose Jacobian is singular (σ_min = 0);
    the product is the running product of σ_max from the output back; a dead
    layer zeroes the product from there to the input; a diverged lane is inf
    at its divergence epoch, then NaN, like the engine reports it.
    """
    n, max_layers = report.layout.n_lanes, report.layout.max_layers
    out = {k: np.full((n, max_layers), np.nan) for k in ("sigma_max", "sigma_min", "product_to_output")}
    for i, lane in enumerate(run.lanes):
        acts = report.layout.activations[i]
        L = lane.layers
        s_max = np.array([_SIGMA.get(a, 1.0) for a in acts]) * (1 + 0.002 * report.epoch)
        s_min = np.where(np.array(acts) == "relu", 0.0, s_max * 1e-2)
        s_min[-1] = s_max[-1]  # the output layer's Jacobian is 1 × units: one singular value
        product = np.cumprod(s_max[::-1])[::-1] * 0.9
        if lane.dead_layer is not None:
            product[: lane.dead_layer] = 0.0
        if lane.diverge_at is not None and report.epoch >= lane.diverge_at:
            bad = np.inf if report.epoch == lane.diverge_at else np.nan
            s_max, s_min, product = (np.full(L, bad) for _ in range(3))
        out["sigma_max"][i, :L] = s_max
        out["sigma_min"][i, :L] = s_min
        out["product_to_output"][i, :L] = product
    return dataclasses.replace(report, **out)


def jacobian_layout(run: SyntheticRun) -> RunLayout:
    """:func:`make_layout` with ``jacobian_x = [0.5]``, the notebook's probe input."""
    return dataclasses.replace(make_layout(run), jacobian_x=np.array([0.5], dtype=np.float32))


def jacobian_reports(run: SyntheticRun, layout: RunLayout) -> Iterator[EpochReport]:
    """:func:`make_reports` with the Jacobian probes filled in."""
    for report in make_reports(run, layout):
        yield _with_jacobians(report, run)


def make_jacobian_history(run: SyntheticRun | None = None, upto: int | None = None) -> RunHistory:
    """Like :func:`make_history`, with Jacobian probes and ``layout.jacobian_x = [0.5]``."""
    run = run or SyntheticRun()
    history = RunHistory(jacobian_layout(run))
    for report in jacobian_reports(run, history.layout):
        history.append(report)
        if upto is not None and report.epoch >= upto:
            break
    return history


def layout_for_spec(spec: RunSpec, n_samples: int = 60) -> RunLayout:
    """A RunLayout for any 1-D-input spec (e.g. a shipped lesson's), without TensorFlow."""
    n = len(spec.lanes)
    counts = tuple(len(lane.model.layers) for lane in spec.lanes)
    activations = tuple(tuple(layer.activation for layer in lane.model.layers) for lane in spec.lanes)
    edges = np.full((n, max(counts), HIST_BINS + 1), np.nan)
    for i, acts in enumerate(activations):
        for k, act in enumerate(acts):
            lo, hi = _EDGES.get(act, (-3.0, 3.0))
            edges[i, k] = np.linspace(lo, hi, HIST_BINS + 1)
    x = np.linspace(-2.0, 2.0, n_samples, dtype=np.float32)[:, None]
    y = _target(x).astype(np.float32)
    grid = np.linspace(-2.2, 2.2, 60, dtype=np.float32)
    return RunLayout(spec, spec.lane_names, counts, activations, edges, x, y, grid,
                     jacobian_x=np.array([0.5], dtype=np.float32))


def lab_loss(lane: int, epoch: int) -> float:
    """The synthetic lab's full-data loss of ``lane`` after ``epoch`` (before any divergence)."""
    start = 0.5 + 0.05 * (lane % 5)
    rate = 0.02 + 0.015 * (lane % 7)
    return 0.002 * (1 + lane % 3) + start * float(np.exp(-rate * epoch))


def lab_reports(spec: RunSpec, diverge_at: dict[int, int] | None = None,
                layout: RunLayout | None = None, run_id: int = 1) -> Iterator[EpochReport]:
    """Epoch 0..``spec.epochs`` reports of a synthetic lab run.

    Lane ``k`` follows :func:`lab_loss` (``loss`` = that value × 1.01, so the
    epoch loss and the full-data loss differ); lanes in ``diverge_at`` blow up
    10× per epoch for three epochs, then report inf at that epoch and NaN after.
    """
    layout = layout or layout_for_spec(spec)
    diverge_at = diverge_at or {}
    n, max_layers = layout.n_lanes, layout.max_layers
    for epoch in range(spec.epochs + 1):
        full = np.array([lab_loss(k, epoch) for k in range(n)])
        for lane, at in diverge_at.items():
            if at - 3 <= epoch < at:
                full[lane] *= 10.0 ** (epoch - at + 4)
            elif epoch >= at:
                full[lane] = np.inf if epoch == at else np.nan
        loss = np.full(n, np.nan) if epoch == 0 else full * 1.01
        diverged = np.array([lane in diverge_at and epoch >= diverge_at[lane] for lane in range(n)])
        probes = {k: np.full((n, max_layers), np.nan) for k in (
            "grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var",
            "saturation", "dead_fraction", "update_ratio")}
        for lane in range(n):
            L = layout.layer_counts[lane]
            probes["grad_norm"][lane, :L] = 0.1 * 0.5 ** np.arange(L)[::-1]
        yield EpochReport(
            run_id=run_id, epoch=epoch, layout=layout, loss=loss, full_loss=full, diverged=diverged,
            hist_counts=np.zeros((n, max_layers, HIST_BINS), dtype=np.float32), prediction=None,
            seconds=0.001, **probes,
        )


def lab_history(epochs: int = 12, diverge_at: dict[int, int] | None = None, drop_last_lane: bool = False,
                upto: int | None = None) -> RunHistory:
    """The shipped ``lab`` lesson's grid (9 rows × 4 optimizers), with synthetic losses.

    With ``drop_last_lane`` the last cell of the grid has no lane.
    """
    from gradviz.engine.lessons import load_lesson

    spec = load_lesson("lab").spec.replace(epochs=epochs)
    if drop_last_lane:
        spec = dataclasses.replace(spec, lanes=spec.lanes[:-1])
    history = RunHistory(layout_for_spec(spec))
    for report in lab_reports(spec, diverge_at, history.layout):
        history.append(report)
        if upto is not None and report.epoch >= upto:
            break
    return history


# Loss-surface races (appended) -------------------------------------------------

#: Learning rates per surface for the synthetic (SGD, Momentum, Adam) lanes, picked so the
#: lanes behave as in the lesson: on the ravine SGD zig-zags across the valley.
_SURFACE_RATES: dict[str, tuple[float, float, float]] = {
    "ravine": (0.038, 0.01, 0.1),
    "rosenbrock": (0.001, 0.0003, 0.05),
    "himmelblau": (0.01, 0.002, 0.1),
    "saddle": (0.05, 0.02, 0.05),
    "beale": (0.002, 0.0005, 0.05),
}


def surface_layout(function: str, lane_names: Sequence[str], epochs: int,
                   start: tuple[float, float] | None = None) -> RunLayout:
    """A RunLayout of a loss-surface race on ``SURFACES[function]`` (one "layer" per lane)."""
    from gradviz.engine.surfaces import SURFACES, SurfaceInfo

    s = SURFACES[function]
    lanes = tuple(LaneSpec(name, ModelSpec(1, (LayerSpec(1, "linear"),)), OptimizerSpec("sgd"))
                  for name in lane_names)
    spec = RunSpec(lanes, DatasetSpec("cubic"), seed=0, epochs=epochs)
    n = len(lanes)
    info = SurfaceInfo(s.name, s.formula, start or s.start, s.bounds, s.minima)
    x = np.zeros((1, 2), dtype=np.float32)
    return RunLayout(spec, spec.lane_names, (1,) * n, (("linear",),) * n,
                     np.full((n, 1, HIST_BINS + 1), np.nan), x, np.zeros((1, 1), dtype=np.float32), None,
                     surface=info)


def _numeric_grad(f, p: np.ndarray) -> np.ndarray:
    h = 1e-6 * max(1.0, float(np.abs(p).max()))
    gx = (f(p[0] + h, p[1]) - f(p[0] - h, p[1])) / (2 * h)
    gy = (f(p[0], p[1] + h) - f(p[0], p[1] - h)) / (2 * h)
    return np.array([gx, gy], dtype=np.float64)


def surface_trajectories(function: str, epochs: int, start: tuple[float, float] | None = None,
                         rates: tuple[float, float, float] | None = None,
                         diverging_lr: float | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """Lane names and (lanes, epochs + 1, 2) positions of plain numpy SGD, Momentum (0.9) and Adam.

    With ``diverging_lr`` a fourth lane, SGD at that rate, is added; once its
    f exceeds 1e8 (or is not finite) its positions are NaN, as the engine
    reports a diverged lane.
    """
    from gradviz.engine.surfaces import SURFACES

    s = SURFACES[function]
    f = s.f
    lr_sgd, lr_mom, lr_adam = rates or _SURFACE_RATES[function]
    p0 = np.asarray(start or s.start, dtype=np.float64)
    lanes: list[tuple[str, str, float]] = [("SGD", "sgd", lr_sgd), ("Momentum", "momentum", lr_mom),
                                           ("Adam", "adam", lr_adam)]
    if diverging_lr is not None:
        lanes.append((f"SGD (lr {diverging_lr:g})", "sgd", diverging_lr))
    out = np.full((len(lanes), epochs + 1, 2), np.nan)
    with np.errstate(all="ignore"):
        for i, (_name, kind, lr) in enumerate(lanes):
            p, v, m, s2 = p0.copy(), np.zeros(2), np.zeros(2), np.zeros(2)
            out[i, 0] = p
            for step in range(1, epochs + 1):
                g = _numeric_grad(f, p)
                if kind == "sgd":
                    p = p - lr * g
                elif kind == "momentum":
                    v = 0.9 * v - lr * g
                    p = p + v
                else:
                    m = 0.9 * m + 0.1 * g
                    s2 = 0.999 * s2 + 0.001 * g * g
                    mh, sh = m / (1 - 0.9**step), s2 / (1 - 0.999**step)
                    p = p - lr * mh / (np.sqrt(sh) + 1e-7)
                value = f(p[0], p[1])
                if not (np.isfinite(p).all() and np.isfinite(value) and abs(value) < 1e8):
                    break
                out[i, step] = p
    return tuple(name for name, _k, _lr in lanes), out


def surface_reports(layout: RunLayout, positions: np.ndarray, run_id: int = 1) -> Iterator[EpochReport]:
    """Epoch 0..E reports of a surface race whose lanes sit at ``positions`` (lanes, epochs + 1, 2).

    A lane whose position turns NaN is reported diverged from that epoch
    (loss inf at that epoch, NaN after), like the engine does.
    """
    assert layout.surface is not None
    n = layout.n_lanes
    first_bad = np.array([int(np.argmax(~np.isfinite(p).all(axis=1))) if not np.isfinite(p).all() else -1
                          for p in positions])
    with np.errstate(all="ignore"):
        for epoch in range(positions.shape[1]):
            pos = positions[:, epoch]
            full = np.asarray(layout.surface.value(pos[:, 0], pos[:, 1]), dtype=np.float64)
            diverged = (first_bad >= 0) & (epoch >= first_bad)
            full = np.where(diverged, np.where(epoch == first_bad, np.inf, np.nan), full)
            loss = np.full(n, np.nan) if epoch == 0 else full.copy()
            probes = {k: np.full((n, 1), np.nan) for k in (
                "grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var",
                "saturation", "dead_fraction", "update_ratio")}
            yield EpochReport(
                run_id=run_id, epoch=epoch, layout=layout, loss=loss, full_loss=full, diverged=diverged,
                hist_counts=np.zeros((n, 1, HIST_BINS), dtype=np.float32), prediction=None,
                position=pos.copy(), seconds=0.001, **probes,
            )


def surface_history(function: str = "ravine", epochs: int = 60, start: tuple[float, float] | None = None,
                    diverging_lr: float | None = None, upto: int | None = None) -> RunHistory:
    """A synthetic loss-surface race (SGD, Momentum, Adam; optionally a diverging SGD lane)."""
    names, positions = surface_trajectories(function, epochs, start, diverging_lr=diverging_lr)
    history = RunHistory(surface_layout(function, names, epochs, start))
    for report in surface_reports(history.layout, positions):
        history.append(report)
        if upto is not None and report.epoch >= upto:
            break
    return history
