"""Letting go of traced graphs that TensorFlow would otherwise keep for ever.

Keras's TensorFlow optimizer sums gradients across replicas with
``all_reduce``, which in graph mode is a ``tf.custom_gradient``: every trace
registers a gradient function, named ``CustomGradient-<n>``, in TensorFlow's
process-wide gradient registry, and never removes it.  That function's
closure holds the traced graph, so every run's compiled functions (tens of
megabytes, hundreds for the lab's 36 lanes) stayed in memory after the run
was discarded: a long lesson grew by gigabytes.

The registered functions are only looked up when a graph differentiates
*through* an optimizer step, which gradviz never does, so once a run's
graphs are traced its entries can go when the run does.  Once the window
has collected them, :func:`return_free_memory` hands the memory back to the
system, so its footprint follows the lesson on screen rather than the largest
one shown so far.

Python's own small-object allocator (pymalloc) cannot do that for the Python
objects of a trace: it returns memory to the system one 1 MiB arena at a time,
and only once every block in the arena is free.  A trace creates tens of
megabytes of short-lived objects (the lab's: about 40), and TensorFlow's C
code allocates and keeps a few small objects meanwhile, one or two in each
new arena, so after the lab about 40 arenas stayed resident for good.
:func:`system_heap` has the objects created while a run is built and traced
allocated by the C library instead, whose free pages go back to the system
one page at a time.
"""

from __future__ import annotations

import ctypes
import os
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["custom_gradient_names", "forget_custom_gradients", "python_heap", "return_free_memory", "system_heap"]

_PREFIX = "CustomGradient-"


def _registry() -> dict | None:
    # A private TensorFlow table; if a future version moves it, nothing is freed and nothing breaks.
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> frozenset[str]:
    """The custom gradients registered so far (take this before tracing a run)."""
    registry = _registry()
    if registry is None:
        return frozenset()
    return frozenset(name for name in list(registry) if name.startswith(_PREFIX))


def forget_custom_gradients(known: frozenset[str]) -> int:
    """Unregister the custom gradients registered since ``known`` was taken; returns how many."""
    registry = _registry()
    if registry is None:
        return 0
    stale = [name for name in list(registry) if name.startswith(_PREFIX) and name not in known]
    for name in stale:
        registry.pop(name, None)
    return len(stale)


def return_free_memory() -> None:
    """Hand memory freed by a discarded run back to the system (glibc only; elsewhere nothing).

    glibc keeps freed heap pages for reuse, so after the lab (over 700 MB of
    graphs) the window's footprint stayed that high for many runs.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # another C library (musl): nothing to do
        pass


class _Allocator(ctypes.Structure):
    """CPython's ``PyMemAllocatorEx``: a context pointer and four C functions."""

    _fields_ = [("ctx", ctypes.c_void_p), ("malloc", ctypes.c_void_p), ("calloc", ctypes.c_void_p),
                ("realloc", ctypes.c_void_p), ("free", ctypes.c_void_p)]


_RAW, _MEM, _OBJ = 0, 1, 2  # PyMemAllocatorDomain
_DOMAINS = (_MEM, _OBJ)
_heap_lock = threading.Lock()
_heap_users = 0
_pymalloc: dict[int, _Allocator] | None = None  # pymalloc's own, once seen
_swapped = False  # whether the current use installed the system heap


def _get_allocator(domain: int) -> _Allocator:
    allocator = _Allocator()
    ctypes.pythonapi.PyMem_GetAllocator(ctypes.c_int(domain), ctypes.byref(allocator))
    return allocator


def _has_allocator_api() -> bool:
    return all(hasattr(ctypes.pythonapi, name) for name in ("PyMem_GetAllocator", "PyMem_SetAllocator"))


def _set_allocator(domain: int, allocator: _Allocator) -> None:
    ctypes.pythonapi.PyMem_SetAllocator(ctypes.c_int(domain), ctypes.byref(allocator))


def _same(a: _Allocator, b: _Allocator) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name, _ in _Allocator._fields_)


def _swap_is_safe() -> bool:
    """Whether the object allocator can be pymalloc here (the one whose free takes any block)."""
    if not sys.platform.startswith("linux") or sys.implementation.name != "cpython" or not _has_allocator_api():
        return False
    # Checked on 3.10 to 3.13.  A free-threaded build, or PYTHONMALLOC=mimalloc,
    # allocates objects with mimalloc, whose free must not see another heap's blocks.
    try:
        free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    except Exception:  # a frozen interpreter without its build configuration: unknown, so no
        return False
    if sys.version_info >= (3, 14) or free_threaded:
        return False
    setting = os.environ.get("PYTHONMALLOC", "") if not sys.flags.ignore_environment else ""
    return setting in ("", "pymalloc", "default")


def _find_pymalloc() -> dict[int, _Allocator] | None:
    """pymalloc's allocators if they are installed now, untouched; else None (see system_heap)."""
    global _pymalloc
    if _pymalloc is None and _swap_is_safe():
        raw = _get_allocator(_RAW)
        current = {domain: _get_allocator(domain) for domain in _DOMAINS}
        # A context means something wraps the allocator (tracemalloc, the debug
        # hooks of PYTHONMALLOC=debug or -X dev); the raw allocator's own
        # functions mean PYTHONMALLOC=malloc.  Leave those alone.
        if not raw.ctx and all(not a.ctx and a.malloc != raw.malloc for a in current.values()):
            _pymalloc = current
    return _pymalloc


def _system_heap_of(pymalloc: _Allocator) -> _Allocator:
    # New blocks from the C library; pymalloc's free and realloc stay, because
    # they hand any block outside pymalloc's arenas to the C library: a block
    # from either side is freed correctly whichever allocator is installed.
    raw = _get_allocator(_RAW)
    return _Allocator(None, raw.malloc, raw.calloc, pymalloc.realloc, pymalloc.free)


def python_heap() -> str:
    """Where Python's objects come from now.

    ``"pymalloc"``, ``"system"`` (the C library's malloc), ``"hooked"``
    (something wraps the allocator: tracemalloc, debug hooks) or ``"other"``
    (an allocator this module does not swap, such as mimalloc).
    """
    if not _has_allocator_api():
        return "other"
    raw, objects = _get_allocator(_RAW), _get_allocator(_OBJ)
    if objects.ctx:
        return "hooked"
    if objects.malloc == raw.malloc:
        return "system"
    return "pymalloc" if _swap_is_safe() else "other"


@contextmanager
def system_heap() -> Iterator[None]:
    """Allocate Python objects from the C library's heap, not pymalloc's arenas, while this lasts.

    For building and tracing a run: its graph's objects then leave no arena
    pinned behind when they go (see the module's notes).  Process-wide (the
    GUI thread's objects come from the C library meanwhile too, which costs
    a little speed and nothing else); nested and concurrent uses count, and
    pymalloc comes back when the last one ends.  Where the swap is not known
    to be safe (another allocator, a tracer or debug hooks installed, another
    Python than CPython 3.10 to 3.13 with pymalloc) it does nothing.  While it
    lasts, ``sys.getallocatedblocks()`` undercounts: it counts pymalloc's blocks.
    """
    global _heap_users, _swapped
    with _heap_lock:
        if _heap_users == 0:
            _swapped = _install_system_heap()
        _heap_users += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0 and _swapped:
                _restore_pymalloc()
                _swapped = False


def _install_system_heap() -> bool:
    pymalloc = _find_pymalloc()
    if pymalloc is None:
        return False
    current = {domain: _get_allocator(domain) for domain in _DOMAINS}
    heaps = {domain: _system_heap_of(pymalloc[domain]) for domain in _DOMAINS}
    if all(_same(current[d], heaps[d]) for d in _DOMAINS):
        return True  # left installed (tracemalloc was started over it, then stopped): put right at the end
    if not all(_same(current[d], pymalloc[d]) for d in _DOMAINS):
        return False  # something else is installed now (tracemalloc): not ours to change
    for domain in _DOMAINS:
        _set_allocator(domain, heaps[domain])
    return True


def _restore_pymalloc() -> None:
    pymalloc = _pymalloc
    assert pymalloc is not None
    for domain in _DOMAINS:
        # Only if nobody (tracemalloc.start()) installed a hook on top meanwhile;
        # then the next use puts pymalloc back, once the hook is gone.
        if _same(_get_allocator(domain), _system_heap_of(pymalloc[domain])):
            _set_allocator(domain, pymalloc[domain])
