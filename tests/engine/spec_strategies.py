"""Hypothesis strategies for run specs: valid ones, and valid ones with a few nodes broken.

Shared by the engine's spec tests and the window's Open spec tests.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["JSON", "KEYS", "mutated_spec_dicts", "valid_spec_dicts"]

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
