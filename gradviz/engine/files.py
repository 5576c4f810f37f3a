"""Writing files so that a crash or a full disk never leaves half a file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gradviz.engine.errors import SpecError

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer", "checked_input_file", "give_new_file_mode"]

# The process's umask, read once (reading it means setting it, which is not
# thread-safe later on).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def give_new_file_mode(fd: int, path: str | Path) -> None:
    """Give a temporary file the permissions ``path`` has, or a new file would get.

    ``mkstemp`` makes files only their owner can read; a handout or session
    written through one must be as readable as any other file the user saves.
    """
    try:
        mode = Path(path).stat().st_mode & 0o7777
    except OSError:
        mode = 0o666 & ~_UMASK
    os.fchmod(fd, mode)


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file whose contents replace ``path`` when the block ends without an exception.

    It is a temporary file beside ``path`` until then (removed on an
    exception), so the target is either the complete new file or untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        give_new_file_mode(fd, path)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (see :func:`atomic_writer`)."""
    with atomic_writer(path) as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def checked_input_file(path: str | Path, field: str, what: str, max_bytes: int) -> Path:
    """``path`` with ``~`` expanded, once it is known to be a readable file of at most ``max_bytes``.

    Every failure is a :class:`SpecError` on ``field`` that names the file
    as ``what`` ("spec file", "CSV file" ...), so nothing is read that
    cannot be used.
    """
    try:
        path = Path(path).expanduser()
    except RuntimeError:
        raise SpecError(field, f"cannot expand {str(path)!r}: no such user") from None
    name = repr(str(path))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError(field, f"{what} {name} does not exist") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError(field, f"cannot read {what} {name}: {reason}") from None
    if path.is_dir():
        raise SpecError(field, f"{name} is a folder, not a {what}")
    if size > max_bytes:
        raise SpecError(field, f"{what} {name} is {size:,} bytes; at most {max_bytes:,} are read")
    return path
