"""EpochWatchdog: says so when an epoch takes far longer than the ones before it.

A training step that hangs (a driver, a deadlock, a machine swapping) looks
to a class exactly like a frozen app.  The watchdog times the epochs of the
live run from the controller's signals and, when the epoch it is waiting for
is overdue, emits :class:`SlowEpoch` so the window can say what is going on
and offer Stop.  It only reads the controller; it never touches the worker.

The first epochs of a run include building the models and tracing the
compiled functions (seconds, more for the lab's many lanes), so until a few
epochs have been timed the bound is generous; after that it is
``max(min_s, factor × median epoch time)``.  While the run reports progress
in building and tracing (a slow machine preparing the lab), the clock starts
again at each step.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from gradviz.engine.control import Preparation
from gradviz.ui.controller import RunController, RunState

__all__ = ["EpochWatchdog", "SlowEpoch", "SlowEpochBanner"]


@dataclass(frozen=True, slots=True)
class SlowEpoch:
    """An epoch that is overdue.

    Attributes
    ----------
    epoch
        The epoch being waited for (0: building the models and epoch 0's probes).
    waited_s
        Seconds since the previous epoch arrived (or the run started or resumed).
    usual_s
        Median seconds per epoch so far in this run; ``None`` before enough epochs were timed.
    """

    epoch: int
    waited_s: float
    usual_s: float | None

    @property
    def message(self) -> str:
        """What the window says, in the learner's words."""
        waited = _seconds(self.waited_s)
        if self.usual_s is None:
            what = "Building the models" if self.epoch == 0 else f"Epoch {self.epoch} (compiling the training step)"
            return (f"{what} has taken {waited}, much longer than expected. The run may be stuck, "
                    "or the computer is busy; Stop ends it and keeps what was recorded.")
        return (f"Epoch {self.epoch} has taken {waited}, much longer than the usual {_seconds(self.usual_s)}. "
                "The run may be stuck, or the computer is busy; Stop ends it and keeps what was recorded.")


def _seconds(value: float) -> str:
    if value >= 10:
        return f"{value:.0f} s"
    if value >= 0.1:
        return f"{value:.1f} s"
    return f"{value:.2g} s"


class EpochWatchdog(QObject):
    """Times the live run's epochs and reports one that is overdue.

    Parameters
    ----------
    controller
        The controller whose run is watched.
    min_s
        An epoch is never called slow before this many seconds.
    factor
        ... nor before ``factor`` times the median epoch time of the run so far.
    first_s
        The bound while fewer than ``min_timed`` epochs have been timed
        (building, tracing and compiling happen then).
    min_timed
        Epoch times needed before the median is trusted.
    check_ms
        How often the clock is looked at while a run is live.

    Signals
    -------
    overdue(SlowEpoch)
        The awaited epoch is overdue; emitted again at every check while it
        stays overdue, so the shown time keeps counting.
    cleared()
        The overdue epoch arrived, or the run paused, stopped, finished or failed.
    """

    overdue = Signal(object)
    cleared = Signal()

    #: epoch times kept for the median (the recent ones: a pace change moves it)
    WINDOW = 50

    def __init__(
        self,
        controller: RunController,
        *,
        min_s: float = 5.0,
        factor: float = 10.0,
        first_s: float = 60.0,
        min_timed: int = 3,
        check_ms: int = 500,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._controller = controller
        self.min_s = min_s
        self.factor = factor
        self.first_s = first_s
        self.min_timed = min_timed
        self._times: deque[float] = deque(maxlen=self.WINDOW)
        self._run_id = -1
        self._since = time.monotonic()
        self._timing = False  # the previous arrival may start an epoch time
        self._current: SlowEpoch | None = None
        self._preparation: Preparation | None = None  # the run's progress at the last check
        self._timer = QTimer(self)
        self._timer.setInterval(check_ms)
        self._timer.timeout.connect(self._on_check_tick)
        controller.state_changed.connect(self._on_run_state_change)
        controller.epoch_recorded.connect(self._on_epoch_recorded)
        self._on_run_state_change(controller.state)

    @property
    def current(self) -> SlowEpoch | None:
        """The overdue epoch as last reported, or ``None``."""
        return self._current

    @property
    def active(self) -> bool:
        """The clock is being watched (a run is live)."""
        return self._timer.isActive()

    def usual_epoch_s(self) -> float | None:
        """Median epoch time of the run so far, once ``min_timed`` epochs were timed."""
        if len(self._times) < self.min_timed:
            return None
        return statistics.median(self._times)

    def bound_s(self) -> float:
        """Seconds after which the awaited epoch counts as overdue."""
        usual = self.usual_epoch_s()
        if usual is None:
            return max(self.first_s, self.min_s)
        return max(self.min_s, self.factor * usual)

    def stop(self) -> None:
        """Stop watching (the window is closing)."""
        self._timer.stop()
        self._clear()

    # controller signals ------------------------------------------------------------

    @Slot(object)
    def _on_run_state_change(self, state: RunState) -> None:
        self._since = time.monotonic()
        self._timing = False  # a pause or a restart is not part of an epoch's time
        control = self._controller.control
        if control is not None and control.run_id != self._run_id:
            self._run_id = control.run_id
            self._times.clear()
        if state.live:
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()
        self._clear()

    @Slot(int)
    def _on_epoch_recorded(self, _epoch: int) -> None:
        # Every epoch: keep this cheap.
        now = time.monotonic()
        if self._timing:
            self._times.append(now - self._since)
        self._since = now
        self._timing = self._controller.state is RunState.RUNNING
        if self._current is not None:
            self._clear()

    @Slot()
    def _on_check_tick(self) -> None:
        epoch = self._awaited_epoch()
        if epoch is None:
            self._clear()
            return
        control = self._controller.control
        preparation = control.preparation if control is not None else None
        if preparation != self._preparation:
            # A run still building or tracing its models, lane after lane, is not stuck.
            self._preparation = preparation
            self._since = time.monotonic()
            self._clear()
        waited = time.monotonic() - self._since
        if waited < self.bound_s():
            return
        self._current = SlowEpoch(epoch, waited, self.usual_epoch_s())
        self.overdue.emit(self._current)

    def _awaited_epoch(self) -> int | None:
        """The epoch the live run owes next, or ``None`` if it owes none (paused, done)."""
        c = self._controller
        control, history = c.control, c.history
        if control is None or not c.state.live:
            return None
        if history is None or history.run_id != control.run_id or not len(history):
            return 0  # building the models and epoch 0's probes; a paused reset owes this too
        if c.state is not RunState.RUNNING or history.last_epoch >= history.layout.epochs:
            return None
        return history.last_epoch + 1

    def _clear(self) -> None:
        if self._current is not None:
            self._current = None
            self.cleared.emit()


class SlowEpochBanner(QFrame):
    """The watchdog's strip above the panels: what is slow, and a Stop button.

    Parameters
    ----------
    watchdog
        Whose reports are shown.
    controller
        What Stop stops.
    """

    def __init__(self, watchdog: EpochWatchdog, controller: RunController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("slowEpochBanner")
        self.setStyleSheet(
            "#slowEpochBanner {background:#FFF4E5; color:#663C00; border:1px solid #F0B260;} "
            "QLabel {border:none; background:transparent;}"
        )
        self._controller = controller
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("End the run; the epochs recorded so far stay on screen")
        self.stop_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.stop_button, 0, Qt.AlignmentFlag.AlignTop)
        self.stop_button.clicked.connect(self._on_stop_click)
        watchdog.overdue.connect(self._on_overdue)
        watchdog.cleared.connect(self._on_cleared)
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text()

    @Slot(object)
    def _on_overdue(self, slow: SlowEpoch) -> None:
        self.label.setText(slow.message)
        self.show()

    @Slot()
    def _on_cleared(self) -> None:
        self.label.clear()
        self.hide()

    @Slot()
    def _on_stop_click(self) -> None:
        self._controller.stop()
