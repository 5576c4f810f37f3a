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
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["custom_gradient_names", "forget_custom_gradients", "return_free_memory"]

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
