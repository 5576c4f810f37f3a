"""The loss-surface race: lanes are points (x, y) descending a 2-D function.

Each lane's "model" is one two-element variable, stepped by the lane's real
Keras optimizer, one step per epoch, all lanes in one compiled call.  The
reports are ordinary :class:`EpochReport` objects with ``position`` set, so
the race panel, the history, pacing and live edits work unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from gradviz.engine.control import RunControl
from gradviz.engine.errors import SpecError
from gradviz.engine.report import HIST_BINS, LAYER_PROBES, EpochReport, RunLayout, lane_layers, read_only
from gradviz.engine.resume import Resume, check_resume
from gradviz.engine.runtime import import_tensorflow
from gradviz.engine.spec import RunSpec
from gradviz.engine.surfaces import SURFACES, SurfaceInfo

__all__ = ["TRAJECTORY_COLUMNS", "iter_surface_run", "trajectory_csv"]

TRAJECTORY_COLUMNS = ("step", "lane", "x", "y", "loss", "grad_norm")


def iter_surface_run(
    spec: RunSpec, control: RunControl | None = None, *, resume: Resume | None = None
) -> Iterator[EpochReport]:
    """Race every lane's optimizer down ``spec.problem``'s function, one step per epoch.

    Epoch 0 is the shared start; epoch e is the position after e steps.
    With ``resume``, each lane goes on from its recorded point at
    ``resume.epoch`` (its weights are that point).
    ``loss`` and ``full_loss`` are f at the position (``loss`` is NaN at
    epoch 0, as for networks); ``grad_norm`` is |∇f| there.  A lane whose
    f or gradient becomes non-finite stops and is flagged ``diverged``.
    """
    from gradviz.engine.registry import check_spec
    from gradviz.engine.trainer import apply_optimizer_edit, collect_edits

    if spec.problem is None:
        raise SpecError("problem", "is missing: this is not a loss-surface race")
    control = control or RunControl()
    check_spec(spec)
    start = 0
    if resume is not None:
        check_resume(spec, resume)
        start = resume.epoch
    tf = import_tensorflow()
    from gradviz.engine.registry import make_optimizer

    surface = SURFACES[spec.problem.function]
    f = surface.f
    n = len(spec.lanes)
    starts = [np.array(spec.problem.start, np.float32)] * n
    if resume is not None:
        starts = [np.asarray(w[0], np.float32) for w in resume.weights]
    points = [tf.Variable(starts[i], name=f"point_{i}") for i in range(n)]
    optimizers = [make_optimizer(lane.optimizer, f"lanes[{i}].optimizer") for i, lane in enumerate(spec.lanes)]
    specs = [lane.optimizer for lane in spec.lanes]
    variables = [[p] for p in points]
    for opt, v in zip(optimizers, variables):
        opt.build(v)
    alive = [tf.Variable(True, trainable=False) for _ in range(n)]

    def measure(i: int) -> Any:
        p = points[i]
        with tf.GradientTape() as tape:
            value = f(p[0], p[1])
        grad = tape.gradient(value, p)
        ok = tf.logical_and(tf.math.is_finite(value), tf.reduce_all(tf.math.is_finite(grad)))
        return value, grad, ok

    def epoch_fn(train: Any) -> Any:
        rows = []
        for i in range(n):
            _value, grad, ok = measure(i)
            go = tf.logical_and(tf.logical_and(alive[i], ok), train)

            def step(opt: Any = optimizers[i], grad: Any = grad, var: Any = variables[i]) -> Any:
                opt.apply([grad], var)
                return tf.constant(True)

            tf.cond(go, step, lambda: tf.constant(False))
            after, grad_after, ok_after = measure(i)
            still = tf.logical_and(tf.logical_and(alive[i], ok), ok_after)
            alive[i].assign(still)
            rows.append(tf.concat([points[i].read_value(), tf.stack([after, tf.norm(grad_after),
                                                                      tf.cast(still, tf.float32)])], 0))
        return tf.stack(rows)

    def compile_step() -> Any:
        return tf.function(epoch_fn, autograph=False)

    step_fn = compile_step()
    counts, activations = lane_layers(spec)
    info = SurfaceInfo(surface.name, surface.formula, spec.problem.start, surface.bounds, surface.minima)
    layout = RunLayout(
        spec=spec,
        lane_names=spec.lane_names,
        layer_counts=counts,
        activations=activations,
        hist_edges=read_only(np.full((n, 1, HIST_BINS + 1), np.nan)),
        data_x=read_only(np.zeros((0, 2), np.float32)),
        data_y=read_only(np.zeros((0, 1), np.float32)),
        grid_x=None,
        surface=info,
        start_epoch=start,
    )

    def report(epoch: int, out: np.ndarray, seconds: float, edits: tuple = (), messages: tuple = ()) -> EpochReport:
        position = out[:, :2].astype(np.float64)
        value = out[:, 2].astype(np.float64)
        grad_norm = out[:, 3].astype(np.float64)
        ok = out[:, 4] > 0.5
        per_layer = {name: np.full((n, 1), np.nan) for name in LAYER_PROBES}
        per_layer["grad_norm"][:, 0] = grad_norm
        per_layer["weight_norm"][:, 0] = np.hypot(position[:, 0], position[:, 1])
        loss = value.copy()
        if epoch == start:
            loss[:] = np.nan
        return EpochReport(
            run_id=control.run_id, epoch=epoch, layout=layout,
            loss=read_only(loss), full_loss=read_only(value), diverged=read_only(~ok),
            **{name: read_only(v) for name, v in per_layer.items()},
            hist_counts=read_only(np.zeros((n, 1, HIST_BINS), np.float32)),
            prediction=None, position=read_only(position), edits=edits, messages=messages, seconds=seconds,
            weights=tuple((read_only(p, np.float32),) for p in position),
        )

    started = time.perf_counter()
    yield report(start, step_fn(tf.constant(False)).numpy(), time.perf_counter() - started)
    epoch_started = time.perf_counter()
    for epoch in range(start + 1, start + spec.epochs + 1):
        if not control.wait_turn(epoch_started):
            break
        epoch_started = time.perf_counter()
        rebuilt = []

        def apply(pending: Any, epoch: int = epoch, rebuilt: list[bool] = rebuilt) -> Any:
            applied, rebuild = apply_optimizer_edit(optimizers, specs, variables, pending, epoch)
            rebuilt.append(rebuild)
            return applied

        edits, messages = collect_edits(control, apply)
        if any(rebuilt):
            step_fn = compile_step()  # a rebuilt optimizer must be traced again
        out = step_fn(tf.constant(True)).numpy()
        yield report(epoch, out, time.perf_counter() - epoch_started, edits, messages)


def trajectory_csv(history: Any) -> str:
    """``trajectory.csv``: ``step,lane,x,y,loss,grad_norm``, step 0 = the start."""
    from gradviz.engine.export import _cell, _csv, _quote

    positions = history.positions
    value = history.full_loss
    grad = history.layer("grad_norm")[:, :, 0]
    names = [_quote(name) for name in history.layout.lane_names]
    rows = []
    for r, step in enumerate(history.epochs):
        for lane, name in enumerate(names):
            x, y = positions[lane, r]
            rows.append([str(step), name, _cell(x), _cell(y), _cell(value[lane, r]), _cell(grad[lane, r])])
    return _csv(TRAJECTORY_COLUMNS, rows)
