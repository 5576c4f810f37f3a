"""TensorFlowLoader: imports TensorFlow in the background while the window is already up.

TensorFlow takes seconds to import; the window must not wait for it.  The
import runs on a plain daemon thread rather than a QThread: an import cannot
be interrupted, and a daemon thread cannot abort the process the way a
QThread destroyed while running does if the learner closes the window first.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

__all__ = ["TensorFlowLoader"]


class TensorFlowLoader(QObject):
    """Imports and configures TensorFlow once, off the GUI thread.

    Signals
    -------
    ready()
        TensorFlow is imported and configured; training can start.
    failed(str)
        The import failed; the message says why, for the window to show.
    """

    ready = Signal()
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.error: str | None = None

    @property
    def is_ready(self) -> bool:
        """TensorFlow imported successfully."""
        return self._done.is_set() and self.error is None

    @property
    def is_done(self) -> bool:
        """The import has finished, successfully or not."""
        return self._done.is_set()

    @property
    def is_started(self) -> bool:
        """The import was asked for (it may be done already)."""
        return self._thread is not None

    def start(self) -> None:
        """Begin the import; a second call does nothing."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._load, name="gradviz-tf-import", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the import has finished; False if it is still running after ``timeout`` s."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _load(self) -> None:
        # Runs on the import thread.  Signals emitted here are queued to the
        # loader's thread (the GUI thread), so slots run there.
        try:
            from gradviz.engine.runtime import import_tensorflow

            import_tensorflow()
        except Exception as exc:
            self.error = f"TensorFlow could not be loaded: {type(exc).__name__}: {exc}"
        finally:
            self._done.set()
        if self.error is None:
            self.ready.emit()
        else:
            self.failed.emit(self.error)
