"""RunSpec: a run of lanes in lockstep, as a frozen, validated value with a JSON form.

The JSON keys are a public format: learners edit them and other tools read
them.  Parsing checks structure, types and ranges and names the offending
field; whether a name is one Keras knows is checked by
:mod:`gradviz.engine.registry`, which needs Keras and so stays out of this
module (a spec must be readable without TensorFlow, e.g. to replay a session).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradviz.engine.errors import SpecError
from gradviz.engine.files import checked_input_file

__all__ = [
    "DatasetSpec",
    "InitializerSpec",
    "LaneSpec",
    "LayerSpec",
    "Limits",
    "ModelSpec",
    "OptimizerSpec",
    "RunSpec",
    "SurfaceProblem",
    "load_spec",
]

Scalar = float | int | bool | str | None
Params = tuple[tuple[str, Scalar], ...]


class Limits:
    """Upper bounds that keep a spec within what a classroom laptop can run."""

    MAX_EPOCHS = 1_000_000
    MAX_LANES = 64
    MAX_LAYERS = 100
    MAX_UNITS = 4096
    MAX_INPUT_DIM = 4096
    MAX_BATCH_SIZE = 1_000_000
    MAX_SPEC_BYTES = 1_000_000


def _check_keys(data: Mapping[str, Any], path: str, allowed: set[str], required: set[str]) -> None:
    for key in data:
        if key not in allowed:
            expected = ", ".join(sorted(allowed))
            raise SpecError(_join(path, key), f"unknown key (expected one of: {expected})")
    for key in sorted(required):
        if key not in data:
            raise SpecError(_join(path, key), "is missing")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not key.isprintable():
        key = repr(key)  # keep every message on one line
    return f"{path}.{key}" if path else key


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(path, f"must be an object, not {_type_name(value)}")
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _int(value: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(path, f"must be a whole number, not {_type_name(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise SpecError(path, f"must be a whole number, not {value!r}")
        value = int(value)
    if value < lo:
        raise SpecError(path, f"must be at least {lo}, not {value}")
    if value > hi:
        raise SpecError(path, f"must be at most {hi:,}, not {value:,}")
    return value


def _float(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(path, f"must be a number, not {_type_name(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise SpecError(path, "must be a finite number, not an integer beyond float range") from None
    if not math.isfinite(value):
        raise SpecError(path, f"must be a finite number, not {value}")
    return value


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        what = ("an empty string" if not value else "only spaces") if isinstance(value, str) else _type_name(value)
        raise SpecError(path, f"must be a non-empty string, not {what}")
    return value.strip()


def _scalar_params(data: Mapping[str, Any], path: str, skip: set[str]) -> Params:
    """Loose keyword arguments (optimizer or initializer settings): scalars only, finite."""
    params: list[tuple[str, Scalar]] = []
    for key, value in data.items():
        if key in skip:
            continue
        sub = _join(path, key)
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(sub, f"must be a finite number, not {value}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1e300:
            raise SpecError(sub, "must be a finite number, not an integer beyond float range")
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise SpecError(sub, f"must be a number, boolean or string, not {_type_name(value)}")
        params.append((key, value))
    return tuple(params)


@dataclass(frozen=True, slots=True)
class InitializerSpec:
    """A Keras kernel initializer by name, with its constructor arguments.

    JSON form: ``"he_normal"`` or ``{"name": "random_normal", "stddev": 0.01}``.
    """

    name: str = "glorot_uniform"
    params: Params = ()

    @classmethod
    def from_json(cls, data: Any, path: str) -> InitializerSpec:
        if isinstance(data, str):
            return cls(_name(data, path))
        data = _mapping(data, path)
        if "seed" in data:
            raise SpecError(_join(path, "seed"), "is set by the run's seed; remove it")
        name = _name(data.get("name"), _join(path, "name"))
        return cls(name, _scalar_params(data, path, {"name"}))

    def to_json(self) -> str | dict[str, Scalar]:
        return {"name": self.name, **dict(self.params)} if self.params else self.name

    def label(self) -> str:
        """Short human label, e.g. ``random_normal(stddev=0.01)``."""
        if not self.params:
            return self.name
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}({inner})"


@dataclass(frozen=True, slots=True)
class LayerSpec:
    """One Dense layer: its width, activation and kernel initializer."""

    units: int
    activation: str = "linear"
    initializer: InitializerSpec = field(default_factory=InitializerSpec)

    @classmethod
    def from_json(cls, data: Any, path: str) -> LayerSpec:
        data = _mapping(data, path)
        _check_keys(data, path, {"units", "activation", "initializer"}, {"units"})
        units = _int(data["units"], _join(path, "units"), 1, Limits.MAX_UNITS)
        activation = _name(data.get("activation", "linear"), _join(path, "activation"))
        init = InitializerSpec.from_json(
            data.get("initializer", "glorot_uniform"), _join(path, "initializer")
        )
        return cls(units, activation, init)

    def to_json(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": self.activation,
            "initializer": self.initializer.to_json(),
        }


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A stack of Dense layers on ``input_dim`` inputs; the last layer is the output."""

    input_dim: int
    layers: tuple[LayerSpec, ...]

    @classmethod
    def from_json(cls, data: Any, path: str) -> ModelSpec:
        data = _mapping(data, path)
        _check_keys(data, path, {"input_dim", "layers"}, {"input_dim", "layers"})
        input_dim = _int(data["input_dim"], _join(path, "input_dim"), 1, Limits.MAX_INPUT_DIM)
        layers_path = _join(path, "layers")
        raw = data["layers"]
        if not isinstance(raw, list):
            raise SpecError(layers_path, f"must be a list of layers, not {_type_name(raw)}")
        if not raw:
            raise SpecError(layers_path, "must hold at least one layer (the output layer)")
        if len(raw) > Limits.MAX_LAYERS:
            raise SpecError(
                layers_path, f"has {len(raw):,} layers; at most {Limits.MAX_LAYERS} are supported"
            )
        layers = tuple(LayerSpec.from_json(item, _join(layers_path, i)) for i, item in enumerate(raw))
        return cls(input_dim, layers)

    def to_json(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim, "layers": [layer.to_json() for layer in self.layers]}

    @property
    def depth(self) -> int:
        """Number of Dense layers, output layer included."""
        return len(self.layers)


@dataclass(frozen=True, slots=True)
class OptimizerSpec:
    """A Keras optimizer by name plus any of its constructor arguments.

    JSON form: ``{"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}``.
    """

    name: str
    params: Params = ()

    @classmethod
    def from_json(cls, data: Any, path: str) -> OptimizerSpec:
        if isinstance(data, str):
            return cls(_name(data, path))
        data = _mapping(data, path)
        name = _name(data.get("name"), _join(path, "name"))
        params = _scalar_params(data, path, {"name"})
        spec = cls(name, params)
        lr = dict(params).get("learning_rate")
        if lr is not None:
            lr_path = _join(path, "learning_rate")
            if _float(lr, lr_path) <= 0:
                raise SpecError(lr_path, f"must be greater than 0, not {lr}")
        return spec

    def to_json(self) -> dict[str, Scalar]:
        return {"name": self.name, **dict(self.params)}

    def get(self, key: str, default: Scalar = None) -> Scalar:
        """The value of one constructor argument, or ``default``."""
        return dict(self.params).get(key, default)

    def with_param(self, key: str, value: Scalar) -> OptimizerSpec:
        """A copy with one constructor argument set."""
        params = dict(self.params)
        params[key] = value
        return OptimizerSpec(self.name, tuple(params.items()))

    def label(self) -> str:
        """Short human label, e.g. ``sgd(learning_rate=0.01, momentum=0.9)``."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.name}({inner})"


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A built-in dataset or a user's CSV file, by name with its settings.

    The settings each dataset accepts are listed in
    :data:`gradviz.engine.datasets.DATASET_PARAMS`.
    """

    name: str
    params: Params = ()

    @classmethod
    def from_json(cls, data: Any, path: str) -> DatasetSpec:
        from gradviz.engine.datasets import DATASET_PARAMS, check_dataset_params

        if isinstance(data, str):
            data = {"name": data}
        data = _mapping(data, path)
        name = _name(data.get("name"), _join(path, "name"))
        if name not in DATASET_PARAMS:
            known = ", ".join(sorted(DATASET_PARAMS))
            raise SpecError(_join(path, "name"), f"unknown dataset {name!r} (known: {known})")
        raw: dict[str, Any] = {}
        for key, value in data.items():
            if key == "name":
                continue
            if key not in DATASET_PARAMS[name]:
                allowed = ", ".join(["name", *sorted(DATASET_PARAMS[name])])
                raise SpecError(_join(path, key), f"unknown key for dataset {name!r} (expected one of: {allowed})")
            raw[key] = value
        params = check_dataset_params(name, raw, path)
        return cls(name, tuple(params.items()))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        for key, value in self.params:
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def get(self, key: str, default: Any = None) -> Any:
        """The value of one setting, or ``default``."""
        return dict(self.params).get(key, default)


@dataclass(frozen=True, slots=True)
class LaneSpec:
    """One (model, optimizer) pair with a name shown to the class."""

    name: str
    model: ModelSpec | None
    optimizer: OptimizerSpec

    @classmethod
    def from_json(cls, data: Any, path: str, needs_model: bool = True) -> LaneSpec:
        data = _mapping(data, path)
        required = {"name", "model", "optimizer"} if needs_model else {"name", "optimizer"}
        allowed = {"name", "model", "optimizer"} if needs_model else {"name", "optimizer"}
        _check_keys(data, path, allowed, required)
        name = _name(data["name"], _join(path, "name"))
        if len(name) > 80:
            raise SpecError(_join(path, "name"), "must be at most 80 characters")
        model = ModelSpec.from_json(data["model"], _join(path, "model")) if needs_model else None
        optimizer = OptimizerSpec.from_json(data["optimizer"], _join(path, "optimizer"))
        return cls(name, model, optimizer)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.model is not None:
            out["model"] = self.model.to_json()
        out["optimizer"] = self.optimizer.to_json()
        return out


@dataclass(frozen=True, slots=True)
class SurfaceProblem:
    """A loss-surface race: every lane is a point descending a 2-D test function.

    JSON form: ``{"kind": "surface", "function": "rosenbrock", "start": [-1.5, 2.0]}``
    (``start`` defaults to the function's own, see :mod:`gradviz.engine.surfaces`).
    """

    function: str
    start: tuple[float, float]

    @classmethod
    def from_json(cls, data: Any, path: str) -> SurfaceProblem:
        from gradviz.engine.surfaces import SURFACES

        data = _mapping(data, path)
        _check_keys(data, path, {"kind", "function", "start"}, {"kind", "function"})
        if data["kind"] != "surface":
            raise SpecError(_join(path, "kind"), f"must be \"surface\", not {data['kind']!r}")
        function = _name(data["function"], _join(path, "function"))
        if function not in SURFACES:
            known = ", ".join(SURFACES)
            raise SpecError(_join(path, "function"), f"unknown function {function!r} (known: {known})")
        start = data.get("start", list(SURFACES[function].start))
        start_path = _join(path, "start")
        if not isinstance(start, list) or len(start) != 2:
            raise SpecError(start_path, "must be a list of two numbers [x, y]")
        x, y = (_float(v, f"{start_path}[{i}]") for i, v in enumerate(start))
        for i, v in enumerate((x, y)):
            if abs(v) > 1e6:
                raise SpecError(f"{start_path}[{i}]", f"must be within ±1e6, not {v}")
        return cls(function, (x, y))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "surface", "function": self.function, "start": list(self.start)}


_RUN_KEYS = {"seed", "epochs", "batch_size", "shuffle", "dataset", "problem", "lanes"}


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything that defines a run: N lanes trained in lockstep for E epochs.

    Lanes see the same batches in the same order; lanes whose ``model`` specs
    are equal start from bit-identical weights.  Build one with
    :meth:`from_json` (validates and names the offending field) or
    :func:`load_spec`.
    """

    lanes: tuple[LaneSpec, ...]
    dataset: DatasetSpec | None
    seed: int = 0
    epochs: int = 100
    batch_size: int = 32
    shuffle: bool = True
    problem: SurfaceProblem | None = None

    @classmethod
    def from_json(cls, data: Any, base_dir: Path | None = None) -> RunSpec:
        """Parse and validate the JSON form (an already-decoded object).

        Parameters
        ----------
        data
            The decoded JSON object.
        base_dir
            Folder that relative dataset paths are resolved against
            (the spec file's folder); the working directory if ``None``.
        """
        data = _mapping(data, "spec")
        problem = SurfaceProblem.from_json(data["problem"], "problem") if "problem" in data else None
        # A surface race has no data and no network: its lanes are points.
        _check_keys(data, "", _RUN_KEYS - ({"dataset"} if problem else set()),
                    {"lanes"} if problem else {"dataset", "lanes"})
        seed = _int(data.get("seed", 0), "seed", 0, 2**31 - 1)
        epochs = _int(data.get("epochs", 100), "epochs", 0, Limits.MAX_EPOCHS)
        batch_size = _int(data.get("batch_size", 32), "batch_size", 1, Limits.MAX_BATCH_SIZE)
        shuffle = data.get("shuffle", True)
        if not isinstance(shuffle, bool):
            raise SpecError("shuffle", f"must be true or false, not {_type_name(shuffle)}")
        dataset = None if problem else DatasetSpec.from_json(data["dataset"], "dataset")
        if dataset is not None and dataset.name == "csv" and base_dir is not None:
            csv_path = _expand_user(dataset.get("path"))
            if not csv_path.is_absolute():
                resolved = str((base_dir / csv_path).resolve())
                dataset = DatasetSpec("csv", tuple(
                    (k, resolved if k == "path" else v) for k, v in dataset.params
                ))
        raw_lanes = data["lanes"]
        if not isinstance(raw_lanes, list):
            raise SpecError("lanes", f"must be a list of lanes, not {_type_name(raw_lanes)}")
        if not raw_lanes:
            raise SpecError("lanes", "is empty; a run needs at least one lane")
        if len(raw_lanes) > Limits.MAX_LANES:
            raise SpecError("lanes", f"has {len(raw_lanes)} lanes; at most {Limits.MAX_LANES} are supported")
        lanes = tuple(
            LaneSpec.from_json(item, f"lanes[{i}]", needs_model=problem is None) for i, item in enumerate(raw_lanes)
        )
        seen: dict[str, int] = {}
        for i, lane in enumerate(lanes):
            if lane.name in seen:
                raise SpecError(f"lanes[{i}].name", f"{lane.name!r} is already the name of lanes[{seen[lane.name]}]")
            seen[lane.name] = i
        return cls(lanes, dataset, seed, epochs, batch_size, shuffle, problem)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, keys in the documented order."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
        }
        if self.problem is not None:
            out["problem"] = self.problem.to_json()
        if self.dataset is not None:
            out["dataset"] = self.dataset.to_json()
        out["lanes"] = [lane.to_json() for lane in self.lanes]
        return out

    def dumps(self) -> str:
        """The JSON text, indented for people to read and edit."""
        return json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"

    @property
    def lane_names(self) -> tuple[str, ...]:
        return tuple(lane.name for lane in self.lanes)

    def replace(self, **changes: Any) -> RunSpec:
        """A validated copy with top-level fields changed (``epochs``, ``seed`` ...)."""
        data = self.to_json()
        for key, value in changes.items():
            if key not in _RUN_KEYS:
                raise SpecError(key, "is not a field of a run spec")
            data[key] = value.to_json() if hasattr(value, "to_json") else value
        return RunSpec.from_json(data)


def _expand_user(path: str) -> Path:
    """``~`` expanded, with an unknown user reported like any bad path."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise SpecError("dataset.path", f"cannot expand {path!r}: no such user") from None


def load_spec(path: str | Path) -> RunSpec:
    """Read and validate a spec file, with a clear message for every failure."""
    path = checked_input_file(path, "", "spec file", Limits.MAX_SPEC_BYTES)
    try:
        # utf-8-sig: Windows Notepad may start a saved file with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError("", f"spec file {str(path)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise SpecError("", f"cannot read spec file {str(path)!r}: {exc.strerror}") from None
    return parse_spec_text(text, source=str(path), base_dir=path.resolve().parent)


def parse_spec_text(text: str, source: str = "spec", base_dir: Path | None = None) -> RunSpec:
    """Parse spec JSON text; NaN and Infinity reach the field checks, which refuse them by name."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError("", f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return RunSpec.from_json(data, base_dir=base_dir)
