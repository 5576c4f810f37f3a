"""Continuing a recorded run: its last epoch, its weights, and whether they fit a spec.

Kept free of TensorFlow, so a saved session can be checked before anything
is trained.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from gradviz.engine.errors import SpecError
from gradviz.engine.report import HyperparameterEdit
from gradviz.engine.spec import RunSpec

__all__ = ["Resume", "check_resume", "lane_weight_shapes", "spec_with_edits"]


@dataclass(frozen=True, slots=True, eq=False)
class Resume:
    """Where a continued run picks up: a recorded run's last epoch and weights.

    Attributes
    ----------
    epoch
        The epoch the weights are from; the continued run reports it first
        (probed, not trained) and then trains ``epoch + 1`` onwards, with the
        batch order it would have had.  Optimizer state (momentum, Adam's
        moments) starts fresh.
    weights
        Per lane, as :attr:`EpochReport.weights`.
    hist_edges
        The recorded run's histogram edges, so histograms stay comparable
        across the join; ``None`` measures new ones.
    """

    epoch: int
    weights: tuple[tuple[np.ndarray, ...], ...]
    hist_edges: np.ndarray | None = None


def check_resume(spec: RunSpec, resume: Resume) -> None:
    """SpecError unless ``resume``'s weights fit ``spec``'s lanes, array for array."""
    if resume.epoch < 0:
        raise SpecError("resume.epoch", f"must be 0 or more, not {resume.epoch}")
    if len(resume.weights) != len(spec.lanes):
        raise SpecError("resume.weights", f"has {len(resume.weights)} lanes; the run has {len(spec.lanes)}")
    for i, (lane, weights) in enumerate(zip(spec.lanes, resume.weights)):
        expected = lane_weight_shapes(spec, i)
        got = [tuple(np.shape(w)) for w in weights]
        if got != expected:
            raise SpecError(f"resume.weights[{i}]", f"have shapes {got}; lane {lane.name!r} needs {expected}")


def lane_weight_shapes(spec: RunSpec, lane: int) -> list[tuple[int, ...]]:
    """The shapes of lane ``lane``'s weights in ``model.get_weights()`` order (a point: ``[(2,)]``)."""
    model = spec.lanes[lane].model
    if model is None:
        return [(2,)]
    shapes: list[tuple[int, ...]] = []
    fan_in = model.input_dim
    for layer in model.layers:
        shapes += [(fan_in, layer.units), (layer.units,)]
        fan_in = layer.units
    return shapes


def spec_with_edits(spec: RunSpec, edits: Iterable[HyperparameterEdit]) -> RunSpec:
    """``spec`` with live hyperparameter edits applied in order: what the lanes ran with at the end.

    A run that continues a recorded one must go on with the learning rates
    the class set during it, not the ones it started with.
    """
    lanes = list(spec.lanes)
    for edit in edits:
        if not 0 <= edit.lane < len(lanes):
            continue
        if isinstance(edit.value, float) and not math.isfinite(edit.value):
            continue
        lane = lanes[edit.lane]
        lanes[edit.lane] = dataclasses.replace(lane, optimizer=lane.optimizer.with_param(edit.name, edit.value))
    return spec.replace(lanes=[lane.to_json() for lane in lanes])
