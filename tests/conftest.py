"""Test-wide set-up: offscreen Qt, quiet single-threaded TensorFlow."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Before any Qt or TensorFlow import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test, and every gradviz process it starts, uses a settings file of its own, never the user's."""
    folder = tmp_path_factory.mktemp("settings")
    path = folder / "gradviz.ini"
    monkeypatch.setenv("GRADVIZ_SETTINGS", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))  # anything else Qt keeps in the user's config folder
    if "PySide6.QtCore" in sys.modules:
        from PySide6.QtCore import QSettings

        for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
            QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))
    return path
