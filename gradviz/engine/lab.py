"""The lab: lanes seen as a grid of activation × initializer (rows) × optimizer (columns)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradviz.engine.history import RunHistory
from gradviz.engine.spec import OptimizerSpec, RunSpec

__all__ = ["LAB_COLUMNS", "LabGrid", "lab_csv", "lab_grid", "optimizer_title"]

LAB_COLUMNS = ("activation", "initializer", "optimizer", "final_loss", "best_loss", "diverged", "epochs")

_TITLES = {"sgd": "SGD", "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam",
           "adamax": "Adamax", "adagrad": "Adagrad", "adadelta": "Adadelta", "lion": "Lion", "ftrl": "FTRL"}


def optimizer_title(spec: OptimizerSpec) -> str:
    """The optimizer's name as the notebook writes it: SGD, Momentum, Nesterov, RMSProp, Adam …"""
    name = spec.name.lower()
    if name == "sgd" and float(spec.get("momentum", 0.0) or 0.0) > 0:
        return "Nesterov" if spec.get("nesterov") else "Momentum"
    return _TITLES.get(name, spec.name)


@dataclass(frozen=True, slots=True)
class LabGrid:
    """Where each lane sits in the grid.

    Attributes
    ----------
    rows
        (activation, initializer) pairs, in first-seen order.
    columns
        Optimizer titles, in first-seen order.
    cell_lane
        (rows, columns) lane index of each cell, -1 where no lane is.
    """

    rows: tuple[tuple[str, str], ...]
    columns: tuple[str, ...]
    cell_lane: np.ndarray


def _cell(spec: RunSpec, lane: int) -> tuple[str, str, str]:
    lane_spec = spec.lanes[lane]
    first = lane_spec.model.layers[0]
    return first.activation, first.initializer.label(), optimizer_title(lane_spec.optimizer)


def lab_grid(spec: RunSpec) -> LabGrid | None:
    """The grid a run's lanes form, or ``None`` if they do not form one.

    A grid needs at least two rows and two columns and one lane per cell;
    a lane's row is its first layer's activation and initializer.
    """
    if spec.problem is not None:
        return None  # a loss-surface race has no layers to tabulate
    cells = [_cell(spec, i) for i in range(len(spec.lanes))]
    rows = tuple(dict.fromkeys((a, i) for a, i, _ in cells))
    columns = tuple(dict.fromkeys(o for _, _, o in cells))
    if len(rows) < 2 or len(columns) < 2 or len(set(cells)) != len(cells):
        return None
    table = np.full((len(rows), len(columns)), -1, dtype=int)
    for lane, (a, i, o) in enumerate(cells):
        table[rows.index((a, i)), columns.index(o)] = lane
    return LabGrid(rows, columns, table)


def lab_csv(history: RunHistory) -> str | None:
    """``lab.csv``: one row per lane with its cell and its result; ``None`` if not a grid."""
    spec = history.layout.spec
    if lab_grid(spec) is None:
        return None
    from gradviz.engine.export import _cell as number
    from gradviz.engine.export import _csv, _quote

    loss = history.loss
    diverged = history.diverged_epoch()
    rows = []
    for lane in range(len(spec.lanes)):
        activation, initializer, optimizer = _cell(spec, lane)
        finite = loss[lane][np.isfinite(loss[lane])]
        rows.append([
            _quote(activation), _quote(initializer), _quote(optimizer),
            number(float(loss[lane, -1])),
            number(float(finite.min())) if finite.size else "",
            str(int(diverged[lane] >= 0)),
            str(history.last_epoch),
        ])
    return _csv(LAB_COLUMNS, rows)
