"""Assertions shared by the CLI tests."""

from __future__ import annotations


def assert_one_error_line(stderr: str, *fragments: str) -> str:
    """stderr is exactly one ``gradviz: error:`` line holding every fragment; returns it."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gradviz: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]
