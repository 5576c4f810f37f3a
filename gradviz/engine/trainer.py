"""The lockstep trainer: every lane of a run advanced by one compiled function.

``iter_run`` yields one :class:`EpochReport` per epoch for all lanes.  Per
epoch it makes (usually) two calls into TensorFlow: one compiled loop over the
epoch's batches that steps every lane, and one compiled probe over the whole
training set that returns every measurement as a single flat tensor, converted
to numpy once.  Per-call overhead, not arithmetic, is what a model this small
costs, which is why the notebook's ``model.fit`` per optimizer is ~100× slower.
The probe measures lanes of one architecture as one stack (see
:class:`_LaneGroup`), so the lab's 36 lanes trace three probes, not 36.

Only the thread that calls ``iter_run`` touches the Keras objects it builds.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from gradviz.engine.control import PendingEdit, RunControl
from gradviz.engine.datasets import Dataset, make_dataset
from gradviz.engine.errors import SpecError
from gradviz.engine.graph_memory import custom_gradient_names, forget_custom_gradients, system_heap
from gradviz.engine.jacobians import JACOBIAN_PROBES, jacobian_stats, probe_input
from gradviz.engine.models import build_model, layer_seed
from gradviz.engine.registry import (
    acts_elementwise,
    check_hyperparameter,
    check_spec,
    make_initializer,
    make_optimizer,
    optimizer_arguments,
)
from gradviz.engine.report import (
    HIST_BINS,
    LAYER_PROBES,
    EpochReport,
    HyperparameterEdit,
    RunLayout,
    lane_layers,
    read_only,
)
from gradviz.engine.resume import Resume, check_resume
from gradviz.engine.runtime import import_keras, import_tensorflow
from gradviz.engine.spec import OptimizerSpec, RunSpec

__all__ = [
    "GRID_POINTS",
    "SATURATION_LEVEL",
    "apply_optimizer_edit",
    "check_run",
    "collect_edits",
    "iter_run",
    "lane_folder_names",
    "release_cached_run",
]

GRID_POINTS = 200
# |a| above this (tanh), or a within this of 0 or 1 (sigmoid), counts as saturated.
SATURATION_LEVEL = 0.97
# Samples × lanes stepped per call into TensorFlow: bounds how long a stop
# request waits on a large dataset.
_CHUNK_WORK = 65_536
# XLA fuses the hundreds of tiny ops of an epoch (about 1.5-2x faster per
# epoch) but compiling takes seconds; it pays off only on long runs.  Both its
# compile time and its saving grow with the lanes, so the break-even is in
# epochs alone: about 1 050 for the race, 375 for the lab, 1 570 for the
# vanishing lesson (benchmarks/README.md).
_JIT_MIN_EPOCHS = 1_000

# progress(stage, done, total, lanes): see RunControl.report_preparation.
Progress = Callable[[str, int, int, int], None]

_BOUNDED_RANGES = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
    "relu6": (0.0, 6.0),
}


def check_run(spec: RunSpec) -> Dataset:
    """Everything that can be wrong with a spec, checked before any training.

    Returns the dataset, which had to be read to check the shapes.

    Raises
    ------
    SpecError
        Naming the offending field.
    """
    data = make_dataset(spec.dataset, spec.seed)
    n_in, n_out = data.x.shape[1], data.y.shape[1]
    for i, lane in enumerate(spec.lanes):
        if lane.model.input_dim != n_in:
            raise SpecError(
                f"lanes[{i}].model.input_dim",
                f"is {lane.model.input_dim} but dataset {spec.dataset.name!r} has {n_in} input column(s)",
            )
        units = lane.model.layers[-1].units
        if units != n_out:
            last = len(lane.model.layers) - 1
            raise SpecError(
                f"lanes[{i}].model.layers[{last}].units",
                f"the output layer has {units} unit(s) but dataset {spec.dataset.name!r} has {n_out} target column(s)",
            )
    check_spec(spec)
    return data


def lane_folder_names(names: tuple[str, ...]) -> list[str]:
    """File-system-safe, unique folder names for lanes (``"SGD+momentum 0.9"`` → ``"SGD+momentum_0.9"``)."""
    out: list[str] = []
    for name in names:
        slug = re.sub(r"[^A-Za-z0-9+.=-]+", "_", name).strip("._") or "lane"
        candidate, k = slug, 2
        while candidate in out:
            candidate, k = f"{slug}_{k}", k + 1
        out.append(candidate)
    return out


def _hist_edges(spec: RunSpec, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Fixed bin edges per lane and layer, from the activation's range or the epoch-0 values.

    Each lane's bins depend on that lane alone, so adding a lane never
    changes another lane's numbers.
    """
    lanes, layers = lo.shape
    edges = np.full((lanes, layers, HIST_BINS + 1), np.nan)
    for i, lane in enumerate(spec.lanes):
        for j, layer in enumerate(lane.model.layers):
            if layer.activation in _BOUNDED_RANGES:
                a, b = _BOUNDED_RANGES[layer.activation]
            else:
                a, b = float(lo[i, j]), float(hi[i, j])
                if not (math.isfinite(a) and math.isfinite(b)):
                    a, b = -1.0, 1.0
                span = max(b - a, 1e-6)
                a = 0.0 if a >= 0 else a - 0.25 * span
                b = b + 0.25 * span
            edges[i, j] = np.linspace(a, b, HIST_BINS + 1)
    return edges


def _all_finite(tf: Any, loss: Any, grads: list[Any]) -> Any:
    """Whether the loss and every element of the gradients are finite.

    For one lane (a scalar loss) or per lane (``loss`` is ``[lanes]`` and
    each gradient ``[lanes, ...]``).  One sum instead of a check per tensor: a
    NaN or infinity anywhere makes the sum non-finite.  (So would finite
    gradients summing past float32's 3e38, which only a lane that is
    diverging anyway reaches.)
    """
    kept = len(loss.shape)
    sums = [tf.reduce_sum(g, axis=list(range(kept, len(g.shape)))) for g in grads]
    return tf.math.is_finite(loss + tf.add_n(sums))


class _LaneGroup:
    """Lanes of one architecture (layer sizes and activations), computed side by side.

    The probes stack their weights into ``[lanes, ...]`` tensors so that one
    batched op serves every lane of the group: the probe ops a 36-lane lab
    traces, and so its tracing time and memory, scale with its architectures
    instead of its lanes.  Each lane keeps its own Keras variables, read into
    the stacks at every probe.

    Training stays lane by lane: TensorFlow rounds a batch of one lane
    differently from a batch of several, and a lane's trajectory must not
    depend on which other lanes run.  Its probe statistics may, in the last
    float32 bit (so a sample within rounding of a histogram edge can count in
    the neighbouring bin).
    """

    def __init__(self, lanes: list[int], dense: list[list[Any]], activations: list[str]) -> None:
        self.lanes = lanes
        self.layers = [[dense[i][k] for i in lanes] for k in range(len(dense[lanes[0]]))]
        self.activations = activations
        self.elementwise = [acts_elementwise(name) for name in activations]
        self.functions = [
            fn if elementwise else _on_units(fn)
            for fn, elementwise in zip((layer.activation for layer in dense[lanes[0]]), self.elementwise)
        ]

    def weights(self, tf: Any) -> tuple[list[Any], list[Any]]:
        """The group's kernels ``[lanes, in, out]`` and biases ``[lanes, out]``, layer by layer."""
        kernels = [tf.stack([tf.convert_to_tensor(d.kernel) for d in layer]) for layer in self.layers]
        biases = [tf.stack([tf.convert_to_tensor(d.bias) for d in layer]) for layer in self.layers]
        return kernels, biases

    def forward(self, tf: Any, x: Any, kernels: list[Any], biases: list[Any]) -> list[Any]:
        """Every layer's output, transposed: ``[lanes, units, samples]``, for the shared input ``x`` (samples × inputs).

        What keras.layers.Dense computes, without Keras's per-call Python
        overhead at trace time (it dominates tracing a many-lane run).
        Samples go last so that every sum over them (the statistics, the bias
        gradients) reduces each lane's contiguous rows the same way: identical
        lanes get bit-identical numbers.
        """
        h = tf.transpose(x)[None]
        outputs = []
        for kernel, bias, activation in zip(kernels, biases, self.functions):
            h = activation(tf.matmul(kernel, h, transpose_a=True) + tf.expand_dims(bias, 2))
            outputs.append(h)
        return outputs


def _on_units(activation: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``activation`` (softmax, say) applied across the units of a ``[lanes, units, samples]`` tensor."""
    tf = import_tensorflow()

    def across_units(z: Any) -> Any:
        return tf.transpose(activation(tf.transpose(z, [0, 2, 1])), [0, 2, 1])

    return across_units


def _lane_groups(spec: RunSpec, dense: list[list[Any]]) -> list[_LaneGroup]:
    """The run's lanes by architecture, each group in lane order, groups in order of their first lane."""
    groups: dict[Any, list[int]] = {}
    for i, lane in enumerate(spec.lanes):
        key = (lane.model.input_dim, tuple((layer.units, layer.activation) for layer in lane.model.layers))
        groups.setdefault(key, []).append(i)
    return [
        _LaneGroup(lanes, dense, [layer.activation for layer in spec.lanes[lanes[0]].model.layers])
        for lanes in groups.values()
    ]


class _LaneShapes:
    """The sizes of a lane's kernels and layers, to cut its block of the probe's output apart."""

    def __init__(self, dense: list[Any]) -> None:
        self.kernel_shapes = [tuple(int(n) for n in d.kernel.shape) for d in dense]
        self.kernel_sizes = [int(np.prod(shape)) for shape in self.kernel_shapes]
        self.units = [int(d.bias.shape[0]) for d in dense]
        self.n_weights = sum(self.kernel_sizes)
        self.n_units = sum(self.units)


def apply_optimizer_edit(
    optimizers: list[Any], specs: list[OptimizerSpec], variables: list[Any], edit: PendingEdit, epoch: int
) -> tuple[HyperparameterEdit, bool]:
    """Change one lane's optimizer hyperparameter in place (lists are updated).

    Returns the edit as applied and whether the optimizer was rebuilt (so
    compiled functions that captured it must be traced again).

    Raises
    ------
    SpecError
        For a lane that does not exist, a name the optimizer does not take,
        or a value out of range.
    """
    if not 0 <= edit.lane < len(optimizers):
        raise SpecError("lane", f"there is no lane {edit.lane}")
    spec = specs[edit.lane]
    path = f"lanes[{edit.lane}].optimizer.{edit.name}"
    opt = optimizers[edit.lane]
    if edit.name not in optimizer_arguments(spec.name) or not hasattr(opt, edit.name):
        raise SpecError(path, f"{spec.name} has no hyperparameter {edit.name!r} to change")
    check_hyperparameter(edit.name, edit.value, path)
    if edit.name == "learning_rate":
        previous = float(np.asarray(opt.learning_rate))
        opt.learning_rate = float(edit.value)
        specs[edit.lane] = spec.with_param(edit.name, edit.value)
        return HyperparameterEdit(epoch, edit.lane, edit.name, edit.value, previous), False
    previous = getattr(opt, edit.name)
    # Keras reads these as Python numbers while tracing, and some create
    # state only when non-zero (SGD's momentum slots): build a new optimizer
    # with the new value and carry over the state both have (iterations,
    # learning rate, moments).
    current = spec.with_param(edit.name, edit.value)
    replacement = make_optimizer(current, f"lanes[{edit.lane}].optimizer")
    replacement.build(variables[edit.lane])
    old_state = {v.name: v for v in opt.variables}
    for var in replacement.variables:
        kept = old_state.get(var.name)
        if kept is not None and tuple(kept.shape) == tuple(var.shape):
            var.assign(kept)
    optimizers[edit.lane] = replacement
    specs[edit.lane] = current
    return HyperparameterEdit(epoch, edit.lane, edit.name, edit.value, previous), True


def collect_edits(
    control: RunControl, apply: Callable[[PendingEdit], HyperparameterEdit]
) -> tuple[tuple[HyperparameterEdit, ...], tuple[str, ...]]:
    """Apply every pending edit; one that cannot be applied becomes a message, the run goes on."""
    edits, messages = [], []
    for pending in control.take_edits():
        try:
            edits.append(apply(pending))
        except SpecError as exc:
            messages.append(f"Edit not applied: {exc}")
    return tuple(edits), tuple(messages)


def _no_progress(stage: str, done: int, total: int, lanes: int) -> None:
    pass


class _TraceStopped(Exception):
    """The run was stopped while TensorFlow traced its functions: the trace is abandoned."""


def _stoppable(control: RunControl) -> Progress:
    """Report how preparation goes to ``control``; once it is stopped, abandon the trace.

    Tracing the lab takes seconds, and a stop otherwise lands only between
    batches: Stop, a lesson switch or closing the window would wait for all of
    it.  Building the models (about a second) is not interrupted.
    """

    def progress(stage: str, done: int, total: int, lanes: int) -> None:
        control.report_preparation(stage, done, total, lanes)
        if stage != "building" and control.stopped:
            raise _TraceStopped

    return progress


class _Lockstep:
    """The Keras objects of one run and its compiled functions.

    ``progress(stage, done, total, lanes)`` hears how building and tracing go
    (see :class:`~gradviz.engine.control.Preparation`); it is called from the
    Python code that builds the graphs, so only while they are traced.
    """

    def __init__(
        self, spec: RunSpec, data: Dataset, initial_weights: list[list[np.ndarray]] | None, jit: bool | None = None,
        progress: Progress = _no_progress,
    ) -> None:
        self.progress = progress
        tf = import_tensorflow()
        if jit is None:
            setting = os.environ.get("GRADVIZ_JIT", "auto")
            jit = setting == "1" or (setting == "auto" and spec.epochs >= _JIT_MIN_EPOCHS)
        self.jit = jit
        keras = import_keras()
        self._keras = keras  # close() may run at interpreter exit, when importing fails
        self.tf = tf
        self.spec = spec
        self.n = data.n_samples
        self.batch_size = min(spec.batch_size, self.n)
        self.n_batches = math.ceil(self.n / self.batch_size)
        self.n_lanes = len(spec.lanes)
        self.depths = [lane.model.depth for lane in spec.lanes]
        self.max_layers = max(self.depths)
        self.activations = [[layer.activation for layer in lane.model.layers] for lane in spec.lanes]

        self.models = []
        for i, lane in enumerate(spec.lanes):
            progress("building", i + 1, self.n_lanes, self.n_lanes)  # before: it names the lane being built
            self.models.append(build_model(lane.model, spec.seed, f"lanes[{i}].model"))
        if initial_weights is not None:
            for model, weights in zip(self.models, initial_weights):
                model.set_weights(weights)
        self.optimizers = [make_optimizer(lane.optimizer, f"lanes[{i}].optimizer") for i, lane in enumerate(spec.lanes)]
        self.dense = [[layer for layer in m.layers if isinstance(layer, keras.layers.Dense)] for m in self.models]
        self.variables = [m.trainable_variables for m in self.models]
        for opt, variables in zip(self.optimizers, self.variables):
            opt.build(variables)
        self.optimizer_specs = [lane.optimizer for lane in spec.lanes]
        self.alive = [tf.Variable(True, trainable=False) for _ in self.models]
        self.loss_sum = [tf.Variable(0.0, trainable=False) for _ in self.models]
        self._shapes = [_LaneShapes(dense) for dense in self.dense]
        self.previous_kernels = [tf.Variable(self._flat_kernels(i), trainable=False) for i in range(self.n_lanes)]
        self.hist_range = tf.Variable(np.zeros((self.n_lanes, self.max_layers, 2), np.float32), trainable=False)
        # Variables, not constants, so a rerun with another seed (other noise)
        # can reuse the compiled functions.
        self.x = tf.Variable(data.x, trainable=False)
        self.y = tf.Variable(data.y, trainable=False)
        self.grid = None
        self.grid_x = self._grid_for(data)
        if self.grid_x is not None:
            self.grid = tf.Variable(self.grid_x.reshape(-1, 1), trainable=False)
        self._initial_optimizer_state = [[v.numpy() for v in opt.variables] for opt in self.optimizers]
        self.retraced = False
        self.chunk = max(1, _CHUNK_WORK // (self.batch_size * self.n_lanes))
        self.jacobian_x = probe_input(data.x)
        self._jacobian_at = tf.constant(self.jacobian_x)
        self.groups = _lane_groups(spec, self.dense)
        # Where each lane's block starts in the probe's flat output, and its size
        # (blocks come group by group).
        grid_points = GRID_POINTS if self.grid is not None else 0
        self._block = [
            3 + (len(LAYER_PROBES) + HIST_BINS) * d + grid_points + 2 * shapes.n_units + shapes.n_weights
            for d, shapes in zip(self.depths, self._shapes)
        ]
        order = [i for group in self.groups for i in group.lanes]
        starts = np.cumsum([0] + [self._block[i] for i in order[:-1]])
        self._block_at = dict(zip(order, starts.tolist()))
        self._gradients_known = custom_gradient_names()  # this run's traces register more: see close()
        self._compile()

    def _flat_kernels(self, lane: int) -> np.ndarray:
        return np.concatenate([np.asarray(d.kernel).ravel() for d in self.dense[lane]])

    @staticmethod
    def _grid_for(data: Dataset) -> np.ndarray | None:
        if data.x.shape[1] != 1:
            return None
        return np.linspace(float(data.x.min()), float(data.x.max()), GRID_POINTS, dtype=np.float32)

    # reuse -------------------------------------------------------------------

    def can_rerun(self, spec: RunSpec, data: Dataset, jit: bool | None) -> bool:
        """Whether ``spec`` differs from this run only in what :meth:`restart` resets.

        That is seed, epochs, shuffling and lane names: the graph is the same.
        """
        return (
            not self.retraced
            and (jit is None or jit == self.jit)
            and spec.dataset == self.spec.dataset
            and min(spec.batch_size, data.n_samples) == self.batch_size
            and data.x.shape == tuple(self.x.shape)
            and data.y.shape == tuple(self.y.shape)
            and [(lane.model, lane.optimizer) for lane in spec.lanes]
            == [(lane.model, lane.optimizer) for lane in self.spec.lanes]
        )

    def restart(self, spec: RunSpec, data: Dataset, initial_weights: list[list[np.ndarray]] | None) -> None:
        """Put every variable back to the start of ``spec``, keeping the compiled functions."""
        self.spec = spec
        self.x.assign(data.x)
        self.y.assign(data.y)
        self.grid_x = self._grid_for(data)
        if self.grid is not None:
            self.grid.assign(self.grid_x.reshape(-1, 1))
        for i, lane in enumerate(spec.lanes):
            if initial_weights is not None:
                self.models[i].set_weights(initial_weights[i])
            else:
                for j, (layer, dense) in enumerate(zip(lane.model.layers, self.dense[i])):
                    init = make_initializer(layer.initializer, layer_seed(spec.seed, j), "initializer")
                    dense.kernel.assign(init(tuple(dense.kernel.shape), "float32"))
                    dense.bias.assign(np.zeros(dense.bias.shape, np.float32))
            for var, value in zip(self.optimizers[i].variables, self._initial_optimizer_state[i]):
                var.assign(value)
            self.previous_kernels[i].assign(self._flat_kernels(i))
            self.alive[i].assign(True)
            self.loss_sum[i].assign(0.0)

    # compiled functions ------------------------------------------------------

    def _compile(self) -> None:
        # One set per run (and again after a hyperparameter that Keras bakes
        # into the trace changes): a module-level tf.function fed new models
        # fails with "tried to create variables on non-first call".
        # The epoch function trains batches [first, stop) and then probes, so a
        # whole epoch is one call (and epoch 0 is the same call with no batch).
        # The train-only function is traced only for datasets needing chunks.
        # autograph=False: the code is written in graph form already, and
        # converting it costs seconds of tracing on a many-lane run.
        self._epoch_fn = self.tf.function(self._epoch, jit_compile=self.jit, autograph=False)
        self._train_fn = self.tf.function(self._train_chunk, jit_compile=self.jit, autograph=False)
        self._range_fn = self.tf.function(self._ranges, autograph=False)
        self.untraced = True  # until a training epoch has run: the calls until then trace

    def _tracing(self) -> AbstractContextManager[None]:
        """Where a call's Python objects go: the system heap while the calls still trace (see graph_memory)."""
        return system_heap() if self.untraced else nullcontext()

    def _traced(self, step: int, stage: str = "tracing") -> None:
        # Two trace steps per lane: its training step, then its probes (the
        # lanes of a stack all at once, just before the stack is traced).
        self.progress(stage, step, 2 * self.n_lanes, self.n_lanes)

    def _epoch(self, perm: Any, first: Any, stop: Any) -> Any:
        self._train_chunk(perm, first, stop)
        probes = self._probe()
        self._traced(2 * self.n_lanes, "compiling")  # traced: TensorFlow compiles next
        return probes

    def _train_chunk(self, perm: Any, first: Any, stop: Any) -> None:
        tf = self.tf
        bs = self.batch_size

        def batch(b: Any) -> Any:
            lo = b * bs
            hi = tf.minimum(lo + bs, self.n)
            idx = perm[lo:hi]
            xb = tf.gather(self.x, idx)
            yb = tf.gather(self.y, idx)
            count = tf.cast(hi - lo, tf.float32)
            for i in range(self.n_lanes):
                self._traced(i + 1)
                variables = self.variables[i]
                with tf.GradientTape() as tape:
                    pred = self._forward(i, xb)[-1]
                    loss = tf.reduce_mean(tf.square(yb - pred))
                grads = tape.gradient(loss, variables)
                ok = tf.logical_and(self.alive[i], _all_finite(tf, loss, grads))

                def step(opt: Any = self.optimizers[i], grads: Any = grads, variables: Any = variables) -> Any:
                    opt.apply(grads, variables)
                    return tf.constant(True)

                tf.cond(ok, step, lambda: tf.constant(False))
                self.alive[i].assign(ok)
                self.loss_sum[i].assign_add(loss * count)
            return (b + 1,)

        tf.while_loop(lambda b: b < stop, batch, (first,))

    def _ranges(self) -> Any:
        tf = self.tf
        lo: list[Any] = [None] * self.n_lanes
        hi: list[Any] = [None] * self.n_lanes
        for group in self.groups:
            acts = group.forward(tf, self.x, *group.weights(tf))
            pad = tf.fill([self.max_layers - len(acts)], np.float32(np.nan))
            low = tf.unstack(tf.stack([tf.reduce_min(a, axis=[1, 2]) for a in acts], 1))
            high = tf.unstack(tf.stack([tf.reduce_max(a, axis=[1, 2]) for a in acts], 1))
            for i, lane_lo, lane_hi in zip(group.lanes, low, high):
                lo[i] = tf.concat([lane_lo, pad], 0)
                hi[i] = tf.concat([lane_hi, pad], 0)
        return tf.stack(lo), tf.stack(hi)

    def _probe(self) -> Any:
        # Blocks come out group by group, each lane's block whole (see _unpack).
        blocks = []
        traced = self.n_lanes
        for group in self.groups:
            for _ in group.lanes:
                traced += 1
                self._traced(traced)
            blocks.append(self.tf.reshape(self._probe_group(group), [-1]))
        return self.tf.concat(blocks, 0)

    def _probe_group(self, group: _LaneGroup) -> Any:
        # Every per-layer statistic is computed for all layers of all the
        # group's lanes at once, over the layers' outputs side by side
        # ([lanes, all units, samples]) and their kernels flattened end to end
        # ([lanes, all weights]), with segment reductions by lane and layer.
        tf = self.tf
        lanes = group.lanes
        n_lanes, depth = len(lanes), len(group.layers)
        kernels, biases = group.weights(tf)
        with tf.GradientTape() as tape:
            tape.watch(kernels + biases)
            acts = group.forward(tf, self.x, kernels, biases)
            full_loss = tf.reduce_mean(tf.square(tf.transpose(self.y)[None] - acts[-1]), axis=[1, 2])
            total = tf.reduce_sum(full_loss)
        grads = tape.gradient(total, kernels + biases)
        alive = tf.logical_and(tf.stack([self.alive[i] for i in lanes]), _all_finite(tf, full_loss, grads))
        epoch_loss = tf.stack([self.loss_sum[i].read_value() for i in lanes]) / self.n
        for i, lane_alive in zip(lanes, tf.unstack(alive)):
            self.alive[i].assign(lane_alive)
            self.loss_sum[i].assign(0.0)

        shapes = self._shapes[lanes[0]]
        # Segment ids: lane * depth + layer, for each kernel element and each unit.
        lane_base = np.arange(n_lanes, dtype=np.int32)[:, None] * depth
        layer_ids = np.arange(depth, dtype=np.int32)
        kernel_ids = tf.constant(lane_base + np.repeat(layer_ids, shapes.kernel_sizes))
        unit_ids = tf.constant(lane_base + np.repeat(layer_ids, shapes.units))
        kernel_layer = tf.constant(np.repeat(layer_ids, shapes.kernel_sizes))  # which layer, per kernel element
        unit_layer = tf.constant(np.repeat(layer_ids, shapes.units))  # which layer, per unit
        bin_base = tf.constant((lane_base + np.repeat(layer_ids, shapes.units))[:, :, None] * HIST_BINS)
        kernel_count = np.asarray(shapes.kernel_sizes, np.float32)
        unit_count = np.asarray(shapes.units, np.float32)

        def flat(tensors: list[Any]) -> Any:
            return tf.concat([tf.reshape(t, [n_lanes, -1]) for t in tensors], 1)

        def seg_sum(values: Any, ids: Any) -> Any:
            """``[lanes, elements]`` summed by layer: ``[lanes, depth]``."""
            return tf.reshape(tf.math.unsorted_segment_sum(values, ids, n_lanes * depth), [n_lanes, depth])

        def seg_std(values: Any) -> Any:
            mean = seg_sum(values, kernel_ids) / kernel_count
            centred = values - tf.gather(mean, kernel_layer, axis=1)
            return tf.sqrt(seg_sum(tf.square(centred), kernel_ids) / kernel_count)

        grad_norm = tf.sqrt(seg_sum(tf.square(flat(grads[:depth])), kernel_ids))
        bias_grad_norm = tf.sqrt(seg_sum(tf.square(flat(grads[depth:])), unit_ids))
        weights = flat(kernels)
        weight_norm = tf.sqrt(seg_sum(tf.square(weights), kernel_ids))
        previous = tf.stack([self.previous_kernels[i] for i in lanes])
        update_ratio = seg_std(weights - previous) / seg_std(previous)
        for i, lane_weights in zip(lanes, tf.unstack(weights)):
            self.previous_kernels[i].assign(lane_weights)

        a = tf.concat(acts, 1)  # [lanes, (units of layer 1, units of layer 2, ...), samples]
        act_mean = seg_sum(tf.reduce_mean(a, 2), unit_ids) / unit_count
        centred = a - tf.gather(act_mean, unit_layer, axis=1)[:, :, None]
        act_var = seg_sum(tf.reduce_mean(tf.square(centred), 2), unit_ids) / unit_count
        tanh_sat = tf.cast(tf.abs(a) > SATURATION_LEVEL, tf.float32)
        sigmoid_sat = tf.cast(tf.logical_or(a < 1.0 - SATURATION_LEVEL, a > SATURATION_LEVEL), tf.float32)
        tanh_sat = seg_sum(tf.reduce_mean(tanh_sat, 2), unit_ids) / unit_count
        sigmoid_sat = seg_sum(tf.reduce_mean(sigmoid_sat, 2), unit_ids) / unit_count
        is_tanh = np.array([name == "tanh" for name in group.activations])
        is_sigmoid = np.array([name == "sigmoid" for name in group.activations])
        saturation = tf.where(is_tanh, tanh_sat, tf.where(is_sigmoid, sigmoid_sat, np.float32(np.nan)))
        dead = tf.cast(tf.reduce_all(tf.equal(a, 0.0), axis=2), tf.float32)
        dead_fraction = seg_sum(dead, unit_ids) / unit_count

        # Fixed-width histograms (values outside land in the end bins);
        # tf.histogram_fixed_width has no XLA kernel and works per tensor.
        ranges = tf.gather(self.hist_range[:, :depth], lanes)  # [lanes, depth, (lo, hi)]
        lo = tf.gather(ranges[:, :, 0], unit_layer, axis=1)[:, :, None]
        width = tf.gather(ranges[:, :, 1], unit_layer, axis=1)[:, :, None] - lo
        scaled = (a - lo) / width * HIST_BINS
        index = tf.cast(tf.clip_by_value(tf.floor(scaled), 0.0, HIST_BINS - 1.0), tf.int32) + bin_base
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(tf.reshape(scaled, [-1])), tf.reshape(index, [-1]), n_lanes * depth * HIST_BINS
        )

        parts = [
            tf.stack([epoch_loss, full_loss, tf.cast(alive, tf.float32)], 1),
            grad_norm, bias_grad_norm, weight_norm, act_mean, act_var, saturation, dead_fraction, update_ratio,
            tf.reshape(counts, [n_lanes, depth * HIST_BINS]),
        ]
        if self.grid is not None:
            parts.append(group.forward(tf, self.grid, kernels, biases)[-1][:, 0, :])
        parts.append(self._activation_slopes(group, kernels, biases))
        parts.append(weights)
        parts.append(flat(biases))  # with the kernels: the lane's weights, for a saved session
        return tf.concat(parts, 1)  # [lanes, block]: each lane's block whole

    def _activation_slopes(self, group: _LaneGroup, kernels: list[Any], biases: list[Any]) -> Any:
        """φ'(z) of every layer at the Jacobian probe input (for jacobians.py), ``[lanes, units]``.

        NaN for an activation that mixes a layer's units (softmax): its
        Jacobian is no diagonal times Wᵀ, so the Jacobian probes report
        nothing for that layer and the path through it.
        """
        tf = self.tf
        h = tf.transpose(self._jacobian_at)[None]  # [1, inputs, 1]
        slopes = []
        for kernel, bias, activation, elementwise in zip(kernels, biases, group.functions, group.elementwise):
            z = tf.matmul(kernel, h, transpose_a=True) + tf.expand_dims(bias, 2)
            with tf.GradientTape() as tape:
                tape.watch(z)
                h = activation(z)
            slope = tape.gradient(h, z)[:, :, 0]  # elementwise: the diagonal of the Jacobian
            slopes.append(slope if elementwise else tf.fill(tf.shape(slope), np.float32(np.nan)))
        return tf.concat(slopes, 1)

    def _forward(self, lane: int, x: Any) -> list[Any]:
        # What keras.layers.Dense computes, without Keras's per-call Python
        # overhead at trace time (it dominates tracing a 36-lane lab).
        outputs = []
        for layer in self.dense[lane]:
            x = layer.activation(self.tf.matmul(x, layer.kernel) + layer.bias)
            outputs.append(x)
        return outputs

    # driving -----------------------------------------------------------------

    def set_hist_edges(self, edges: np.ndarray | None = None) -> np.ndarray:
        """Fix the histogram bins: ``edges`` if given, else from the activations now."""
        if edges is None:
            with self._tracing():
                lo, hi = self._range_fn()
            edges = _hist_edges(self.spec, lo.numpy(), hi.numpy())
        ranges = np.stack([edges[..., 0], edges[..., -1]], axis=-1)
        self.hist_range.assign(np.nan_to_num(ranges, nan=0.0).astype(np.float32))
        return edges

    def run_epoch(self, perm: np.ndarray | None, control: RunControl) -> dict[str, Any] | None:
        """Step every lane through one epoch in ``perm`` order, then probe.

        ``perm=None`` probes without training (epoch 0).  Returns ``None`` if
        the run was stopped part-way through the epoch.
        """
        with self._tracing():
            probes = self._run_epoch(perm, control)
        self.untraced = self.untraced and (perm is None or probes is None)
        return probes

    def _run_epoch(self, perm: np.ndarray | None, control: RunControl) -> dict[str, Any] | None:
        tf = self.tf
        if perm is None:
            perm_t, first = tf.constant(np.arange(self.n, dtype=np.int32)), self.n_batches
        else:
            perm_t, first = tf.constant(perm.astype(np.int32)), 0
            # Large datasets go in chunks so a stop request is honoured between them.
            while self.n_batches - first > self.chunk:
                if control.stopped:
                    return None
                self._train_fn(perm_t, tf.constant(first), tf.constant(first + self.chunk))
                first += self.chunk
            if control.stopped:
                return None
        flat = self._epoch_fn(perm_t, tf.constant(first), tf.constant(self.n_batches))
        return self._unpack(flat.numpy().astype(np.float64))

    def _unpack(self, flat: np.ndarray) -> dict[str, Any]:
        lanes, layers = self.n_lanes, self.max_layers
        out: dict[str, Any] = {name: np.full((lanes, layers), np.nan) for name in LAYER_PROBES + JACOBIAN_PROBES}
        out["loss"] = np.empty(lanes)
        out["full_loss"] = np.empty(lanes)
        out["alive"] = np.empty(lanes, dtype=bool)
        out["hist_counts"] = np.zeros((lanes, layers, HIST_BINS), np.float32)
        out["prediction"] = np.full((lanes, GRID_POINTS), np.nan, np.float32) if self.grid is not None else None
        out["weights"] = []
        for i, depth in enumerate(self.depths):
            block = flat[self._block_at[i]: self._block_at[i] + self._block[i]]
            out["loss"][i], out["full_loss"][i], alive = block[:3]
            out["alive"][i] = alive > 0.5
            at = 3
            for name in LAYER_PROBES:
                out[name][i, :depth] = block[at: at + depth]
                at += depth
            out["hist_counts"][i, :depth] = block[at: at + HIST_BINS * depth].reshape(depth, HIST_BINS)
            at += HIST_BINS * depth
            if self.grid is not None:
                out["prediction"][i] = block[at: at + GRID_POINTS]
                at += GRID_POINTS
            shapes = self._shapes[i]
            units_at = np.cumsum(shapes.units[:-1])
            slopes = np.split(block[at: at + shapes.n_units], units_at)
            at += shapes.n_units
            flat_kernels = block[at: at + shapes.n_weights]
            at += shapes.n_weights
            biases = np.split(block[at: at + shapes.n_units], units_at)
            kernels = [
                k.reshape(shape)
                for k, shape in zip(np.split(flat_kernels, np.cumsum(shapes.kernel_sizes[:-1])), shapes.kernel_shapes)
            ]
            for name, values in zip(JACOBIAN_PROBES, jacobian_stats(slopes, kernels)):
                out[name][i, :depth] = values
            # model.get_weights() order: kernel then bias, layer by layer.
            out["weights"].append(tuple(
                read_only(w, np.float32) for pair in zip(kernels, biases) for w in pair
            ))
        return out

    def apply_edit(self, edit: PendingEdit, epoch: int) -> HyperparameterEdit:
        """Change one optimizer hyperparameter; SpecError if it is not one."""
        applied, rebuilt = apply_optimizer_edit(self.optimizers, self.optimizer_specs, self.variables, edit, epoch)
        if rebuilt:
            self._compile()
            self.retraced = True
        return applied

    def save_weights(self, folder: Path, names: list[str], filename: str) -> None:
        for model, name in zip(self.models, names):
            target = folder / name
            target.mkdir(parents=True, exist_ok=True)
            model.save_weights(str(target / filename))

    def close(self) -> None:
        keras = self._keras
        self.models = self.optimizers = self.dense = self.variables = []  # type: ignore[assignment]
        self._epoch_fn = self._train_fn = self._range_fn = None  # type: ignore[assignment]
        # free_memory=False: its gc.collect() would run on this (worker) thread
        # and could finalize GUI objects there; the GUI collects on its own thread.
        keras.utils.clear_session(free_memory=False)
        # Else TensorFlow's gradient registry keeps every traced graph of this run alive.
        forget_custom_gradients(self._gradients_known)


def iter_run(
    spec: RunSpec,
    control: RunControl | None = None,
    *,
    weights_dir: str | Path | None = None,
    initial_weights: list[list[np.ndarray]] | None = None,
    jit: bool | None = None,
    resume: Resume | None = None,
) -> Iterator[EpochReport]:
    """Train every lane of ``spec`` in lockstep, yielding one report per epoch.

    Parameters
    ----------
    spec
        The run.  Checked completely (dataset, shapes, Keras names) before
        anything is built.
    control
        Stop, pause, step, pace and live edits from another thread; a fresh
        free-running control if ``None``.
    weights_dir
        If given, each lane's weights are written to
        ``weights_dir/<lane>/epoch_0000.weights.h5`` and ``final.weights.h5``.
    initial_weights
        Per lane, ``model.get_weights()``-style arrays to start from instead
        of the seeded initializers (continue training).
    jit
        Compile with XLA; ``None`` decides from the run's length (and the
        ``GRADVIZ_JIT`` environment variable: ``0``, ``1`` or ``auto``).
    resume
        Continue a recorded run from its weights at ``resume.epoch``
        (overrides ``initial_weights``).

    Yields
    ------
    EpochReport
        Epoch 0 (at initialization, no step taken), then 1..``spec.epochs``;
        with ``resume``, epoch ``resume.epoch`` and the ``spec.epochs`` after it.
        A run stopped while TensorFlow traces it ends there, without epoch 0
        if it had not reached it.

    Raises
    ------
    SpecError
        If the spec cannot be run; raised before the first report.
    """
    if spec.problem is not None:
        from gradviz.engine.surface_run import iter_surface_run

        known = custom_gradient_names()
        try:
            yield from iter_surface_run(spec, control, resume=resume)
        finally:
            forget_custom_gradients(known)  # the surface run's traced graphs go with it
        return
    control = control or RunControl()
    data = check_run(spec)
    start = 0
    if resume is not None:
        check_resume(spec, resume)
        initial_weights = [list(lane) for lane in resume.weights]
        start = resume.epoch
    with system_heap():  # building the models: see graph_memory
        run = _acquire(spec, data, initial_weights, jit, _stoppable(control))
    folders = lane_folder_names(spec.lane_names)
    finished = abandoned = False
    try:
        started = time.perf_counter()
        edges = run.set_hist_edges(None if resume is None else resume.hist_edges)
        counts, activations = lane_layers(spec)
        layout = RunLayout(
            spec=spec,
            lane_names=spec.lane_names,
            layer_counts=counts,
            activations=activations,
            hist_edges=read_only(edges),
            data_x=data.x,
            data_y=data.y,
            grid_x=None if run.grid_x is None else read_only(run.grid_x),
            jacobian_x=read_only(run.jacobian_x[0]),
            start_epoch=start,
        )
        probes = run.run_epoch(None, control)
        assert probes is not None
        probes["loss"][:] = np.nan
        probes["update_ratio"][:] = np.nan
        alive = probes["alive"]
        if weights_dir is not None:
            run.save_weights(Path(weights_dir), folders, "epoch_0000.weights.h5")
        yield _report(control.run_id, start, layout, probes, (), (), time.perf_counter() - started)

        rng = np.random.default_rng([spec.seed, 0xBA7C4])
        if spec.shuffle:
            for _ in range(start):  # the batch order the recorded run would have gone on with
                rng.permutation(run.n)
        epoch_started = time.perf_counter()
        for epoch in range(start + 1, start + spec.epochs + 1):
            if not control.wait_turn(epoch_started):
                break
            epoch_started = time.perf_counter()
            edits, messages = collect_edits(control, lambda pending, e=epoch: run.apply_edit(pending, e))
            perm = rng.permutation(run.n) if spec.shuffle else np.arange(run.n)
            probes = run.run_epoch(perm, control)
            if probes is None:
                break
            # A lane that diverged stops updating; its numbers from then on
            # are not a loss, so they are reported as NaN after the epoch it happened.
            was_dead = ~alive
            probes["loss"][was_dead] = np.nan
            alive = probes["alive"]
            yield _report(control.run_id, epoch, layout, probes, edits, messages,
                          time.perf_counter() - epoch_started)
        if weights_dir is not None:
            run.save_weights(Path(weights_dir), folders, "final.weights.h5")
        finished = True
    except _TraceStopped:
        abandoned = True  # stopped before its first report (or mid-run while tracing an edit): nothing more
    finally:
        # A run that ended normally or was stopped is kept for a rerun (Reset,
        # New seed); one that failed, or whose trace was abandoned, is discarded.
        _release(run, keep=(finished or control.stopped) and not abandoned)


# The last run's Keras objects and compiled functions, kept so that Reset and
# New seed start at once instead of tracing again.  One run at a time uses it.
_cache_lock = threading.Lock()
_cached: _Lockstep | None = None


def _acquire(
    spec: RunSpec, data: Dataset, initial_weights: list[list[np.ndarray]] | None, jit: bool | None,
    progress: Progress,
) -> _Lockstep:
    global _cached
    with _cache_lock:
        run, _cached = _cached, None
    if run is not None:
        if run.can_rerun(spec, data, jit):
            run.restart(spec, data, initial_weights)
            run.progress = progress  # heard again if an edit makes it trace anew
            return run
        run.close()
    return _Lockstep(spec, data, initial_weights, jit, progress)


def _release(run: _Lockstep, keep: bool) -> None:
    global _cached
    run.progress = _no_progress  # not the finished run's control
    if not keep:
        run.close()
        return
    with _cache_lock:
        previous, _cached = _cached, run
    if previous is not None:
        previous.close()


def release_cached_run() -> None:
    """Free the Keras objects kept for a rerun (call on the thread that trained)."""
    global _cached
    with _cache_lock:
        run, _cached = _cached, None
    if run is not None:
        run.close()


def _report(
    run_id: int,
    epoch: int,
    layout: RunLayout,
    probes: dict[str, Any],
    edits: tuple[HyperparameterEdit, ...],
    messages: tuple[str, ...],
    seconds: float,
) -> EpochReport:
    return EpochReport(
        run_id=run_id,
        epoch=epoch,
        layout=layout,
        loss=read_only(probes["loss"]),
        full_loss=read_only(probes["full_loss"]),
        diverged=read_only(~probes["alive"]),
        **{name: read_only(probes[name]) for name in LAYER_PROBES + JACOBIAN_PROBES},
        hist_counts=read_only(probes["hist_counts"]),
        prediction=None if probes["prediction"] is None else read_only(probes["prediction"]),
        weights=tuple(probes["weights"]),
        edits=edits,
        messages=messages,
        seconds=seconds,
    )
