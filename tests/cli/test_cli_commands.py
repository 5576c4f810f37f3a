"""``gradviz --version``, ``gradviz lessons`` and ``gradviz spec``: quick commands that need no TensorFlow."""

from __future__ import annotations

import json

import pytest
from cli_kit import assert_one_error_line

from gradviz import __version__
from gradviz.cli import main
from gradviz.engine.lessons import lesson_names, load_lesson
from gradviz.engine.spec import RunSpec


def test_version_flag_prints_the_version(gradviz_cli) -> None:
    done = gradviz_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"gradviz {__version__}"


def test_lessons_lists_race_vanishing_and_init_in_teaching_order(gradviz_cli) -> None:
    done = gradviz_cli("lessons")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert {"race", "vanishing", "init"} <= set(names)
    assert names.index("race") < names.index("vanishing") < names.index("init")
    assert names == lesson_names()
    race = next(line for line in done.stdout.splitlines() if line.startswith("race"))
    assert load_lesson("race").title in race


def test_spec_prints_json_that_loads_back_to_the_lesson(gradviz_cli) -> None:
    done = gradviz_cli("spec", "race")
    assert done.returncode == 0, done.stderr
    assert RunSpec.from_json(json.loads(done.stdout)) == load_lesson("race").spec


@pytest.mark.parametrize("name", ["race", "vanishing", "init"])
def test_every_lesson_spec_round_trips_through_the_spec_command(name: str, capsys) -> None:
    assert main(["spec", name]) == 0
    out = capsys.readouterr().out
    spec = RunSpec.from_json(json.loads(out))
    assert spec == load_lesson(name).spec
    assert out == spec.dumps()


def test_race_lesson_is_the_notebooks_race() -> None:
    spec = load_lesson("race").spec
    assert (spec.epochs, spec.batch_size, spec.shuffle, spec.dataset.name) == (100, 32, True, "cubic")
    assert [lane.optimizer.to_json() for lane in spec.lanes] == [
        {"name": "sgd", "learning_rate": 0.01},
        {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
        {"name": "rmsprop", "learning_rate": 0.01},
        {"name": "adam", "learning_rate": 0.01},
    ]
    for lane in spec.lanes:
        assert [(layer.units, layer.activation) for layer in lane.model.layers] == [(64, "tanh"), (1, "linear")]


def test_spec_of_an_unknown_lesson_is_one_error_line(gradviz_cli) -> None:
    done = gradviz_cli("spec", "nosuchlesson")
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "no lesson named 'nosuchlesson'", "race")
    assert done.stdout == ""
