"""Training data: the notebook's datasets and a learner's own CSV file.

Every dataset is a pair of float32 arrays ``x`` (samples × inputs) and ``y``
(samples × targets).  Noise comes from the run's seed, so a run is
reproducible from its spec alone.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradviz.engine.errors import SpecError
from gradviz.engine.files import checked_input_file

if TYPE_CHECKING:
    from gradviz.engine.spec import DatasetSpec

__all__ = ["DATASET_PARAMS", "MAX_CSV_BYTES", "Dataset", "check_dataset_params", "make_dataset"]

MAX_CSV_BYTES = 200_000_000
MAX_SAMPLES = 1_000_000

# Each dataset's settings: name -> (kind, default, low, high).  ``None`` as a
# default means required.
DATASET_PARAMS: dict[str, dict[str, tuple[str, Any, float, float]]] = {
    "cubic": {
        "n_samples": ("int", 100, 2, MAX_SAMPLES),
        "noise": ("float", 0.1, 0.0, 1e6),
    },
    "sine": {
        "n_samples": ("int", 200, 2, MAX_SAMPLES),
        "noise": ("float", 0.1, 0.0, 1e6),
        "frequency": ("float", 1.0, 0.0, 1e3),
    },
    "gaussian": {
        "n_samples": ("int", 1000, 2, MAX_SAMPLES),
        "n_features": ("int", 100, 1, 4096),
        "noise": ("float", 0.1, 0.0, 1e6),
    },
    "csv": {
        "path": ("str", None, 0, 0),
        "inputs": ("names", (), 0, 0),
        "target": ("names", (), 0, 0),
    },
}


@dataclass(frozen=True, slots=True)
class Dataset:
    """Training data in its unshuffled order.

    Attributes
    ----------
    x, y
        float32 arrays of shape (samples, inputs) and (samples, targets).
    input_names, target_names
        Column names, e.g. ``("x0",)`` and ``("y0",)`` for built-ins.
    """

    x: np.ndarray
    y: np.ndarray
    input_names: tuple[str, ...]
    target_names: tuple[str, ...]

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])


def check_dataset_params(name: str, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Validate one dataset's settings and fill in defaults."""
    out: dict[str, Any] = {}
    for key, (kind, default, lo, hi) in DATASET_PARAMS[name].items():
        sub = f"{path}.{key}"
        if key not in raw:
            if default is None:
                raise SpecError(sub, f"is missing (dataset {name!r} needs it)")
            if kind != "names":
                out[key] = default
            continue
        value = raw[key]
        if kind == "str":
            if not isinstance(value, str) or not value.strip():
                raise SpecError(sub, "must be a non-empty string")
            if "\x00" in value:
                raise SpecError(sub, "must not contain a NUL character")
            out[key] = value
        elif kind == "names":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
                raise SpecError(sub, "must be a column name or a non-empty list of column names")
            out[key] = tuple(value)
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
                raise SpecError(sub, f"must be a finite number, not {str(value)[:30]}")
            if kind == "int":
                if value != int(value):
                    raise SpecError(sub, f"must be a whole number, not {value!r}")
                value = int(value)
            else:
                value = float(value)
            if value < lo or value > hi:
                raise SpecError(sub, f"must be between {lo:g} and {hi:g}, not {value!r}")
            out[key] = value
    return out


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def make_dataset(spec: DatasetSpec, seed: int) -> Dataset:
    """Build (or read) the dataset a spec names.

    Raises
    ------
    SpecError
        For a CSV file that is missing, unreadable, or holds bad values.
    """
    params = dict(spec.params)
    rng = np.random.default_rng([seed, 0x5EED])
    if spec.name == "cubic":
        x = np.linspace(-1.0, 1.0, params["n_samples"]).reshape(-1, 1)
        y = x**3 + params["noise"] * rng.standard_normal(x.shape)
    elif spec.name == "sine":
        x = np.linspace(-1.0, 1.0, params["n_samples"]).reshape(-1, 1)
        y = np.sin(math.pi * params["frequency"] * x) + params["noise"] * rng.standard_normal(x.shape)
    elif spec.name == "gaussian":
        # Notebook section 6: standard-normal inputs; a fixed random linear
        # teacher (unit output variance) gives the targets something to learn.
        n, d = params["n_samples"], params["n_features"]
        x = rng.standard_normal((n, d))
        teacher = rng.standard_normal((d, 1)) / math.sqrt(d)
        y = x @ teacher + params["noise"] * rng.standard_normal((n, 1))
    elif spec.name == "csv":
        return read_csv_dataset(params["path"], params.get("inputs"), params.get("target"))
    else:  # from_json already refused unknown names
        raise SpecError("dataset.name", f"unknown dataset {spec.name!r}")
    d = x.shape[1]
    return Dataset(
        x=_frozen(x),
        y=_frozen(y),
        input_names=tuple(f"x{i}" for i in range(d)),
        target_names=("y0",),
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _frozen(a: np.ndarray) -> np.ndarray:
    out = np.ascontiguousarray(a, dtype=np.float32)
    out.setflags(write=False)
    return out


def read_csv_dataset(
    path: str | Path,
    inputs: tuple[str, ...] | None = None,
    target: tuple[str, ...] | None = None,
) -> Dataset:
    """Read a learner's CSV: a header row, then numbers only.

    By default every column but the last is an input and the last is the
    target.  Every problem is reported with the file, row and column.
    """
    path = checked_input_file(path, "dataset.path", "CSV file", MAX_CSV_BYTES)
    where = repr(str(path))
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise SpecError("dataset.path", f"{str(path)!r} is not a text CSV file") from None
    except csv.Error as exc:
        raise SpecError("dataset.path", f"{str(path)!r} is not a valid CSV file: {exc}") from None
    except OSError as exc:
        raise SpecError("dataset.path", f"cannot read {str(path)!r}: {exc.strerror}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise SpecError("dataset.path", f"{str(path)!r} is empty")
    header = [h.strip() for h in rows[0]]
    if len(header) == 1:
        # Spreadsheets in many locales export "CSV" with semicolons (and decimal commas).
        for sep, name in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise SpecError(
                    "dataset.path",
                    f"{str(path)!r} separates its columns with {name}; save it with commas between columns "
                    "and points for decimals",
                )
    if len(header) < 2:
        raise SpecError(
            "dataset.path", f"{str(path)!r} needs a header row with at least two columns (inputs, then the target)"
        )
    if any(not h for h in header):
        raise SpecError("dataset.path", f"{str(path)!r} has an empty column name in its header row")
    if len(set(header)) != len(header):
        raise SpecError("dataset.path", f"{str(path)!r} repeats a column name in its header row")
    if all(_is_number(h) for h in header):
        raise SpecError("dataset.path", f"{str(path)!r} has no header row (its first row is all numbers)")
    target_names = tuple(target) if target else (header[-1],)
    input_names = tuple(inputs) if inputs else tuple(h for h in header if h not in target_names)
    for key, names in (("dataset.target", target_names), ("dataset.inputs", input_names)):
        for name in names:
            if name not in header:
                raise SpecError(key, f"column {name!r} is not in {str(path)!r} (columns: {', '.join(header)})")
    if not input_names:
        raise SpecError("dataset.inputs", "no input columns are left once the target is taken")
    overlap = set(input_names) & set(target_names)
    if overlap:
        raise SpecError("dataset.inputs", f"column {sorted(overlap)[0]!r} is both an input and the target")
    body = rows[1:]
    if len(body) < 2:
        raise SpecError("dataset.path", f"{str(path)!r} has {len(body)} data row(s); at least 2 are needed")
    if len(body) > MAX_SAMPLES:
        raise SpecError("dataset.path", f"{str(path)!r} has {len(body):,} rows; at most {MAX_SAMPLES:,} are supported")
    index = {name: i for i, name in enumerate(header)}
    wanted = [index[n] for n in input_names + target_names]
    values = np.empty((len(body), len(wanted)), dtype=np.float64)
    for r, row in enumerate(body):
        line = r + 2
        if len(row) != len(header):
            problem = f"{where}: row {line} has {len(row)} values but the header has {len(header)} columns"
            raise SpecError("dataset.path", problem)
        for c, col in enumerate(wanted):
            cell = row[col].strip()
            if not cell:
                raise SpecError("dataset.path", f"{where}: row {line}, column {header[col]!r} is empty")
            try:
                v = float(cell)
            except ValueError:
                problem = f"{where}: row {line}, column {header[col]!r} is {cell[:30]!r}, not a number"
                raise SpecError("dataset.path", problem) from None
            if not math.isfinite(v):
                problem = f"{where}: row {line}, column {header[col]!r} is {cell!r}, not a finite number"
                raise SpecError("dataset.path", problem)
            values[r, c] = v
    if np.abs(values).max() > 1e30:
        raise SpecError("dataset.path", f"{where}: values beyond 1e30 do not fit in float32")
    k = len(input_names)
    return Dataset(_frozen(values[:, :k]), _frozen(values[:, k:]), input_names, target_names)
