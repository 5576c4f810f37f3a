"""Runs that are over leave no traced graph behind, so a long lesson does not grow run after run."""

from __future__ import annotations

import gc
import os
import sys

import pytest
from engine_kit import lane, layer, make_spec

from gradviz.engine.control import RunControl
from gradviz.engine.graph_memory import python_heap, system_heap
from gradviz.engine.lessons import load_lesson
from gradviz.engine.trainer import iter_run, release_cached_run

pytestmark = pytest.mark.usefixtures("tf")


def traced_graphs() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def test_finished_runs_release_their_traced_graphs() -> None:
    from gradviz.engine.graph_memory import custom_gradient_names

    release_cached_run()
    graphs, gradients = traced_graphs(), custom_gradient_names()
    # Two shapes (so the second run cannot reuse the first's compiled functions) and a loss-surface race.
    for width in (5, 7):
        spec = make_spec([lane("sgd", [layer(width, "tanh"), layer(1)]),
                          lane("adam", [layer(width, "tanh"), layer(1)], {"name": "adam", "learning_rate": 0.01})],
                         {"name": "cubic", "n_samples": 32}, epochs=2, batch_size=16)
        assert len(list(iter_run(spec))) == 3
    assert len(list(iter_run(load_lesson("surface-ravine").spec.replace(epochs=2)))) == 3
    assert traced_graphs() > graphs  # the last run is kept for a quick Reset ...
    release_cached_run()
    assert traced_graphs() == graphs  # ... and once let go, nothing of any run is left
    assert custom_gradient_names() == gradients


# Python objects of a trace come from the C library's heap -----------------


def pymalloc_arenas() -> int:
    """pymalloc's arenas in use now (1 MiB each), from ``sys._debugmallocstats``."""
    import re
    import sys
    import tempfile

    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode()
    found = re.search(r"# arenas allocated current\s*=\s*([\d,]+)", text)
    assert found, "pymalloc statistics not found"
    return int(found.group(1).replace(",", ""))


def burst(n: int = 200_000, keep_every: int = 400) -> list:
    """What a trace does to memory: many short-lived objects, a few kept among them."""
    junk, kept = [], []
    for i in range(n):
        junk.append({"op": i, "inputs": [i]})
        if i % keep_every == 0:
            kept.append((i, f"name_{i}"))
    del junk
    return kept


needs_pymalloc = pytest.mark.skipif(
    sys.platform != "linux" or python_heap() != "pymalloc", reason="needs CPython's pymalloc on Linux"
)


@needs_pymalloc
def test_a_burst_in_the_system_heap_leaves_no_pymalloc_arena_pinned() -> None:
    gc.collect()
    before = pymalloc_arenas()
    kept = burst()
    pinned = pymalloc_arenas() - before
    del kept
    gc.collect()
    # The mechanism: with pymalloc, the few kept objects hold most of the burst's arenas.
    assert pinned >= 10

    before = pymalloc_arenas()
    with system_heap():
        assert python_heap() == "system"
        kept = burst()
    assert python_heap() == "pymalloc"
    assert pymalloc_arenas() - before <= 1
    assert [k for k, _ in kept[:3]] == [0, 400, 800]


@needs_pymalloc
def test_objects_cross_between_the_heaps_safely() -> None:
    # Made by pymalloc, grown and freed under the system heap, and the other way round.
    outside = [[i] for i in range(50_000)]
    text = bytearray(b"x" * 100)
    with system_heap():
        for item in outside:
            item.extend(range(20))  # realloc of a pymalloc block
        text.extend(b"y" * 10_000)
        inside = [{"k": i} for i in range(50_000)]
        del outside[::2]
    for item in inside:
        item.update(v=1, w=2, z=3)  # realloc of a system block by pymalloc's realloc
    del inside[::3]
    assert len(outside) == 25_000 and outside[0][:3] == [1, 0, 1]
    assert len(text) == 10_100 and len(inside) == 33_333 and inside[0] == {"k": 1, "v": 1, "w": 2, "z": 3}
    del outside, inside, text
    gc.collect()


@needs_pymalloc
def test_nested_and_concurrent_uses_restore_pymalloc_once_the_last_ends() -> None:
    import threading

    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with system_heap():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    with system_heap():
        with system_heap():
            pass
        assert python_heap() == "system"
    assert python_heap() == "system"  # the other thread's use goes on
    release.set()
    thread.join(10)
    assert python_heap() == "pymalloc"


@needs_pymalloc
def test_an_error_inside_still_restores_pymalloc() -> None:
    with pytest.raises(RuntimeError), system_heap():
        raise RuntimeError("boom")
    assert python_heap() == "pymalloc"


@needs_pymalloc
def test_under_tracemalloc_nothing_is_swapped() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        with system_heap():
            assert python_heap() == "hooked"
            made = [object() for _ in range(10)]
            assert tracemalloc.get_object_traceback(made[-1]) is not None  # still traced
        assert python_heap() == "hooked"
    finally:
        tracemalloc.stop()
    assert python_heap() == "pymalloc"


@needs_pymalloc
def test_runs_are_built_and_traced_in_the_system_heap_and_trained_in_pymalloc() -> None:
    heaps: dict[str, set[str]] = {}

    class Watching(RunControl):
        def report_preparation(self, stage: str, done: int, total: int, lanes: int) -> None:
            heaps.setdefault(stage, set()).add(python_heap())
            super().report_preparation(stage, done, total, lanes)

    release_cached_run()
    spec = make_spec([lane("sgd", [layer(4, "tanh"), layer(1)])], {"name": "cubic", "n_samples": 32},
                     epochs=3, batch_size=16)
    during = []
    for _report in iter_run(spec, Watching()):
        during.append(python_heap())
    assert heaps.keys() >= {"building", "tracing", "compiling"}
    assert all(found == {"system"} for found in heaps.values()), heaps
    assert during == ["pymalloc"] * 4  # the reports, and the epochs between them
    # A stop while tracing (an exception through the trace) leaves pymalloc in place too.
    stopping = Watching()
    stopping.stop()
    assert list(iter_run(spec.replace(seed=5, batch_size=8), stopping)) == []
    assert python_heap() == "pymalloc"
    release_cached_run()


@needs_pymalloc
def test_tracemalloc_started_during_the_swap_does_not_leave_the_system_heap_for_good() -> None:
    import tracemalloc

    with system_heap():
        tracemalloc.start()
    try:
        assert python_heap() == "hooked"  # not ours to change while it is there
    finally:
        tracemalloc.stop()  # puts back what it found: the system heap
    assert python_heap() == "system"
    with system_heap():
        pass
    assert python_heap() == "pymalloc"


def test_no_swap_where_objects_may_come_from_mimalloc(monkeypatch) -> None:
    from gradviz.engine import graph_memory

    monkeypatch.setenv("PYTHONMALLOC", "mimalloc")
    if not sys.flags.ignore_environment:
        assert not graph_memory._swap_is_safe()
