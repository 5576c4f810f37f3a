"""``gradviz run race --epochs 3 --out DIR`` in a fresh process: every file it writes, checked."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from cli_kit import assert_one_error_line

from gradviz.cli import main
from gradviz.engine.datasets import make_dataset
from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec, load_spec

EPOCHS = 3
METRICS_HEADER = "epoch,lane,loss,full_loss,diverged"
LAYERS_HEADER = (
    "epoch,lane,layer,grad_norm,bias_grad_norm,weight_norm,act_mean,act_var,saturation,dead_fraction,update_ratio"
)


def race_spec() -> RunSpec:
    return load_lesson("race").spec.replace(epochs=EPOCHS)


@pytest.fixture(scope="module")
def race_out(tmp_path_factory: pytest.TempPathFactory, gradviz_cli) -> dict:
    out = tmp_path_factory.mktemp("race") / "results"
    done = gradviz_cli("run", "race", "--epochs", str(EPOCHS), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": out, "stdout": done.stdout, "stderr": done.stderr}


def read_rows(path: Path) -> tuple[str, list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8")
    header = text.splitlines()[0]
    return header, list(csv.DictReader(text.splitlines()))


def number(cell: str) -> float:
    return float(cell) if cell else math.nan


def test_run_writes_every_documented_file(race_out) -> None:
    out = race_out["out"]
    for name in ("spec.json", "data.csv", "metrics.csv", "layers.csv"):
        assert (out / name).is_file(), name
    for lane in ("SGD", "Momentum", "RMSProp", "Adam"):
        for name in ("epoch_0000.weights.h5", "final.weights.h5"):
            assert (out / "weights" / lane / name).is_file(), (lane, name)
    assert not list(out.rglob("*.tmp"))


def test_run_prints_a_summary_and_progress(race_out) -> None:
    for lane in ("SGD", "Momentum", "RMSProp", "Adam"):
        assert lane in race_out["stdout"]
    assert f"epoch {EPOCHS}/{EPOCHS}" in race_out["stderr"]
    assert "Traceback" not in race_out["stderr"]


def test_spec_json_is_the_run_spec(race_out) -> None:
    assert load_spec(race_out["out"] / "spec.json") == race_spec()


def test_data_csv_is_the_training_data_unshuffled(race_out) -> None:
    header, rows = read_rows(race_out["out"] / "data.csv")
    assert header == "x0,y0"
    spec = race_spec()
    data = make_dataset(spec.dataset, spec.seed)
    table = np.array([[float(r["x0"]), float(r["y0"])] for r in rows])
    assert table.shape == (100, 2)
    np.testing.assert_array_equal(table[:, :1].astype(np.float32), data.x)
    np.testing.assert_array_equal(table[:, 1:].astype(np.float32), data.y)


def test_metrics_csv_has_one_row_per_epoch_and_lane(race_out) -> None:
    header, rows = read_rows(race_out["out"] / "metrics.csv")
    assert header == METRICS_HEADER
    lanes = race_spec().lane_names
    assert len(rows) == (EPOCHS + 1) * len(lanes)
    assert [(int(r["epoch"]), r["lane"]) for r in rows] == [(e, n) for e in range(EPOCHS + 1) for n in lanes]
    for row in rows:
        assert row["diverged"] == "0"
        assert math.isfinite(float(row["full_loss"]))
        if row["epoch"] == "0":
            assert row["loss"] == ""
        else:
            assert math.isfinite(float(row["loss"]))


def test_layers_csv_has_one_row_per_epoch_lane_and_layer(race_out) -> None:
    header, rows = read_rows(race_out["out"] / "layers.csv")
    assert header == LAYERS_HEADER
    lanes = race_spec().lane_names
    expected = [(e, n, j) for e in range(EPOCHS + 1) for n in lanes for j in (1, 2)]
    assert [(int(r["epoch"]), r["lane"], int(r["layer"])) for r in rows] == expected
    for row in rows:
        assert (row["update_ratio"] == "") == (row["epoch"] == "0")
        assert (row["saturation"] == "") == (row["layer"] == "2")  # tanh, then linear
        for name in ("grad_norm", "bias_grad_norm", "weight_norm", "act_mean", "act_var", "dead_fraction"):
            assert math.isfinite(float(row[name])), name


@pytest.mark.usefixtures("tf")
def test_weight_files_reproduce_the_full_loss_in_metrics_csv(race_out) -> None:
    from gradviz.engine.models import build_model

    spec = race_spec()
    data = make_dataset(spec.dataset, spec.seed)
    _, rows = read_rows(race_out["out"] / "metrics.csv")
    full_loss = {(int(r["epoch"]), r["lane"]): float(r["full_loss"]) for r in rows}
    for i, lane in enumerate(spec.lanes):
        for filename, epoch in (("epoch_0000.weights.h5", 0), ("final.weights.h5", EPOCHS)):
            model = build_model(lane.model, spec.seed)
            model.load_weights(str(race_out["out"] / "weights" / lane.name / filename))
            prediction = model(data.x)[-1].numpy().astype(np.float64)
            mse = float(np.mean((data.y.astype(np.float64) - prediction) ** 2))
            assert full_loss[epoch, lane.name] == pytest.approx(mse, rel=1e-5), (lane.name, epoch)
        if i:
            continue
        # Lanes with equal models start from the same file contents.
        first = build_model(lane.model, spec.seed)
        first.load_weights(str(race_out["out"] / "weights" / "SGD" / "epoch_0000.weights.h5"))
        other = build_model(lane.model, spec.seed)
        other.load_weights(str(race_out["out"] / "weights" / "Adam" / "epoch_0000.weights.h5"))
        for a, b in zip(first.get_weights(), other.get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("tf")
def test_metrics_csv_equals_an_in_process_run_of_the_same_spec(race_out) -> None:
    from gradviz.engine.trainer import iter_run

    reports = list(iter_run(race_spec()))
    _, rows = read_rows(race_out["out"] / "metrics.csv")
    lanes = race_spec().lane_names
    for row in rows:
        report = reports[int(row["epoch"])]
        i = lanes.index(row["lane"])
        for name in ("loss", "full_loss"):
            written = np.float32(number(row[name]))
            expected = np.float32(getattr(report, name)[i])
            assert written == expected or (np.isnan(written) and np.isnan(expected)), (row, name)
        assert row["diverged"] == str(int(report.diverged[i]))
    _, layer_rows = read_rows(race_out["out"] / "layers.csv")
    for row in layer_rows:
        report = reports[int(row["epoch"])]
        i, j = lanes.index(row["lane"]), int(row["layer"]) - 1
        for name in ("grad_norm", "act_var", "update_ratio"):
            written, expected = np.float32(number(row[name])), np.float32(getattr(report, name)[i, j])
            assert written == expected or (np.isnan(written) and np.isnan(expected)), (row, name)


def test_out_pointing_at_a_file_is_one_error_line(tmp_path: Path, gradviz_cli) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("not a folder")
    done = gradviz_cli("run", "race", "--epochs", "1", "--out", str(target))
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "--out", "is a file, not a folder")
    assert target.read_text() == "not a folder"


@pytest.mark.usefixtures("tf")
def test_seed_and_epochs_flags_override_a_spec_file(tmp_path: Path, capsys) -> None:
    spec = RunSpec.from_json({
        "seed": 1, "epochs": 50, "batch_size": 8, "dataset": {"name": "cubic", "n_samples": 16},
        "lanes": [{"name": "tiny", "model": {"input_dim": 1, "layers": [{"units": 2, "activation": "tanh"},
                                                                         {"units": 1}]},
                   "optimizer": {"name": "sgd", "learning_rate": 0.1}}],
    })
    path = tmp_path / "tiny.json"
    path.write_text(spec.dumps())
    out = tmp_path / "out"
    assert main(["run", str(path), "--epochs", "2", "--seed", "9", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "tiny" in captured.out
    assert captured.err.startswith("wrote ")
    written = load_spec(out / "spec.json")
    assert (written.epochs, written.seed) == (2, 9)
    _, rows = read_rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    data = make_dataset(written.dataset, 9)
    _, data_rows = read_rows(out / "data.csv")
    np.testing.assert_array_equal(np.float32([float(r["y0"]) for r in data_rows]), data.y.ravel())
    json.loads((out / "spec.json").read_text())  # strict JSON, no NaN


def test_lesson_name_still_works_when_a_folder_of_that_name_exists(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "race").mkdir()
    code = main(["run", "race", "--epochs", "0", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err


@pytest.mark.usefixtures("tf")
def test_a_diverging_lane_is_marked_in_metrics_csv_with_empty_cells(tmp_path: Path, capsys) -> None:
    deep = [{"units": 16, "activation": "relu", "initializer": "he_normal"}] * 3 + [{"units": 1}]
    spec = RunSpec.from_json({
        "seed": 7, "epochs": 5, "batch_size": 16, "shuffle": True, "dataset": {"name": "cubic", "n_samples": 40},
        "lanes": [
            {"name": "calm", "model": {"input_dim": 1, "layers": deep}, "optimizer": {"name": "adam"}},
            {"name": "wild", "model": {"input_dim": 1, "layers": deep},
             "optimizer": {"name": "sgd", "learning_rate": 1.0}},
        ],
    })
    path = tmp_path / "wild.json"
    path.write_text(spec.dumps())
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    summary = capsys.readouterr().out
    _, rows = read_rows(out / "metrics.csv")
    wild = [r for r in rows if r["lane"] == "wild"]
    flags = [int(r["diverged"]) for r in wild]
    start = flags.index(1)
    assert flags == [0] * start + [1] * (len(flags) - start)
    assert all(r["loss"] == "" for r in wild[start + 1:])
    assert f"diverged at epoch {start}" in summary
    assert all(r["diverged"] == "0" for r in rows if r["lane"] == "calm")
    _, layer_rows = read_rows(out / "layers.csv")
    assert any(r["grad_norm"] == "" for r in layer_rows if r["lane"] == "wild" and int(r["epoch"]) >= start)
    for row in layer_rows:
        for name in ("grad_norm", "weight_norm", "update_ratio"):
            assert row[name] == "" or math.isfinite(float(row[name]))


def test_run_surface_lesson_writes_its_trajectory(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "gradviz", "run", "surface-ravine", "--epochs", "3", "--out", str(out),
                           "--quiet"], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    names = {p.name for p in out.iterdir()}
    assert {"spec.json", "metrics.csv", "trajectory.csv", "diagnostics.json", "figures"} <= names
    assert not {"data.csv", "layers.csv", "weights"} & names
    rows = (out / "trajectory.csv").read_text().splitlines()
    assert rows[0] == "step,lane,x,y,loss,grad_norm"
    assert len(rows) == 1 + 4 * 4
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["race.png", "surface.png"]


def test_session_gradviz_holds_the_same_run_as_the_csv_files(race_out) -> None:
    from gradviz.engine.session import load_session

    session = load_session(race_out["out"] / "session.gradviz")
    assert session.spec == race_spec() and session.lesson == "race"
    _, rows = read_rows(race_out["out"] / "metrics.csv")
    names = session.history.layout.lane_names
    for row in rows:
        epoch, lane = int(row["epoch"]), names.index(row["lane"])
        recorded = session.history.full_loss[lane, session.history.row(epoch)]
        assert number(row["full_loss"]) == pytest.approx(recorded, rel=1e-8)
    assert session.resume() is not None and session.resume().epoch == EPOCHS
