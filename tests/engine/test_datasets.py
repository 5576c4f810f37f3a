"""The built-in datasets follow the notebook; a learner's CSV is read the documented way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bad_spec_cases import base_spec

from gradviz.engine.datasets import make_dataset, read_csv_dataset
from gradviz.engine.spec import DatasetSpec, load_spec


def dataset(data: dict | str, seed: int = 0):
    return make_dataset(DatasetSpec.from_json(data, "dataset"), seed)


def test_cubic_is_the_notebooks_curve_plus_seeded_noise() -> None:
    data = dataset("cubic", seed=0)
    x = np.linspace(-1, 1, 100).reshape(-1, 1)
    assert data.x.shape == (100, 1) and data.y.shape == (100, 1)
    assert data.x.dtype == np.float32 and data.y.dtype == np.float32
    np.testing.assert_array_equal(data.x, x.astype(np.float32))
    noise = data.y.astype(np.float64) - x**3
    assert noise.std() == pytest.approx(0.1, rel=0.25)
    assert abs(noise.mean()) < 0.05
    assert (data.input_names, data.target_names) == (("x0",), ("y0",))


def test_cubic_noise_comes_from_the_seed() -> None:
    np.testing.assert_array_equal(dataset("cubic", 3).y, dataset("cubic", 3).y)
    assert not np.array_equal(dataset("cubic", 3).y, dataset("cubic", 4).y)
    np.testing.assert_array_equal(dataset("cubic", 3).x, dataset("cubic", 4).x)


def test_cubic_settings_change_size_and_noise() -> None:
    data = dataset({"name": "cubic", "n_samples": 7, "noise": 0})
    x = np.linspace(-1, 1, 7).reshape(-1, 1)
    np.testing.assert_allclose(data.y, x**3, rtol=1e-6, atol=1e-7)


def test_sine_is_a_noisy_sine_on_minus_one_to_one() -> None:
    data = dataset({"name": "sine", "frequency": 2.0}, seed=1)
    x = np.linspace(-1, 1, 200).reshape(-1, 1)
    np.testing.assert_array_equal(data.x, x.astype(np.float32))
    noise = data.y.astype(np.float64) - np.sin(np.pi * 2.0 * x)
    assert noise.std() == pytest.approx(0.1, rel=0.25)
    clean = dataset({"name": "sine", "noise": 0, "n_samples": 9})
    np.testing.assert_allclose(clean.y, np.sin(np.pi * np.linspace(-1, 1, 9)).reshape(-1, 1), atol=1e-6)


def test_gaussian_default_is_1000_standard_normal_samples_of_100_features() -> None:
    data = dataset("gaussian", seed=0)
    assert data.x.shape == (1000, 100) and data.y.shape == (1000, 1)
    assert data.x.mean() == pytest.approx(0.0, abs=0.02)
    assert data.x.std() == pytest.approx(1.0, rel=0.02)
    assert data.input_names == tuple(f"x{i}" for i in range(100))
    # A linear teacher plus 0.1 noise: least squares leaves residuals of std ~0.1.
    x = data.x.astype(np.float64)
    y = data.y.astype(np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    assert residual.std() == pytest.approx(0.1, rel=0.2)
    # The teacher's weights are N(0, 1/100) each, so its output variance is about 1 (chi-square spread).
    assert 0.5 < float(np.sum(coef**2)) < 1.5
    assert not np.array_equal(dataset("gaussian", 1).x, data.x)


def test_built_in_arrays_are_read_only() -> None:
    data = dataset("cubic")
    with pytest.raises(ValueError):
        data.x[0, 0] = 1.0


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_defaults_to_last_column_as_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a, b ,c\n1,2,3\n4,5,6\n7,8,9.5\n")
    data = read_csv_dataset(path)
    assert data.input_names == ("a", "b") and data.target_names == ("c",)
    np.testing.assert_array_equal(data.x, np.array([[1, 2], [4, 5], [7, 8]], np.float32))
    np.testing.assert_array_equal(data.y, np.array([[3], [6], [9.5]], np.float32))


def test_csv_explicit_inputs_and_target_pick_and_order_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,b,c,d\n1,2,3,4\n5,6,7,8\n")
    data = read_csv_dataset(path, inputs=("c", "a"), target=("b",))
    assert data.input_names == ("c", "a") and data.target_names == ("b",)
    np.testing.assert_array_equal(data.x, np.array([[3, 1], [7, 5]], np.float32))
    np.testing.assert_array_equal(data.y, np.array([[2], [6]], np.float32))
    only_target = read_csv_dataset(path, target=("a",))
    assert only_target.input_names == ("b", "c", "d")


def test_csv_tolerates_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b"\xef\xbb\xbfx,y\r\n1,2\r\n\r\n3,4\r\n")
    data = read_csv_dataset(path)
    assert data.input_names == ("x",)
    np.testing.assert_array_equal(data.y.ravel(), [2, 4])


def test_relative_csv_path_is_resolved_against_the_spec_files_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "lesson"
    (folder / "data").mkdir(parents=True)
    write_csv(folder / "data" / "points.csv", "x,y\n0,1\n1,3\n2,5\n")
    spec_data = base_spec()
    spec_data["dataset"] = {"name": "csv", "path": "data/points.csv", "inputs": "x", "target": ["y"]}
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec_data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec(spec_path)
    assert Path(spec.dataset.get("path")) == (folder / "data" / "points.csv").resolve()
    data = make_dataset(spec.dataset, spec.seed)
    np.testing.assert_array_equal(data.y.ravel(), [1, 3, 5])
    # The resolved spec stays loadable from anywhere once saved.
    assert spec.to_json()["dataset"]["path"] == str((folder / "data" / "points.csv").resolve())
