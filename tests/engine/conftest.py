"""Engine test fixtures: TensorFlow configured once, the way the app configures it."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def tf() -> ModuleType:
    """TensorFlow imported through the engine's runtime (single-threaded, oneDNN off)."""
    from gradviz.engine.runtime import import_tensorflow

    return import_tensorflow()
