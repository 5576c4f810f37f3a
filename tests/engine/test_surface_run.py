"""The loss-surface race against the same Keras optimizers stepped by hand."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from gradviz.engine.control import RunControl
from gradviz.engine.errors import SpecError
from gradviz.engine.history import RunHistory
from gradviz.engine.lessons import load_lesson
from gradviz.engine.registry import make_optimizer
from gradviz.engine.spec import RunSpec
from gradviz.engine.surface_run import TRAJECTORY_COLUMNS, trajectory_csv
from gradviz.engine.surfaces import SURFACES
from gradviz.engine.trainer import iter_run

OPTIMIZERS = [
    {"name": "sgd", "learning_rate": 0.01},
    {"name": "sgd", "learning_rate": 0.005, "momentum": 0.9, "nesterov": True},
    {"name": "rmsprop", "learning_rate": 0.02},
    {"name": "adam", "learning_rate": 0.05},
    {"name": "adagrad", "learning_rate": 0.1},
    {"name": "lion", "learning_rate": 0.01},
]


def surface_spec(function: str, optimizers: list[dict], epochs: int, start: list[float] | None = None) -> RunSpec:
    problem = {"kind": "surface", "function": function}
    if start is not None:
        problem["start"] = start
    return RunSpec.from_json({"epochs": epochs, "problem": problem,
                              "lanes": [{"name": f"lane {i}", "optimizer": o} for i, o in enumerate(optimizers)]})


def by_hand(function: str, optimizer: dict, start: tuple[float, float], steps: int) -> np.ndarray:
    import tensorflow as tf

    f = SURFACES[function].f
    point = tf.Variable(np.array(start, np.float32))
    opt = make_optimizer(RunSpec.from_json({"problem": {"kind": "surface", "function": function},
                                            "lanes": [{"name": "x", "optimizer": optimizer}]}).lanes[0].optimizer, "x")
    opt.build([point])
    path = [point.numpy().copy()]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            value = f(point[0], point[1])
        opt.apply([tape.gradient(value, point)], [point])
        path.append(point.numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("function", sorted(SURFACES))
def test_trajectories_are_the_keras_optimizers_steps(tf, function: str) -> None:
    steps = 25
    spec = surface_spec(function, OPTIMIZERS, steps)
    reports = list(iter_run(spec))
    positions = np.stack([r.position for r in reports], axis=1)  # lanes × steps × 2
    for lane, optimizer in enumerate(OPTIMIZERS):
        expected = by_hand(function, optimizer, spec.problem.start, steps)
        # Up to the step where f or its gradient stopped being finite: there
        # the engine stops the lane and flags it, while stepping by hand goes on.
        flagged = [r.diverged[lane] for r in reports]
        upto = flagged.index(True) + 1 if any(flagged) else steps + 1
        np.testing.assert_allclose(positions[lane, :upto], expected[:upto], rtol=1e-5, atol=1e-6,
                                   err_msg=str(optimizer))
        if any(flagged):
            assert all(flagged[upto - 1:])  # once stopped, it stays stopped
            x, y = expected[upto - 1]
            with np.errstate(all="ignore"):
                assert not np.isfinite(np.float32(SURFACES[function].f(np.float32(x), np.float32(y))))
    f = SURFACES[function].f
    alive = ~reports[-1].diverged
    np.testing.assert_allclose(reports[-1].full_loss[alive], f(positions[alive, -1, 0], positions[alive, -1, 1]),
                               rtol=1e-4, atol=1e-5)


def test_ravine_sgd_zigzags_while_momentum_and_adam_run_along(tf) -> None:
    reports = list(iter_run(load_lesson("surface-ravine").spec))
    y = np.stack([r.position[:, 1] for r in reports], axis=1)
    names = reports[0].layout.lane_names
    sign_changes = {name: int(np.sum(np.diff(np.sign(y[i, :20])) != 0)) for i, name in enumerate(names)}
    assert sign_changes["SGD"] >= 15  # bounces across the valley almost every step
    assert sign_changes["Adam"] <= 3
    final = {name: reports[-1].full_loss[i] for i, name in enumerate(names)}
    assert final["Momentum"] < final["SGD"] and final["Adam"] < final["SGD"]


def test_a_diverging_lane_stops_and_the_others_go_on(tf) -> None:
    spec = surface_spec("rosenbrock", [{"name": "sgd", "learning_rate": 0.0005},
                                       {"name": "sgd", "learning_rate": 0.05}], 20)
    reports = list(iter_run(spec))
    assert reports[-1].diverged.tolist() == [False, True]
    alone = list(iter_run(surface_spec("rosenbrock", [{"name": "sgd", "learning_rate": 0.0005}], 20)))
    np.testing.assert_array_equal(reports[-1].position[0], alone[-1].position[0])


def test_learning_rate_edit_applies_at_the_next_step(tf) -> None:
    spec = surface_spec("ravine", [{"name": "sgd", "learning_rate": 0.01}], 6)
    control = RunControl()
    reports = []
    for report in iter_run(spec, control):
        reports.append(report)
        if report.epoch == 3:
            control.set_hyperparameter(0, "learning_rate", 0.02)
    assert [e.name for e in reports[4].edits] == ["learning_rate"]
    # From step 4 on, x shrinks by (1 - 0.02) per step instead of (1 - 0.01).
    x = np.array([r.position[0, 0] for r in reports])
    np.testing.assert_allclose(x[3] / x[2], 0.99, rtol=1e-5)
    np.testing.assert_allclose(x[5] / x[4], 0.98, rtol=1e-5)


def test_trajectory_csv(tf) -> None:
    spec = surface_spec("himmelblau", OPTIMIZERS[:2], 4, start=[1.0, -1.0])
    history = None
    for report in iter_run(spec):
        history = history or RunHistory(report.layout)
        history.append(report)
    rows = list(csv.DictReader(io.StringIO(trajectory_csv(history))))
    assert tuple(rows[0].keys()) == TRAJECTORY_COLUMNS
    assert len(rows) == 5 * 2
    assert (float(rows[0]["x"]), float(rows[0]["y"])) == (1.0, -1.0)
    assert rows[0]["step"] == "0" and rows[-1]["step"] == "4"
    f = SURFACES["himmelblau"].f
    for row in rows:
        assert float(row["loss"]) == pytest.approx(f(float(row["x"]), float(row["y"])), rel=1e-4)


@pytest.mark.parametrize(
    ("problem", "field"),
    [({"kind": "surface", "function": "banana"}, "problem.function"),
     ({"kind": "volcano", "function": "ravine"}, "problem.kind"),
     ({"kind": "surface", "function": "ravine", "start": [1.0]}, "problem.start"),
     ({"kind": "surface", "function": "ravine", "start": [1.0, "a"]}, "problem.start[1]")],
)
def test_bad_surface_problems_name_the_field(problem: dict, field: str) -> None:
    with pytest.raises(SpecError) as info:
        RunSpec.from_json({"problem": problem, "lanes": [{"name": "a", "optimizer": {"name": "sgd"}}]})
    assert info.value.field == field


def test_a_surface_lane_has_no_model_and_the_run_no_dataset() -> None:
    lane = {"name": "a", "optimizer": {"name": "sgd"}, "model": {"input_dim": 1, "layers": [{"units": 1}]}}
    with pytest.raises(SpecError) as info:
        RunSpec.from_json({"problem": {"kind": "surface", "function": "ravine"}, "lanes": [lane]})
    assert info.value.field == "lanes[0].model"
    spec = load_lesson("surface-rosenbrock").spec
    assert spec.dataset is None and "dataset" not in spec.to_json()
    assert RunSpec.from_json(spec.to_json()) == spec
