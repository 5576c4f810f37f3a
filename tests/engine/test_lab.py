"""The lab lesson as a grid, and lab.csv against the per-lane metrics."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from gradviz.engine.history import RunHistory
from gradviz.engine.lab import LAB_COLUMNS, lab_csv, lab_grid, optimizer_title
from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import OptimizerSpec
from gradviz.engine.trainer import iter_run


def test_lab_lesson_is_the_full_grid() -> None:
    spec = load_lesson("lab").spec
    grid = lab_grid(spec)
    assert grid is not None
    assert {a for a, _ in grid.rows} >= {"sigmoid", "tanh", "relu"}
    assert {i for _, i in grid.rows} >= {"glorot_uniform", "he_normal", "random_normal(stddev=0.01)"}
    assert grid.columns == ("SGD", "Momentum", "RMSProp", "Adam")
    assert grid.cell_lane.shape == (9, 4)
    assert sorted(grid.cell_lane.ravel()) == list(range(36))
    assert len({lane.model.depth for lane in spec.lanes}) == 1 and spec.lanes[0].model.depth >= 6


def test_a_race_is_not_a_grid() -> None:
    assert lab_grid(load_lesson("race").spec) is None


@pytest.mark.parametrize(
    ("params", "title"),
    [({"name": "sgd"}, "SGD"), ({"name": "sgd", "momentum": 0.9}, "Momentum"),
     ({"name": "sgd", "momentum": 0.9, "nesterov": True}, "Nesterov"), ({"name": "rmsprop"}, "RMSProp"),
     ({"name": "adam"}, "Adam"), ({"name": "lion"}, "Lion")],
)
def test_optimizer_titles(params: dict, title: str) -> None:
    assert optimizer_title(OptimizerSpec.from_json(params, "optimizer")) == title


def test_lab_csv_matches_the_per_lane_metrics(tf) -> None:
    spec = load_lesson("lab").spec.replace(epochs=2)
    history = None
    for report in iter_run(spec):
        history = history or RunHistory(report.layout)
        history.append(report)
    rows = list(csv.DictReader(io.StringIO(lab_csv(history))))
    assert tuple(rows[0].keys()) == LAB_COLUMNS
    assert len(rows) == 36
    grid = lab_grid(spec)
    for lane, row in enumerate(rows):
        r, c = np.argwhere(grid.cell_lane == lane)[0]
        assert (row["activation"], row["initializer"]) == grid.rows[r]
        assert row["optimizer"] == grid.columns[c]
        assert float(row["final_loss"]) == pytest.approx(history.loss[lane, -1], rel=1e-7)
        assert float(row["best_loss"]) == pytest.approx(np.nanmin(history.loss[lane]), rel=1e-7)
        assert row["diverged"] == "0" and row["epochs"] == "2"
