"""GuiGarbageCollector: Python's cycle collector runs on the GUI thread only.

Automatic collection runs on whichever thread happens to allocate, so with a
training thread it would sometimes finalize the GUI's Qt objects (timers,
event loops, widgets caught in reference cycles) on the worker thread, which
Qt does not allow: warnings at best, a hang or a crash at worst.  pyqtgraph's
``GarbageCollector`` has the same idea; this one also freezes everything that
exists once TensorFlow is loaded, so a full collection does not walk
TensorFlow's several hundred thousand objects (about 150 ms) every time.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot

from gradviz.engine.graph_memory import return_free_memory
from gradviz.ui.controller import RunState

if TYPE_CHECKING:
    from gradviz.ui.controller import RunController

__all__ = ["GuiGarbageCollector"]


class GuiGarbageCollector(QObject):
    """Disables automatic collection and collects from a GUI-thread timer instead.

    Parameters
    ----------
    interval_ms
        How often to check whether a generation is due.
    """

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        self._was_enabled = gc.isenabled()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._on_timer_tick)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to Python (as it was before :meth:`start`)."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    @staticmethod
    def freeze() -> None:
        """Collect now, then exempt every surviving object (libraries, TensorFlow) from later collections."""
        gc.collect()
        gc.freeze()

    def follow(self, controller: RunController) -> None:
        """Keep a run's start-up objects out of the collections that run during play.

        Tracing a run's compiled functions on the worker creates a hundred
        thousand long-lived objects; a full collection walking them during
        play stalls the window for a quarter of a second.  They are frozen
        once the first epoch has trained, and everything is collected (and
        frozen again) when the run ends and nothing needs to be smooth.
        """
        controller.epoch_recorded.connect(self._on_epoch_recorded)
        controller.state_changed.connect(self._on_run_state_change)

    @Slot(int)
    def _on_epoch_recorded(self, epoch: int) -> None:
        if epoch == 1:
            gc.freeze()

    @Slot(object)
    def _on_run_state_change(self, state: RunState) -> None:
        if state in (RunState.FINISHED, RunState.STOPPED, RunState.FAILED):
            gc.unfreeze()
            self.freeze()
            # What that freed (a discarded run's graphs: hundreds of MB after the lab) goes back to the system.
            return_free_memory()

    @Slot()
    def _on_timer_tick(self) -> None:
        count0, count1, count2 = gc.get_count()
        if count0 > self._threshold[0]:
            gc.collect(0)
            if count1 > self._threshold[1]:
                gc.collect(1)
                if count2 > self._threshold[2]:
                    gc.collect(2)
