"""``gradviz --self-test``: one line, exit 0 when the install works; one FAILED line and exit 1 otherwise."""

from __future__ import annotations

import re
import sys

import pytest

from gradviz import selftest
from gradviz.cli import main

PASSED = re.compile(
    r"^gradviz self-test passed: TensorFlow \d+\.\d+\S*, 2 lanes x 5 epochs, "
    r"traced in (the system heap|pymalloc|a hooked allocator|another allocator), \d+ figures, \d+\.\d s$"
)


def test_self_test_passes_in_a_fresh_process(gradviz_cli) -> None:
    done = gradviz_cli("--self-test", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert PASSED.match(lines[0]), lines[0]
    if sys.platform == "linux":  # a fresh CPython there traces in the C library's heap (graph_memory.system_heap)
        assert "traced in the system heap" in lines[0]
    assert "Traceback" not in done.stderr


def _fail(message: str):
    def run(*args, **kwargs):
        raise selftest.SelfTestFailure(message)

    return run


def test_a_failed_check_prints_one_failed_line_and_exits_1(monkeypatch, capsys) -> None:
    monkeypatch.setattr(selftest, "run_self_test", _fail("lane 'SGD' did not learn\nsecond line"))
    assert main(["--self-test"]) == 1
    out = capsys.readouterr().out
    assert out == "gradviz self-test FAILED: lane 'SGD' did not learn second line\n"


def test_an_unexpected_error_is_one_failed_line_naming_its_type(monkeypatch, capsys) -> None:
    def boom(*args, **kwargs):
        raise ImportError("No module named 'tensorflow'")

    monkeypatch.setattr(selftest, "run_self_test", boom)
    assert selftest.main() == 1
    assert capsys.readouterr().out == "gradviz self-test FAILED: ImportError: No module named 'tensorflow'\n"


@pytest.mark.parametrize("outcome", ["passed", "failed"])
def test_a_windowed_build_without_stdout_still_exits_with_the_result(monkeypatch, outcome: str) -> None:
    if outcome == "passed":
        monkeypatch.setattr(selftest, "run_self_test", lambda *a, **k: "gradviz self-test passed: stub")
    else:
        monkeypatch.setattr(selftest, "run_self_test", _fail("stub"))
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    assert selftest.main() == (0 if outcome == "passed" else 1)
