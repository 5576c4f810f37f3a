"""Bad specs are refused before training with one clear line naming the field; fuzzed specs never crash."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from bad_spec_cases import CASES, LR, BadSpec, base_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.engine.errors import SpecError
from gradviz.engine.spec import RunSpec, load_spec, parse_spec_text

pytestmark = pytest.mark.usefixtures("tf")


def refusal(case: BadSpec, folder: Path) -> SpecError:
    """The SpecError a bad spec file gets from loading and checking it."""
    from gradviz.engine.trainer import check_run

    with pytest.raises(SpecError) as info:
        check_run(load_spec(case.write(folder)))
    return info.value


def assert_names_field(error: SpecError, case: BadSpec) -> None:
    message = str(error)
    assert error.field == case.field, message
    assert case.says.lower() in message.lower(), message
    assert "\n" not in message
    if case.field:
        assert message.startswith(f"{case.field}: ")
    assert "Traceback" not in message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_spec_is_refused_with_a_message_naming_the_field(case: BadSpec, tmp_path: Path) -> None:
    assert_names_field(refusal(case, tmp_path), case)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_refused_naming_the_field(literal: str) -> None:
    text = json.dumps(base_spec()).replace('"learning_rate": 0.05', f'"learning_rate": {literal}')
    assert literal in text
    with pytest.raises(SpecError, match="finite") as info:
        parse_spec_text(text)
    assert info.value.field == LR


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_learning_rate_from_python_names_the_field(value: float) -> None:
    data = base_spec()
    data["lanes"][0]["optimizer"]["learning_rate"] = value
    with pytest.raises(SpecError) as info:
        RunSpec.from_json(data)
    assert info.value.field == LR


def test_an_unknown_key_with_a_newline_still_gives_a_one_line_message() -> None:
    data = base_spec()
    data["seed\nepochs"] = 1
    with pytest.raises(SpecError) as info:
        RunSpec.from_json(data)
    assert "\n" not in str(info.value)


def test_spec_file_problems_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "missing.json")
    with pytest.raises(SpecError, match="is a folder"):
        load_spec(tmp_path)
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(latin)


def test_a_valid_base_spec_passes_every_check(tmp_path: Path) -> None:
    from gradviz.engine.trainer import check_run

    path = tmp_path / "ok.json"
    path.write_text(json.dumps(base_spec()))
    data = check_run(load_spec(path))
    assert data.x.shape == (20, 1)


# fuzzing -------------------------------------------------------------------------------------------

NAMES = st.sampled_from(["sgd", "adam", "rmsprop", "tanh", "relu", "sigmoid", "linear", "glorot_uniform",
                         "he_normal", "cubic", "sine", "gaussian", "csv", "nope", "", " ", "A", "B"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), NAMES,
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8) | NAMES, inner, max_size=3)), max_leaves=6)

KEYS = ["seed", "epochs", "batch_size", "shuffle", "dataset", "lanes", "name", "model", "optimizer", "input_dim",
        "layers", "units", "activation", "initializer", "learning_rate", "momentum", "stddev", "n_samples", "noise",
        "frequency", "n_features", "path", "inputs", "target"]


@st.composite
def valid_spec_dicts(draw: st.DrawFn) -> dict[str, Any]:
    def layer() -> dict[str, Any]:
        out: dict[str, Any] = {"units": draw(st.integers(1, 64))}
        if draw(st.booleans()):
            out["activation"] = draw(st.sampled_from(["tanh", "relu", "sigmoid", "linear", "elu"]))
        if draw(st.booleans()):
            out["initializer"] = draw(st.sampled_from(
                ["glorot_uniform", "he_normal", {"name": "random_normal", "stddev": 0.5}, {"name": "zeros"}]))
        return out

    names = draw(st.lists(st.text(min_size=1, max_size=10).filter(lambda s: s.strip()), min_size=1, max_size=4,
                          unique_by=lambda s: s.strip()))
    lanes = []
    for name in names:
        optimizer: dict[str, Any] | str = draw(st.sampled_from(["sgd", "adam"]))
        if draw(st.booleans()):
            optimizer = {"name": optimizer, "learning_rate": draw(st.floats(1e-6, 10.0))}
        layers = [layer() for _ in range(draw(st.integers(1, 4)))]
        lanes.append({
            "name": name,
            "model": {"input_dim": draw(st.integers(1, 8)), "layers": layers},
            "optimizer": optimizer,
        })
    dataset = draw(st.sampled_from([
        "cubic", {"name": "sine", "frequency": 2.0}, {"name": "gaussian", "n_features": 3, "n_samples": 50},
        {"name": "csv", "path": "data.csv", "inputs": ["a", "b"], "target": "c"}, {"name": "cubic", "noise": 0},
    ]))
    out: dict[str, Any] = {"dataset": dataset, "lanes": lanes}
    for key, strategy in (("seed", st.integers(0, 2**31 - 1)), ("epochs", st.integers(0, 1000)),
                          ("batch_size", st.integers(1, 512)), ("shuffle", st.booleans())):
        if draw(st.booleans()):
            out[key] = draw(strategy)
    return out


@st.composite
def mutated_spec_dicts(draw: st.DrawFn) -> Any:
    """A valid spec with one node replaced, deleted, or given an extra key."""
    data = draw(valid_spec_dicts())
    containers: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, (dict, list)):
            containers.append(node)
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(data)
    for _ in range(draw(st.integers(1, 3))):
        node = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if isinstance(node, dict):
            keys = sorted(node)
            if action == "add" or not keys:
                node[draw(st.sampled_from(KEYS) | st.text(max_size=5))] = draw(JSON)
            elif action == "delete":
                del node[draw(st.sampled_from(keys))]
            else:
                node[draw(st.sampled_from(keys))] = draw(JSON)
        elif node:
            index = draw(st.integers(0, len(node) - 1))
            if action == "delete":
                del node[index]
            else:
                node[index] = draw(JSON)
    return data


def assert_parses_and_round_trips_or_refuses(data: Any) -> None:
    try:
        spec = RunSpec.from_json(data)
    except SpecError as exc:
        assert str(exc)
        return
    again = RunSpec.from_json(spec.to_json())
    assert again == spec
    assert parse_spec_text(spec.dumps()) == spec
    json.dumps(spec.to_json(), allow_nan=False)


# Derandomized (the same examples every run, so CI is not flaky) and without an example database.
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(valid_spec_dicts())
def test_valid_specs_round_trip_through_json(data: dict[str, Any]) -> None:
    spec = RunSpec.from_json(data)
    assert RunSpec.from_json(spec.to_json()) == spec
    assert parse_spec_text(spec.dumps()) == spec


@FUZZ
@given(mutated_spec_dicts())
def test_mutated_specs_either_round_trip_or_raise_spec_error(data: Any) -> None:
    assert_parses_and_round_trips_or_refuses(data)


@FUZZ
@given(JSON)
def test_arbitrary_json_values_either_parse_or_raise_spec_error(data: Any) -> None:
    assert_parses_and_round_trips_or_refuses(data)
