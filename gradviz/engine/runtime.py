"""Importing TensorFlow the way a classroom laptop needs it.

Thread pools are limited before TensorFlow runs its first op (default pools
starve the GUI on a 2-core machine), the Keras backend is pinned (a learner's
``~/.keras/keras.json`` may name another), and TensorFlow's start-up chatter on
stderr is kept out of the learner's terminal unless the import fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from types import ModuleType

__all__ = ["import_keras", "import_tensorflow", "tensorflow_loaded"]

_lock = threading.Lock()
_tf: ModuleType | None = None


def _configure_environment() -> None:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's reordered kernels change results in the last bits between
    # machines and cost more than they save on models this small.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    threads = os.environ.get("GRADVIZ_TF_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", threads)


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay it if the block fails.

    TensorFlow's C++ start-up (import, then device initialization on the
    first op) writes a screenful of notices that mean nothing to a learner.
    """
    try:
        stderr_fd = sys.stderr.fileno() if sys.stderr is not None else 2
        saved = os.dup(stderr_fd)
    except (AttributeError, OSError, ValueError):
        yield  # no real stderr (a windowed build): nothing to hide
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), stderr_fd)
        try:
            yield
        except BaseException:
            os.dup2(saved, stderr_fd)
            capture.seek(0)
            sys.stderr.write(capture.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, stderr_fd)
            os.close(saved)


def import_tensorflow() -> ModuleType:
    """Import and configure TensorFlow once per process; safe from any thread."""
    global _tf
    with _lock:
        if _tf is not None:
            return _tf
        _configure_environment()
        with _stderr_captured():
            import tensorflow as tf

            threads = int(os.environ.get("GRADVIZ_TF_THREADS", "1"))
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(threads)
            except RuntimeError:
                pass  # the runtime already started (someone ran an op first); its pools stay
            tf.constant(0.0).numpy()  # device initialization, while stderr is captured
            # Grappler's graph rewrites take seconds on a many-lane epoch graph
            # and buy nothing measurable for layers this small.
            tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
            # Retracing notices name internal functions a learner cannot act on.
            tf.get_logger().setLevel("ERROR")
            import keras

            keras.utils.disable_interactive_logging()
        _tf = tf
        return tf


def import_keras() -> ModuleType:
    """Keras, after :func:`import_tensorflow` configured the runtime."""
    import_tensorflow()
    import keras

    return keras


def tensorflow_loaded() -> bool:
    """Whether TensorFlow has been imported in this process."""
    return "tensorflow" in sys.modules
