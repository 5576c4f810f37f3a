"""``gradviz run bad.json``: exit code 2 and exactly one ``gradviz: error:`` line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_spec_cases import CASES, BadSpec
from cli_kit import assert_one_error_line

from gradviz.cli import main

pytestmark = pytest.mark.usefixtures("tf")


def run_in_process(case: BadSpec, folder: Path, capsys) -> tuple[int, str, str]:
    path = case.write(folder)
    code = main(["run", str(path), "--quiet", "--out", str(folder / "out")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_spec_file_exits_2_with_one_error_line(case: BadSpec, tmp_path: Path, capsys) -> None:
    code, out, err = run_in_process(case, tmp_path, capsys)
    assert code == 2
    line = assert_one_error_line(err, case.says)
    if case.field:
        assert line.startswith(f"gradviz: error: {case.field}: ")
    assert out == ""
    assert not (tmp_path / "out" / "metrics.csv").exists()


SUBPROCESS_CASES = ["duplicate-lane-names", "unknown-activation", "csv-non-numeric-cell", "invalid-json",
                    "depth-10000"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_CASES], ids=lambda c: c.id)
def test_bad_spec_file_in_a_fresh_process_prints_no_traceback(case: BadSpec, tmp_path: Path, gradviz_cli) -> None:
    done = gradviz_cli("run", str(case.write(tmp_path)))
    assert done.returncode == 2
    assert_one_error_line(done.stderr, case.says)
    assert done.stdout == ""


def test_missing_spec_file_and_unknown_lesson(tmp_path: Path, capsys) -> None:
    assert main(["run", str(tmp_path / "nope.json"), "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "does not exist")
    assert main(["run", "nosuchlesson", "--quiet"]) == 2
    assert_one_error_line(capsys.readouterr().err, "no lesson named 'nosuchlesson'")


def test_nan_literal_in_a_spec_file_is_one_error_line(tmp_path: Path, gradviz_cli) -> None:
    path = tmp_path / "nan.json"
    path.write_text('{"dataset": "cubic", "lanes": [{"name": "a", "model": {"input_dim": 1, "layers": '
                    '[{"units": 1}]}, "optimizer": {"name": "sgd", "learning_rate": NaN}}]}')
    done = gradviz_cli("run", str(path))
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "NaN")
