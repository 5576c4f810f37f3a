"""Saved sessions: a save → open round trip reproduces every number; bad files are refused by name."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from engine_kit import lane, layer, make_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradviz.engine.control import RunControl
from gradviz.engine.history import RunHistory
from gradviz.engine.lessons import load_lesson
from gradviz.engine.session import (
    SCHEMA_VERSION,
    SessionError,
    load_session,
    save_session,
    snapshot_session,
    write_session,
)


def _record(spec, control=None, **kwargs) -> RunHistory:
    from gradviz.engine.trainer import iter_run

    history = None
    for report in iter_run(spec, control, **kwargs):
        if history is None:
            history = RunHistory(report.layout)
        history.append(report)
    assert history is not None
    return history


@pytest.fixture(scope="module")
def race(tf: ModuleType) -> RunHistory:
    """A short run with a live edit and one lane that diverges (NaN and inf in the records)."""
    spec = make_spec(
        [lane("SGD", [layer(8, "tanh"), layer(1)]),
         lane("Adam", [layer(8, "relu", "he_normal"), layer(1)], {"name": "adam", "learning_rate": 0.01}),
         lane("Wild", [layer(8, "tanh"), layer(1)], {"name": "sgd", "learning_rate": 50.0})],
        epochs=6, shuffle=True,
    )
    control = RunControl()
    control.set_hyperparameter(0, "learning_rate", 0.1)
    return _record(spec, control)


def _assert_same(a: RunHistory, b: RunHistory) -> None:
    assert b.layout.spec == a.layout.spec
    assert (b.first_epoch, b.last_epoch, len(b)) == (a.first_epoch, a.last_epoch, len(a))
    for name, value in a.arrays().items():
        np.testing.assert_array_equal(b.arrays()[name], value, err_msg=name)
    for name in ("hist_edges", "data_x", "data_y", "grid_x", "jacobian_x"):
        x, y = getattr(a.layout, name), getattr(b.layout, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(y, x, err_msg=name)
    assert b.layout.layer_counts == a.layout.layer_counts
    assert b.layout.activations == a.layout.activations
    assert b.layout.epochs == a.layout.epochs
    def edits(h: RunHistory) -> list[tuple]:
        return [(e.epoch, e.lane, e.name, e.value) for e in h.edits]

    assert edits(b) == edits(a)
    assert b.weights_epoch == a.weights_epoch
    for la, lb in zip(a.weights, b.weights):
        for wa, wb in zip(la, lb):
            np.testing.assert_array_equal(wb, wa)


def test_round_trip_reproduces_every_number(race: RunHistory, tmp_path: Path) -> None:
    assert race.diverged[2, -1] and race.edits  # the cases worth saving are really in it
    path = save_session(tmp_path / "race.gradviz", race)
    session = load_session(path)
    _assert_same(race, session.history)
    resume = session.resume()
    assert resume is not None and resume.epoch == race.last_epoch
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("session.json"))
    assert meta["schema_version"] == SCHEMA_VERSION and meta["epochs_recorded"] == 7


def test_a_snapshot_keeps_the_epochs_recorded_when_it_was_taken_while_the_run_goes_on(
        tf: ModuleType, tmp_path: Path) -> None:
    from gradviz.engine.trainer import iter_run

    spec = make_spec([lane("SGD", [layer(8, "tanh"), layer(1)])], epochs=30)
    reports = list(iter_run(spec))
    live = RunHistory(reports[0].layout, capacity=16)  # grows (new arrays) at epoch 16, after the snapshot
    then = RunHistory(reports[0].layout)
    for report in reports[:11]:
        live.append(report)
        then.append(report)
    snapshot = snapshot_session(live, "race")
    for report in reports[11:]:
        live.append(report)  # what the GUI thread does while another thread writes the snapshot
    assert live.last_epoch == 30

    written = load_session(write_session(tmp_path / "snap.gradviz", snapshot)).history
    _assert_same(then, written)
    assert all(not a.flags.writeable for a in snapshot.arrays.values() if a.ndim)


def test_surface_race_round_trip(tf: ModuleType, tmp_path: Path) -> None:
    history = _record(load_lesson("surface-ravine").spec.replace(epochs=8))
    session = load_session(save_session(tmp_path / "ravine.gradviz", history))
    _assert_same(history, session.history)
    assert session.history.layout.surface == history.layout.surface
    np.testing.assert_array_equal(session.history.positions, history.positions)


def test_continued_history_joins_the_recorded_one(tf: ModuleType, tmp_path: Path) -> None:
    from gradviz.engine.trainer import iter_run

    spec = make_spec([lane("SGD", [layer(4, "tanh"), layer(1)])], epochs=3, shuffle=True)
    first = load_session(save_session(tmp_path / "a.gradviz", _record(spec)))
    straight = _record(spec.replace(epochs=5))
    joined = None
    for report in iter_run(spec.replace(epochs=2), resume=first.resume()):
        if joined is None:
            joined = first.history.continued(report.layout)
            continue
        joined.append(report)
    assert joined is not None and joined.last_epoch == 5 and joined.layout.epochs == 5
    np.testing.assert_allclose(joined.loss, straight.loss, rtol=1e-5)
    np.testing.assert_allclose(joined.layer("grad_norm"), straight.layer("grad_norm"), rtol=1e-4)


def test_opening_a_session_imports_no_tensorflow(race: RunHistory, tmp_path: Path) -> None:
    path = save_session(tmp_path / "race.gradviz", race)
    code = (
        "import sys\n"
        "from gradviz.engine.session import load_session\n"
        "from gradviz.engine.diagnostics import diagnose\n"
        "from gradviz.engine.export import write_run_files\n"
        f"s = load_session({str(path)!r})\n"
        "diagnose(s.history)\n"
        f"write_run_files(s.history, {str(tmp_path / 'out')!r})\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print(len(s.history), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["7", "[]"]


def test_save_refuses_an_unwritable_place_and_keeps_the_old_file(race: RunHistory, tmp_path: Path) -> None:
    target = tmp_path / "kept.gradviz"
    target.write_bytes(b"the previous session")
    with pytest.raises(SessionError, match=r"cannot write session .*missing"):
        save_session(tmp_path / "missing" / "x.gradviz", race)
    empty = RunHistory(race.layout)
    with pytest.raises(SessionError, match="nothing to save"):
        save_session(target, empty)
    assert target.read_bytes() == b"the previous session"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.gradviz"]  # no temporary left behind


def _rewrite(src: Path, dst: Path, change) -> Path:
    with zipfile.ZipFile(src) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    change(members)
    with zipfile.ZipFile(dst, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return dst


def _meta_change(**changes):
    def change(members):
        meta = json.loads(members["session.json"])
        meta.update(changes)
        members["session.json"] = json.dumps(meta).encode()
    return change


def _npz_change(member, **arrays):
    def change(members):
        with np.load(io.BytesIO(members[member])) as npz:
            data = {k: npz[k] for k in npz.files}
        data.update(arrays)
        out = io.BytesIO()
        np.savez(out, **data)
        members[member] = out.getvalue()
    return change


def _patch(path: Path, old: bytes, new: bytes) -> Path:
    """Replace bytes inside a stored (uncompressed) member, keeping the archive readable."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    inner = io.BytesIO(members["history.npz"])
    with zipfile.ZipFile(inner) as z:
        arrays = {info.filename: z.read(info.filename) for info in z.infolist()}
    assert old in arrays["seconds.npy"]
    arrays["seconds.npy"] = arrays["seconds.npy"].replace(old, new.ljust(len(old)) if len(new) < len(old) else new)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for key, value in arrays.items():
            z.writestr(key, value)
    members["history.npz"] = out.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in members.items():
            archive.writestr(key, value)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_SESSIONS = {
    "not a zip": (lambda good, p: _write(p, b"hello"), "is not a gradviz session, or it is damaged"),
    "empty": (lambda good, p: _write(p, b""), "is not a gradviz session, or it is damaged"),
    "truncated": (lambda good, p: _write(p, good.read_bytes()[: good.stat().st_size // 2]),
                  "is not a gradviz session, or it is damaged or truncated"),
    "other zip": (lambda good, p: _rewrite(good, p, lambda m: [m.clear(), m.update({"a.txt": b"x"})]),
                  "not a gradviz session .it has no session.json"),
    "newer schema": (lambda good, p: _rewrite(good, p, _meta_change(schema_version=99, gradviz_version="9.0")),
                     r"was saved by gradviz 9.0 \(schema 99\); .* Update gradviz"),
    "escaping member": (lambda good, p: _rewrite(good, p, lambda m: m.update({"../evil.sh": b"rm -rf"})),
                        "unexpected member '../evil.sh'"),
    "NaN in json": (lambda good, p: _rewrite(good, p, lambda m: m.update(
        {"session.json": m["session.json"].replace(b'"first_epoch": 0', b'"first_epoch": NaN')})),
        "session.json is not valid JSON .NaN is not allowed"),
    "bad spec": (lambda good, p: _rewrite(good, p, _meta_change(spec={"lanes": []})),
                 "holds a spec that cannot be used"),
    "wrong count": (lambda good, p: _rewrite(good, p, _meta_change(epochs_recorded=3)), "says 3 epochs but holds 7"),
    "wrong shape": (lambda good, p: _rewrite(good, p, _npz_change("history.npz", loss=np.zeros((7, 2)))),
                    r"the array 'loss' has shape \(7, 2\), not \(7, 3\)"),
    "pickled array": (lambda good, p: _rewrite(
        good, p, _npz_change("history.npz", seconds=np.array([{"x": 1}] * 7, dtype=object))),
        "history.npz cannot be read .seconds.npy holds Python objects"),
    "missing history": (lambda good, p: _rewrite(good, p, lambda m: m.pop("history.npz")),
                        "incomplete: history.npz is missing"),
    "huge array header": (lambda good, p: _rewrite(good, p, _npz_change("history.npz", seconds=np.zeros(7))) and _patch(
        p, b"'shape': (7,)", b"'shape': (4000000000,)"), "claims shape .4000000000,., more than it holds"),
    "nested json": (lambda good, p: _rewrite(good, p, lambda m: m.update({"session.json": b"[" * 100_000})),
                    "is damaged: RecursionError"),
    "epochs beyond the limit": (lambda good, p: _rewrite(good, p, _meta_change(start_epoch=10**12)),
                                "its epochs go beyond 1,000,000"),
    "weights misfit": (lambda good, p: _rewrite(good, p, _npz_change("weights.npz", **{"lane0.0": np.zeros((3, 3))})),
                       "its weights do not fit its lanes"),
}


@pytest.mark.parametrize("case", sorted(BAD_SESSIONS))
def test_bad_sessions_are_refused_with_a_message(case: str, race: RunHistory, tmp_path: Path) -> None:
    make, message = BAD_SESSIONS[case]
    good = save_session(tmp_path / "good.gradviz", race)
    bad = make(good, tmp_path / "bad.gradviz")
    with pytest.raises(SessionError, match=message):
        load_session(bad)


def test_files_that_cannot_be_sessions(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="does not exist"):
        load_session(tmp_path / "nope.gradviz")
    with pytest.raises(SessionError, match="is a folder"):
        load_session(tmp_path)
    huge = tmp_path / "huge.gradviz"
    with huge.open("wb") as fh:
        fh.truncate(2 << 30)  # sparse: 2 GiB on paper, nothing on disk
    with pytest.raises(SessionError, match="at most 1,073,741,824 are read"):
        load_session(huge)


def test_a_session_too_large_to_open_is_not_written_and_the_old_file_stays(
        race: RunHistory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradviz.engine.session as session_module

    target = save_session(tmp_path / "s.gradviz", race)
    before = target.read_bytes()
    monkeypatch.setattr(session_module, "MAX_SESSION_BYTES", len(before) // 2)
    with pytest.raises(SessionError, match=r"more than the .* gradviz opens; save a shorter run"):
        save_session(target, race)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.gradviz"]  # no temporary file left


def test_a_failed_write_leaves_the_previous_session_whole(race: RunHistory, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    target = save_session(tmp_path / "s.gradviz", race)
    before = target.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)  # the disk fills up while the new file is written
    with pytest.raises(SessionError, match="No space left on device"):
        save_session(target, race)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.gradviz"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_bytes_never_raise_anything_but_a_session_error(race: RunHistory, tmp_path: Path, data) -> None:
    good = tmp_path / "good.gradviz"
    if not good.exists():
        save_session(good, race)
    raw = bytearray(good.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(1, len(raw)))]
    bad = tmp_path / "bad.gradviz"
    bad.write_bytes(bytes(raw))
    try:
        session = load_session(bad)
    except SessionError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:  # a change the checksums cannot see (e.g. in a zip comment) opens a whole session
        assert len(session.history) == len(race)


def test_saved_files_are_as_readable_as_any_file_the_user_saves(race: RunHistory, tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        fresh = save_session(tmp_path / "new.gradviz", race)
        assert fresh.stat().st_mode & 0o777 == 0o644  # not mkstemp's owner-only 0o600
        fresh.chmod(0o640)
        save_session(fresh, race)  # replacing a file keeps its permissions
        assert fresh.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
