"""Saved sessions: a run's spec and every recorded epoch, in one ``.gradviz`` file.

A session file is a zip archive of three members, read in memory (nothing
is ever extracted to disk, and no member can name a path):

``session.json``
    ``schema_version``, the gradviz version that wrote it, the spec, the
    epochs recorded and the live edits.  Non-finite numbers are ``null``.
``history.npz``
    Every recorded array (see :meth:`RunHistory.arrays`) and the run's data,
    histogram bins and probe inputs.  Read with ``allow_pickle=False``.
``weights.npz``
    Each lane's weights at ``weights_epoch``, for *Continue training*.
    Optional: a session without it replays but cannot continue.

Opening a session needs numpy and the standard library only, never
TensorFlow: a slow classroom laptop can show a run prepared at home.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradviz import __version__
from gradviz.engine.errors import SpecError
from gradviz.engine.files import atomic_writer, checked_input_file
from gradviz.engine.history import RunHistory
from gradviz.engine.report import HyperparameterEdit, RunLayout, lane_layers, read_only
from gradviz.engine.resume import Resume, check_resume
from gradviz.engine.spec import Limits, RunSpec
from gradviz.engine.surfaces import SURFACES, SurfaceInfo

__all__ = [
    "MAX_SESSION_BYTES",
    "SCHEMA_VERSION",
    "SUFFIX",
    "Session",
    "SessionError",
    "SessionSnapshot",
    "load_session",
    "save_session",
    "snapshot_session",
    "write_session",
]

SCHEMA_VERSION = 1
SUFFIX = ".gradviz"
# A 20 000-epoch race is a few MB; the bound only stops a wrong file from
# being read into memory.
MAX_SESSION_BYTES = 1 << 30
MAX_UNPACKED_BYTES = 4 << 30
_MEMBERS = ("session.json", "history.npz", "weights.npz")
_REQUIRED = ("session.json", "history.npz")
_LAYOUT_ARRAYS = ("hist_edges", "data_x", "data_y", "grid_x", "jacobian_x")


class SessionError(SpecError):
    """A session file that cannot be saved or opened; the message names the file and the problem."""

    def __init__(self, problem: str) -> None:
        super().__init__("", problem)


@dataclass(frozen=True, eq=False)
class Session:
    """An opened session.

    Attributes
    ----------
    history
        Every recorded epoch, with the run's layout (and spec).
    gradviz_version
        The version of gradviz that saved it.
    lesson
        The name of the lesson the run was made in, if any (its words go with it).
    """

    history: RunHistory
    gradviz_version: str
    lesson: str | None = None

    @property
    def spec(self) -> RunSpec:
        return self.history.layout.spec

    def resume(self) -> Resume | None:
        """Where *Continue training* picks up; ``None`` if the session holds no weights of its last epoch."""
        return self.history.resume()


# saving ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """What :func:`write_session` writes, copied out of a history.

    Taking it is quick (views of the recorded rows, which never change);
    writing it (compressing tens of megabytes for a long run) is not, and can
    happen on another thread while the run goes on.
    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] | None
    epochs: int


def snapshot_session(history: RunHistory, lesson: str | None = None) -> SessionSnapshot:
    """Copy what a session of ``history`` holds (see :func:`save_session`).

    Raises
    ------
    SessionError
        If nothing is recorded yet.
    """
    if not len(history):
        raise SessionError("there is nothing to save yet: the run has no recorded epoch")
    layout = history.layout
    meta = {
        "schema_version": SCHEMA_VERSION,
        "app": "gradviz",
        "gradviz_version": __version__,
        "lesson": lesson,
        "spec": layout.spec.to_json(),
        "start_epoch": layout.start_epoch,
        "first_epoch": history.first_epoch,
        "epochs_recorded": len(history),
        "weights_epoch": history.weights_epoch if history.weights is not None else None,
        "edits": [
            {"epoch": e.epoch, "lane": e.lane, "name": e.name, "value": _finite(e.value),
             "previous": _finite(e.previous)}
            for e in history.edits
        ],
    }
    arrays = history.recorded_views()
    for name in _LAYOUT_ARRAYS:
        value = getattr(layout, name)
        if value is not None:
            arrays[f"layout.{name}"] = np.asarray(value)  # read-only, like the weights: nothing to copy
    weights = None
    if history.weights is not None:
        weights = {f"lane{i}.{j}": np.asarray(w) for i, lane in enumerate(history.weights) for j, w in enumerate(lane)}
    return SessionSnapshot(meta, arrays, weights, len(history))


def write_session(path: str | Path, snapshot: SessionSnapshot) -> Path:
    """Write ``snapshot`` to ``path`` as a session, atomically: the complete new file or the old one untouched.

    Raises
    ------
    SessionError
        If the file cannot be written or would be too large to open.
    """
    path = Path(path).expanduser()
    try:
        # Straight into the file, with no whole-file copies in memory: a copy
        # holds Python's lock, which would stall the window for its duration.
        with atomic_writer(path) as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as archive:
                text = json.dumps(snapshot.meta, indent=1, allow_nan=False, ensure_ascii=False)
                archive.writestr("session.json", text)
                archive.writestr("history.npz", _npz(snapshot.arrays))
                if snapshot.weights is not None:
                    archive.writestr("weights.npz", _npz(snapshot.weights))
            if fh.tell() > MAX_SESSION_BYTES:  # the old file stays
                raise SessionError(f"the session would be {fh.tell():,} bytes, more than the "
                                   f"{MAX_SESSION_BYTES:,} gradviz opens; save a shorter run")
    except OSError as exc:
        raise SessionError(f"cannot write session {str(path)!r}: {exc.strerror or exc}") from None
    return path


def save_session(path: str | Path, history: RunHistory, lesson: str | None = None) -> Path:
    """Write ``history`` (and its last weights, if recorded) to ``path`` as a session.

    ``lesson`` names the lesson the run was made in, so opening the session
    shows that lesson's explanation.

    The file is replaced atomically: it is the complete new session or untouched.

    Raises
    ------
    SessionError
        If nothing is recorded yet or the file cannot be written.
    """
    return write_session(path, snapshot_session(history, lesson))


def _npz(arrays: dict[str, np.ndarray]) -> memoryview:
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getbuffer()  # not getvalue(): no copy


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# opening ------------------------------------------------------------------------


def load_session(path: str | Path) -> Session:
    """Open a session file without importing TensorFlow.

    Raises
    ------
    SessionError
        If the file does not exist, is not a session, is damaged or
        truncated, or was saved by a newer gradviz; the message says which.
    """
    try:
        path = checked_input_file(path, "", "session file", MAX_SESSION_BYTES)
    except SpecError as exc:
        raise SessionError(exc.problem) from None
    name = repr(str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            members = _check_members(archive, name)
            meta = _read_meta(archive.read("session.json"), name)
            arrays = _read_npz(archive.read("history.npz"), name, "history.npz")
            weights = _read_npz(archive.read("weights.npz"), name, "weights.npz") if "weights.npz" in members else {}
    except zipfile.BadZipFile:
        raise SessionError(f"{name} is not a gradviz session, or it is damaged or truncated") from None
    except OSError as exc:
        raise SessionError(f"cannot read session {name}: {exc.strerror or exc}") from None
    except (zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError, RuntimeError, MemoryError) as exc:
        # RuntimeError: e.g. a member flagged as encrypted; RecursionError (one) from absurdly nested JSON.
        if isinstance(exc, SessionError):
            raise
        raise SessionError(f"session {name} is damaged: {type(exc).__name__}: {exc}") from None
    return _build(meta, arrays, weights, name)


def _check_members(archive: zipfile.ZipFile, name: str) -> set[str]:
    infos = archive.infolist()
    members = {info.filename for info in infos}
    if "session.json" not in members:
        raise SessionError(f"{name} is not a gradviz session (it has no session.json)")
    for info in infos:
        if info.filename not in _MEMBERS:
            raise SessionError(f"session {name} holds an unexpected member {info.filename!r}; it is not opened")
    missing = [m for m in _REQUIRED if m not in members]
    if missing:
        raise SessionError(f"session {name} is incomplete: {', '.join(missing)} is missing")
    if len(infos) != len(members):
        raise SessionError(f"session {name} holds a member twice; it is not opened")
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        raise SessionError(f"session {name} unpacks to more than {MAX_UNPACKED_BYTES:,} bytes; it is not opened")
    return members


def _reject_constant(token: str) -> None:
    raise ValueError(f"{token} is not allowed")


def _read_meta(raw: bytes, name: str) -> dict[str, Any]:
    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SessionError(f"session {name} is damaged: session.json is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("app") != "gradviz":
        raise SessionError(f"{name} is not a gradviz session")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SessionError(f"session {name} is damaged: schema_version is {version!r}")
    if version > SCHEMA_VERSION:
        saved_with = meta.get("gradviz_version", "a newer version")
        raise SessionError(
            f"session {name} was saved by gradviz {saved_with} (schema {version}); this gradviz "
            f"({__version__}) reads schema {SCHEMA_VERSION}. Update gradviz to open it."
        )
    return meta


def _read_npz(raw: bytes, name: str, member: str) -> dict[str, np.ndarray]:
    # Check the inner archive's sizes before numpy reads anything from it.
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            if sum(info.file_size for info in inner.infolist()) > MAX_UNPACKED_BYTES:
                raise SessionError(f"session {name}: {member} unpacks to more than {MAX_UNPACKED_BYTES:,} bytes")
            return {info.filename.removesuffix(".npy"): _read_npy(inner, info) for info in inner.infolist()}
    except SessionError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise SessionError(f"session {name} is damaged: {member} cannot be read ({exc})") from None


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One array of an ``.npz``, once its header's shape is known to fit the bytes stored.

    ``np.load`` allocates what the header claims before reading: a damaged
    header could ask for terabytes.
    """
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{info.filename} has npy format {version}")
        if dtype.hasobject:
            raise ValueError(f"{info.filename} holds Python objects, which are never loaded")
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise ValueError(f"{info.filename} claims shape {shape}, more than it holds")
    with archive.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _int_field(meta: dict[str, Any], key: str, name: str, allow_none: bool = False) -> int | None:
    value = meta.get(key)
    if value is None and allow_none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SessionError(f"session {name} is damaged: {key} is {value!r}")
    return value


def _build(meta: dict[str, Any], arrays: dict[str, np.ndarray], weights: dict[str, np.ndarray],
           name: str) -> Session:
    try:
        spec = RunSpec.from_json(meta.get("spec"))
    except SpecError as exc:
        raise SessionError(f"session {name} holds a spec that cannot be used: {exc}") from None
    start_epoch = _int_field(meta, "start_epoch", name)
    first_epoch = _int_field(meta, "first_epoch", name)
    recorded = _int_field(meta, "epochs_recorded", name)
    weights_epoch = _int_field(meta, "weights_epoch", name, allow_none=True)
    assert start_epoch is not None and first_epoch is not None and recorded is not None
    if recorded < 1:
        raise SessionError(f"session {name} holds no recorded epoch")
    if max(start_epoch, first_epoch + recorded, start_epoch + spec.epochs) > Limits.MAX_EPOCHS:
        raise SessionError(f"session {name} is damaged: its epochs go beyond {Limits.MAX_EPOCHS:,}")
    try:
        layout = _layout(spec, arrays, start_epoch)
        edits = [_edit(e) for e in meta.get("edits", [])]
        history = RunHistory.from_arrays(layout, arrays, first_epoch, edits)
    except (ValueError, TypeError, KeyError) as exc:
        raise SessionError(f"session {name} is damaged: {exc}") from None
    if len(history) != recorded:
        raise SessionError(f"session {name} is damaged: it says {recorded} epochs but holds {len(history)}")
    if weights:
        if weights_epoch is None:
            raise SessionError(f"session {name} is damaged: weights.npz has no weights_epoch")
        history.weights = _lane_weights(spec, weights, name)
        history.weights_epoch = weights_epoch
    lesson = meta.get("lesson")
    return Session(history, str(meta.get("gradviz_version", "")), lesson if isinstance(lesson, str) else None)


def _layout(spec: RunSpec, arrays: dict[str, np.ndarray], start_epoch: int) -> RunLayout:
    """The run's layout, from its spec and the arrays the trainer measured (no TensorFlow)."""

    def array(key: str, required: bool = True) -> np.ndarray | None:
        value = arrays.pop(f"layout.{key}", None)
        if value is None:
            if required:
                raise ValueError(f"the array 'layout.{key}' is missing")
            return None
        if value.dtype.kind not in "iuf":
            raise ValueError(f"the array 'layout.{key}' holds {value.dtype}, not numbers")
        return read_only(value)

    surface = None
    if spec.problem is not None:
        s = SURFACES[spec.problem.function]
        surface = SurfaceInfo(s.name, s.formula, spec.problem.start, s.bounds, s.minima)
    counts, activations = lane_layers(spec)
    layout = RunLayout(
        spec=spec,
        lane_names=spec.lane_names,
        layer_counts=counts,
        activations=activations,
        hist_edges=array("hist_edges"),
        data_x=array("data_x"),
        data_y=array("data_y"),
        grid_x=array("grid_x", required=False),
        jacobian_x=array("jacobian_x", required=False),
        surface=surface,
        start_epoch=start_epoch,
    )
    expected_edges = (layout.n_lanes, layout.max_layers)
    if layout.hist_edges.shape[:2] != expected_edges:
        raise ValueError(f"the histogram edges have shape {layout.hist_edges.shape}, not {expected_edges} × bins")
    return layout


def _edit(data: Any) -> HyperparameterEdit:
    if not isinstance(data, dict):
        raise TypeError(f"an edit is {type(data).__name__}, not an object")
    value, previous = data["value"], data["previous"]
    for v in (value, previous):
        if v is not None and not isinstance(v, int | float | bool):
            raise TypeError(f"an edit's value is {v!r}")
    return HyperparameterEdit(int(data["epoch"]), int(data["lane"]), str(data["name"]),
                              math.nan if value is None else value, previous)


def _lane_weights(spec: RunSpec, weights: dict[str, np.ndarray], name: str) -> tuple[tuple[np.ndarray, ...], ...]:
    lanes = []
    for i in range(len(spec.lanes)):
        j, lane = 0, []
        while f"lane{i}.{j}" in weights:
            w = weights[f"lane{i}.{j}"]
            if w.dtype.kind != "f":
                raise SessionError(f"session {name} is damaged: weights of lane {i} hold {w.dtype}")
            lane.append(read_only(w, np.float32))
            j += 1
        lanes.append(tuple(lane))
    result = tuple(lanes)
    try:
        check_resume(spec, Resume(0, result))
    except SpecError as exc:
        raise SessionError(f"session {name} is damaged: its weights do not fit its lanes ({exc})") from None
    return result
