"""A run as files: the spec, the exact training data, and per-epoch metrics as CSV.

Column names are a public format (``gradviz run --out`` writes them, and the
window's export writes the same).  Non-finite values are written as empty
cells, which spreadsheets and pandas read as missing.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from gradviz.engine.files import atomic_write_text
from gradviz.engine.history import RunHistory
from gradviz.engine.jacobians import JACOBIAN_PROBES
from gradviz.engine.report import LAYER_PROBES

__all__ = [
    "JACOBIANS_COLUMNS",
    "LAYERS_COLUMNS",
    "METRICS_COLUMNS",
    "data_csv",
    "jacobians_csv",
    "layers_csv",
    "metrics_csv",
    "write_run_files",
]

METRICS_COLUMNS = ("epoch", "lane", "loss", "full_loss", "diverged")
LAYERS_COLUMNS = ("epoch", "lane", "layer", *LAYER_PROBES)
JACOBIANS_COLUMNS = ("epoch", "lane", "layer", *JACOBIAN_PROBES)


def _cell(value: float) -> str:
    return format(value, ".9g") if math.isfinite(value) else ""


def _quote(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join(row) + "\n")
    return out.getvalue()


def data_csv(history: RunHistory) -> str:
    """The training data, unshuffled: columns ``x0..``, then ``y0..``."""
    x, y = history.layout.data_x, history.layout.data_y
    header = [f"x{i}" for i in range(x.shape[1])] + [f"y{i}" for i in range(y.shape[1])]
    table = np.hstack([x, y]).astype(np.float64)
    return _csv(header, ([_cell(v) for v in row] for row in table))


def metrics_csv(history: RunHistory) -> str:
    """One row per epoch per lane: ``epoch,lane,loss,full_loss,diverged``."""
    names = [_quote(n) for n in history.layout.lane_names]
    loss, full, diverged = history.loss, history.full_loss, history.diverged

    def rows() -> Iterable[list[str]]:
        for r, epoch in enumerate(history.epochs):
            for lane, name in enumerate(names):
                yield [str(epoch), name, _cell(loss[lane, r]), _cell(full[lane, r]), str(int(diverged[lane, r]))]

    return _csv(METRICS_COLUMNS, rows())


def _per_layer_csv(history: RunHistory, columns: Sequence[str]) -> str:
    names = [_quote(n) for n in history.layout.lane_names]
    probes = [history.layer(p) for p in columns[3:]]
    counts = history.layout.layer_counts

    def rows() -> Iterable[list[str]]:
        for r, epoch in enumerate(history.epochs):
            for lane, name in enumerate(names):
                for j in range(counts[lane]):
                    yield [str(epoch), name, str(j + 1), *(_cell(p[lane, r, j]) for p in probes)]

    return _csv(columns, rows())


def layers_csv(history: RunHistory) -> str:
    """One row per epoch, lane and layer, with every per-layer probe."""
    return _per_layer_csv(history, LAYERS_COLUMNS)


def jacobians_csv(history: RunHistory) -> str:
    """One row per epoch, lane and layer: ``sigma_max,sigma_min,product_to_output``."""
    return _per_layer_csv(history, JACOBIANS_COLUMNS)


def write_run_files(history: RunHistory, out_dir: str | Path) -> list[Path]:
    from gradviz.engine.diagnostics import diagnose, findings_json
    from gradviz.engine.lab import lab_csv
    from gradviz.engine.surface_run import trajectory_csv

    """Write the run's files into ``out_dir``.

    ``spec.json``, ``data.csv``, ``metrics.csv``, ``layers.csv``,
    ``jacobians.csv``, ``diagnostics.json`` (the findings at the last epoch)
    and, when the lanes form an activation × initializer × optimizer grid,
    ``lab.csv``.  A loss-surface race writes ``trajectory.csv`` instead of the
    data, layer and Jacobian files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    findings = findings_json(diagnose(history))
    findings_text = json.dumps(findings, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    written = []
    surface = history.layout.surface is not None
    for name, text in (
        ("spec.json", history.layout.spec.dumps()),
        ("data.csv", None if surface else data_csv(history)),
        ("metrics.csv", metrics_csv(history)),
        ("layers.csv", None if surface else layers_csv(history)),
        ("jacobians.csv", None if surface else jacobians_csv(history)),
        ("trajectory.csv", trajectory_csv(history) if surface else None),
        ("diagnostics.json", findings_text),
        ("lab.csv", None if surface else lab_csv(history)),
    ):
        if text is None:
            continue
        atomic_write_text(out / name, text)
        written.append(out / name)
    return written
