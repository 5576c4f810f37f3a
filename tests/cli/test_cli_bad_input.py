"""Bad command lines, files and environments: one ``gradviz: error:`` line, the right exit code, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bad_spec_cases import base_spec
from cli_kit import assert_one_error_line

from gradviz.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("argv", "says"), [
    (["run", "race", "--epochs", "-3"], "'-3' is negative"),
    (["run", "race", "--epochs", "ten"], "'ten' is not a whole number"),
    (["run", "race", "--seed", "-1"], "'-1' is negative"),
    (["run", "race", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["run"], "required: LESSON|SPEC.json"),
    (["frob"], "invalid choice: 'frob'"),
    (["--epochs", "1e3"], "'1e3' is not a whole number"),
])
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], says: str, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    captured = capsys.readouterr()
    line = assert_one_error_line(captured.err, says)
    assert line.endswith("--help)")
    assert captured.out == ""


@pytest.mark.parametrize("epochs", ["99999999999", "1000001"])
def test_epochs_beyond_the_limit_are_refused_before_training(epochs: str, capsys) -> None:
    assert main(["run", "race", "--epochs", epochs, "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "epochs: must be at most 1,000,000")


def test_out_under_a_regular_file_or_onto_one_is_refused_and_the_file_is_kept(tmp_path: Path, capsys) -> None:
    regular = tmp_path / "notes.txt"
    regular.write_text("the class's notes")
    assert main(["run", "race", "--quiet", "--out", str(regular / "out")]) == 2
    assert_one_error_line(capsys.readouterr().err, "--out: cannot write to", "not a directory")
    assert main(["run", "race", "--quiet", "--out", str(regular)]) == 2
    assert_one_error_line(capsys.readouterr().err, "--out:", "is a file, not a folder")
    assert regular.read_text() == "the class's notes"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_out_in_a_read_only_folder_is_refused(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["run", "race", "--quiet", "--out", str(folder / "out")]) == 2
        assert_one_error_line(capsys.readouterr().err, "--out: cannot write to")
    finally:
        folder.chmod(0o755)


def test_screenshot_path_that_cannot_be_written_is_refused_before_the_window_opens(tmp_path: Path, capsys) -> None:
    regular = tmp_path / "slides.pdf"
    regular.write_bytes(b"%PDF")
    # Before this was checked, the window opened, failed to save and never quit.
    assert main(["--lesson", "race", "--screenshot", str(regular / "shot.png"), "--quit-when-done"]) == 2
    assert_one_error_line(capsys.readouterr().err, "--screenshot: cannot write", "is a file, not a folder")
    assert main(["--lesson", "race", "--screenshot", str(tmp_path), "--quit-when-done"]) == 2
    assert_one_error_line(capsys.readouterr().err, "--screenshot:", "is a folder")
    assert regular.read_bytes() == b"%PDF"


@pytest.mark.parametrize("name", ["spec.json", "data.csv"])
def test_gigabyte_files_are_refused_by_size_without_being_read(name: str, tmp_path: Path, capsys) -> None:
    big = tmp_path / name
    with big.open("wb") as fh:
        fh.truncate(2 * 1024**3)  # sparse: no real gigabytes are written
    spec_path = big
    if name == "data.csv":
        spec = base_spec()
        spec["dataset"] = {"name": "csv", "path": name}
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec))
    assert main(["run", str(spec_path), "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "2,147,483,648 bytes", "at most")


def test_a_binary_spec_file_is_refused(tmp_path: Path, capsys) -> None:
    path = tmp_path / "photo.json"
    path.write_bytes(bytes(range(256)) * 16)
    assert main(["run", str(path), "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "is not UTF-8 text")


@pytest.mark.usefixtures("tf")
def test_a_csv_with_a_million_and_one_rows_is_refused(tmp_path: Path, capsys) -> None:
    csv = tmp_path / "data.csv"
    with csv.open("w") as fh:
        fh.write("x,y\n")
        fh.write("1,2\n" * 1_000_001)
    spec = base_spec()
    spec["dataset"] = {"name": "csv", "path": "data.csv"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert main(["run", str(tmp_path / "spec.json"), "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "has 1,000,001 rows; at most 1,000,000")


@pytest.mark.usefixtures("tf")
def test_a_spec_saved_with_a_byte_order_mark_is_read(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notepad.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_spec()).encode())  # as Windows Notepad may save it
    assert main(["run", str(path), "--quiet", "--epochs", "1"]) == 0
    assert "final loss" in capsys.readouterr().out


def _without_tensorflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m gradviz ARGS`` where importing TensorFlow fails as a broken install does."""
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(REPO)]), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONSTARTUP", None)
    return subprocess.run([sys.executable, "-m", "gradviz", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)


def test_a_broken_tensorflow_is_one_line_for_a_headless_run(tmp_path: Path) -> None:
    done = _without_tensorflow(tmp_path, "run", "race", "--quiet")
    assert done.returncode == 1
    assert_one_error_line(done.stderr, "TensorFlow could not be loaded: ImportError: libtensorflow_framework")


def test_a_broken_tensorflow_is_explained_by_the_window(tmp_path: Path) -> None:
    done = _without_tensorflow(tmp_path, "--play", "--quit-when-done")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("gradviz: error:")]
    assert errors == ["gradviz: error: TensorFlow could not be loaded: ImportError: "
                      "libtensorflow_framework.so.2: cannot open shared object file"]
    assert "Traceback" not in done.stderr and "QThread" not in done.stderr
