"""Bad spec files, each with the field its error must name: shared by the engine and CLI tests.

A case is the text of a spec file (and, for CSV cases, the ``data.csv`` next
to it).  Everything is refused before any training: by ``load_spec`` (JSON,
structure, types, ranges) or by ``check_run`` (Keras names, dataset files,
shapes).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def base_spec() -> dict[str, Any]:
    """A valid, tiny spec; every case below breaks exactly one thing in it."""
    return {
        "seed": 1,
        "epochs": 2,
        "batch_size": 8,
        "shuffle": False,
        "dataset": {"name": "cubic", "n_samples": 20},
        "lanes": [
            {
                "name": "A",
                "model": {"input_dim": 1, "layers": [
                    {"units": 4, "activation": "tanh", "initializer": "glorot_uniform"},
                    {"units": 1, "activation": "linear", "initializer": "glorot_uniform"},
                ]},
                "optimizer": {"name": "sgd", "learning_rate": 0.05},
            },
            {
                "name": "B",
                "model": {"input_dim": 1, "layers": [{"units": 4, "activation": "relu"}, {"units": 1}]},
                "optimizer": {"name": "adam", "learning_rate": 0.01},
            },
        ],
    }


@dataclass(frozen=True)
class BadSpec:
    """One broken spec file."""

    id: str
    field: str  # SpecError.field, "" for whole-file problems
    says: str  # a fragment the message must contain (case-insensitive)
    text: str  # the spec file's text
    csv: bytes | None = None  # written as data.csv beside the spec

    def write(self, folder: Path) -> Path:
        if self.csv is not None:
            (folder / "data.csv").write_bytes(self.csv)
        path = folder / "bad.json"
        path.write_text(self.text, encoding="utf-8")
        return path


def _mutated(change: Callable[[dict[str, Any]], Any]) -> str:
    data = copy.deepcopy(base_spec())
    change(data)
    return json.dumps(data, indent=1)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted/indexed path, e.g. ``lanes.0.optimizer.name``."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[last]

    return change


def _case(id: str, field: str, says: str, change: Callable[[dict[str, Any]], Any]) -> BadSpec:
    return BadSpec(id, field, says, _mutated(change))


def _csv_case(id: str, field: str, says: str, content: bytes, **dataset: Any) -> BadSpec:
    text = _mutated(_set("dataset", {"name": "csv", "path": "data.csv", **dataset}))
    return BadSpec(id, field, says, text, content)


def _lane_name(data: dict[str, Any]) -> None:
    data["lanes"][1]["name"] = "A"


LR = "lanes[0].optimizer.learning_rate"
L0 = "lanes[0].model.layers[0]"

CASES: list[BadSpec] = [
    # Keras names (checked by check_run)
    _case("unknown-optimizer", "lanes[0].optimizer.name", "unknown optimizer 'sgdd'",
          _set("lanes.0.optimizer.name", "sgdd")),
    _case("unknown-activation", f"{L0}.activation", "unknown activation 'tanhh'",
          _set("lanes.0.model.layers.0.activation", "tanhh")),
    _case("activation-halving-the-layer", f"{L0}.activation", "activation 'glu' changes a layer's width",
          _set("lanes.0.model.layers.0.activation", "glu")),
    _case("activation-needing-arguments", f"{L0}.activation", "activation 'threshold' cannot be a layer's activation",
          _set("lanes.0.model.layers.0.activation", "threshold")),
    _case("unknown-initializer", f"{L0}.initializer", "unknown initializer 'glorot_unifrom'",
          _set("lanes.0.model.layers.0.initializer", "glorot_unifrom")),
    _case("unknown-initializer-with-settings", f"{L0}.initializer.name", "unknown initializer 'gaussian'",
          _set("lanes.0.model.layers.0.initializer", {"name": "gaussian", "stddev": 0.1})),
    _case("unknown-initializer-argument", f"{L0}.initializer.std", "takes no argument 'std'",
          _set("lanes.0.model.layers.0.initializer", {"name": "random_normal", "std": 0.1})),
    _case("initializer-seed", f"{L0}.initializer.seed", "run's seed",
          _set("lanes.0.model.layers.0.initializer", {"name": "random_normal", "seed": 3})),
    _case("unknown-optimizer-argument", "lanes[1].optimizer.momentum", "takes no argument 'momentum'",
          _set("lanes.1.optimizer.momentum", 0.9)),
    _case("momentum-out-of-range", "lanes[0].optimizer.momentum", "must be in [0, 1)",
          _set("lanes.0.optimizer.momentum", 1.5)),
    # numbers and ranges
    _case("zero-learning-rate", LR, "greater than 0", _set("lanes.0.optimizer.learning_rate", 0)),
    _case("negative-learning-rate", LR, "greater than 0", _set("lanes.0.optimizer.learning_rate", -0.01)),
    BadSpec("overflowing-learning-rate", LR, "finite",  # 1e400 parses as inf
            _mutated(_set("lanes.0.optimizer.learning_rate", 0.25)).replace("0.25", "1e400")),
    _case("huge-learning-rate", LR, "must be in (0, 1e+06]", _set("lanes.0.optimizer.learning_rate", 1e7)),
    _case("negative-epochs", "epochs", "at least 0", _set("epochs", -1)),
    _case("fractional-epochs", "epochs", "whole number", _set("epochs", 2.5)),
    _case("zero-units", f"{L0}.units", "at least 1", _set("lanes.0.model.layers.0.units", 0)),
    _case("zero-batch-size", "batch_size", "at least 1", _set("batch_size", 0)),
    _case("negative-seed", "seed", "at least 0", _set("seed", -3)),
    _case("depth-10000", "lanes[0].model.layers", "at most 100",
          _set("lanes.0.model.layers", [{"units": 2, "activation": "relu"}] * 10_000 + [{"units": 1}])),
    _case("too-wide", f"{L0}.units", "at most 4,096", _set("lanes.0.model.layers.0.units", 100_000)),
    _case("negative-noise", "dataset.noise", "between 0", _set("dataset.noise", -1)),
    # structure
    _case("empty-lanes", "lanes", "at least one lane", _set("lanes", [])),
    _case("duplicate-lane-names", "lanes[1].name", "already the name of lanes[0]", _lane_name),
    _case("missing-lanes", "lanes", "is missing", _delete("lanes")),
    _case("missing-dataset", "dataset", "is missing", _delete("dataset")),
    _case("missing-optimizer", "lanes[0].optimizer", "is missing", _delete("lanes.0.optimizer")),
    _case("missing-units", f"{L0}.units", "is missing", _delete("lanes.0.model.layers.0.units")),
    _case("missing-input-dim", "lanes[0].model.input_dim", "is missing", _delete("lanes.0.model.input_dim")),
    _case("missing-optimizer-name", "lanes[0].optimizer.name", "non-empty string",
          _delete("lanes.0.optimizer.name")),
    _case("no-layers", "lanes[0].model.layers", "at least one layer", _set("lanes.0.model.layers", [])),
    _case("misspelt-key", "epoch", "unknown key", _set("epoch", 3)),
    _case("misspelt-layer-key", f"{L0}.unit", "unknown key", _set("lanes.0.model.layers.0.unit", 3)),
    _case("unknown-dataset", "dataset.name", "unknown dataset 'quadratic'", _set("dataset.name", "quadratic")),
    # types
    _case("epochs-as-string", "epochs", "whole number", _set("epochs", "10")),
    _case("epochs-as-boolean", "epochs", "whole number", _set("epochs", True)),
    _case("shuffle-as-string", "shuffle", "true or false", _set("shuffle", "yes")),
    _case("lanes-as-object", "lanes", "must be a list", _set("lanes", {"A": {}})),
    _case("lane-as-list", "lanes[0]", "must be an object", _set("lanes.0", [1, 2])),
    _case("layers-as-string", "lanes[0].model.layers", "must be a list", _set("lanes.0.model.layers", "dense")),
    _case("units-as-float", f"{L0}.units", "whole number", _set("lanes.0.model.layers.0.units", 1.5)),
    _case("learning-rate-as-string", LR, "must be a number", _set("lanes.0.optimizer.learning_rate", "0.1")),
    _case("lane-name-as-number", "lanes[0].name", "non-empty string", _set("lanes.0.name", 5)),
    _case("optimizer-argument-as-list", "lanes[0].optimizer.momentum", "number, boolean or string",
          _set("lanes.0.optimizer.momentum", [0.9])),
    # shapes against the data
    _case("input-dim-mismatch", "lanes[0].model.input_dim", "has 1 input column",
          _set("lanes.0.model.input_dim", 3)),
    _case("output-units-mismatch", "lanes[1].model.layers[1].units", "1 target column",
          _set("lanes.1.model.layers.1.units", 2)),
    # the file itself
    BadSpec("invalid-json", "", "not valid JSON", '{"seed": 1, "lanes": [}'),
    BadSpec("empty-file", "", "not valid JSON", ""),
    BadSpec("json-list", "spec", "must be an object", "[1, 2, 3]"),
    # CSV problems
    _csv_case("csv-missing-file", "dataset.path", "does not exist", b"x,y\n1,2\n3,4\n", path="nowhere.csv"),
    _csv_case("csv-non-numeric-cell", "dataset.path", "row 3, column 'y' is 'abc', not a number",
              b"x,y\n1,2\n3,abc\n5,6\n"),
    _csv_case("csv-empty-cell", "dataset.path", "row 2, column 'x' is empty", b"x,y\n,2\n3,4\n"),
    _csv_case("csv-nan-cell", "dataset.path", "not a finite number", b"x,y\n1,nan\n3,4\n"),
    _csv_case("csv-header-only", "dataset.path", "0 data row(s)", b"x,y\n"),
    _csv_case("csv-one-row", "dataset.path", "1 data row(s)", b"x,y\n1,2\n"),
    _csv_case("csv-empty-file", "dataset.path", "is empty", b""),
    _csv_case("csv-ragged-row", "dataset.path", "row 3 has 3 values", b"x,y\n1,2\n3,4,5\n"),
    _csv_case("csv-one-column", "dataset.path", "at least two columns", b"x\n1\n2\n"),
    _csv_case("csv-semicolons", "dataset.path", "separates its columns with semicolons",
              b"x;y\n1,5;2\n3;4\n"),
    _csv_case("csv-tabs", "dataset.path", "separates its columns with tabs", b"x\ty\n1\t2\n3\t4\n"),
    _csv_case("csv-unknown-target", "dataset.target", "column 'z' is not in", b"x,y\n1,2\n3,4\n", target="z"),
    _csv_case("csv-unknown-input", "dataset.inputs", "column 'w' is not in", b"x,y\n1,2\n3,4\n", inputs=["w"]),
    _csv_case("csv-input-is-target", "dataset.inputs", "both an input and the target", b"x,y\n1,2\n3,4\n",
              inputs=["x", "y"], target="y"),
    _csv_case("csv-binary-file", "dataset.path", "not a text CSV file", bytes(range(256)) * 4),
    _csv_case("csv-beyond-float32", "dataset.path", "do not fit in float32", b"x,y\n1,2\n3,1e39\n"),
    BadSpec("nan-literal-names-the-field", LR, "finite",
            _mutated(_set("lanes.0.optimizer.learning_rate", 0.25)).replace("0.25", "NaN")),
    BadSpec("huge-integer-learning-rate", LR, "finite",
            _mutated(_set("lanes.0.optimizer.learning_rate", 0.25)).replace("0.25", "1" + "0" * 400)),
    BadSpec("huge-integer-noise", "dataset.noise", "finite",
            _mutated(_set("dataset.noise", 0.25)).replace("0.25", "1" + "0" * 400)),
    BadSpec("huge-integer-momentum", "lanes[0].optimizer.momentum", "must be",
            _mutated(_set("lanes.0.optimizer.momentum", 0.25)).replace("0.25", "1" + "0" * 400)),
    _csv_case("csv-without-header-row", "dataset.path", "no header row", b"1,2\n3,4\n5,6\n"),
    _csv_case("csv-path-with-unknown-user", "dataset.path", "nosuchuser", b"x,y\n1,2\n3,4\n",
              path="~nosuchuser_gradviz/data.csv"),
    _csv_case("csv-path-with-nul", "dataset.path", "data", b"x,y\n1,2\n3,4\n", path="da\u0000ta.csv"),
    # cut short or mistyped by hand
    BadSpec("truncated-json", "", "not valid JSON", json.dumps(base_spec())[:200]),
    _csv_case("csv-truncated-mid-row", "dataset.path", "row 4, column 'y' is empty", b"x,y\n1,2\n3,4\n5,"),
    _case("blank-lane-name", "lanes[0].name", "not only spaces", _set("lanes.0.name", "   ")),
    _case("empty-lane-name", "lanes[0].name", "not an empty string", _set("lanes.0.name", "")),
    _case("misspelt-optimizer-argument", "lanes[0].optimizer.learning_rat", "takes no argument 'learning_rat'",
          _set("lanes.0.optimizer.learning_rat", 0.1)),
    _case("huge-batch-size", "batch_size", "at most 1,000,000", _set("batch_size", 10**9)),
    _case("zero-input-dim", "lanes[0].model.input_dim", "at least 1", _set("lanes.0.model.input_dim", 0)),
    _case("units-as-boolean", f"{L0}.units", "whole number, not a boolean", _set("lanes.0.model.layers.0.units", True)),
    _case("csv-without-path", "dataset.path", "is missing", _set("dataset", {"name": "csv"})),
]
