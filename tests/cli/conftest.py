"""CLI test fixtures: the engine tests' bad-spec table, and a helper to run ``python -m gradviz``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

# The bad-spec table is shared with the engine tests (tests/engine/bad_spec_cases.py).
ENGINE_TESTS = Path(__file__).resolve().parent.parent / "engine"
if str(ENGINE_TESTS) not in sys.path:
    sys.path.insert(0, str(ENGINE_TESTS))

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tf() -> ModuleType:
    """TensorFlow imported through the engine's runtime, as the CLI does."""
    from gradviz.engine.runtime import import_tensorflow

    return import_tensorflow()


@pytest.fixture(scope="session")
def gradviz_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``gradviz_cli("run", "race", cwd=...)``: ``python -m gradviz`` in a fresh process."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        env.pop("PYTHONSTARTUP", None)
        return subprocess.run(
            [sys.executable, "-m", "gradviz", *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO, env=env,
        )

    return run
