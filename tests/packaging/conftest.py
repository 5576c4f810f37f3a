"""Tests marked ``packaging`` build the PyInstaller bundle (minutes, about 1 GB of disk).

They are skipped unless the marker is selected: ``pytest -m packaging``.
"""

from __future__ import annotations

import re

import pytest


def _packaging_selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    # "packaging", "packaging and not slow" ... select it; "not packaging" does not.
    return re.search(r"(?<!not )\bpackaging\b", markexpr) is not None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("packaging") is not None and not _packaging_selected(item.config):
        pytest.skip("builds the PyInstaller bundle; run with -m packaging")
