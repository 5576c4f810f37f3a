"""RunControl: thread-safe steering of a run from another thread.

The GUI thread calls the setters; the engine checks the flags between
batches and between epochs.  Nothing here is a queued signal: the worker's
event loop is busy inside the training loop and would never see one.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

__all__ = ["MAX_DISPLAY_HOLD_S", "PREPARATION_STAGES", "PendingEdit", "Preparation", "RunControl"]

_run_ids = itertools.count(1)

# The longest a run waits for a display that asked it to hold (see RunControl.hold).
MAX_DISPLAY_HOLD_S = 0.25


# What a run does before its first report, in order: build each lane's model,
# trace the compiled epoch (the training step, then the probes, lane by lane)
# and let TensorFlow compile what was traced (no finer progress is known there).
PREPARATION_STAGES = ("building", "tracing", "compiling")


@dataclass(frozen=True, slots=True)
class Preparation:
    """How far a run has got in preparing its first epoch.

    Attributes
    ----------
    stage
        One of :data:`PREPARATION_STAGES`.
    done, total
        The lane being built (``building``, from 1), or the lane trace under
        way out of two per lane (``tracing``: the training step, then the
        probes); ``compiling`` has ``done == total``.
    lanes
        The run's lane count.
    """

    stage: str
    done: int
    total: int
    lanes: int

    @property
    def phase(self) -> str:
        """``building``, ``training`` or ``probes`` (tracing's two halves), or ``compiling``."""
        if self.stage == "tracing":
            return "training" if self.done <= self.lanes else "probes"
        return self.stage

    @property
    def lane(self) -> int:
        """The lane the phase is at, from 1 (``compiling``: the last)."""
        return self.done - self.lanes if self.phase == "probes" else min(self.done, self.lanes)

    @property
    def fraction(self) -> float:
        """Of the whole preparation, 0–1, by where the lab's time goes.

        Measured on the lab: building its models takes about 15 % of the
        time, tracing the training steps 50 %, the probes (traced a stack of
        lanes at a time) 5 %, and compiling, of which nothing finer is known,
        the last 30 % (it shows where the probes end).
        """
        start, width = _PHASE_SPANS[self.phase]
        return start + width * min(self.lane, self.lanes) / max(self.lanes, 1)


# Where each phase starts in Preparation.fraction, and its width.
_PHASE_SPANS = {"building": (0.0, 0.15), "training": (0.15, 0.5), "probes": (0.65, 0.05), "compiling": (0.65, 0.05)}


@dataclass(frozen=True, slots=True)
class PendingEdit:
    """A requested hyperparameter change, applied before the next epoch."""

    lane: int
    name: str
    value: float | int | bool


class RunControl:
    """Stop, pause, single-step, pace and live edits for one run.

    Parameters
    ----------
    epochs_per_second
        Target pace; ``None`` runs flat out.
    paused
        Start paused (the first report, epoch 0, is still produced).
    """

    def __init__(self, epochs_per_second: float | None = None, paused: bool = False) -> None:
        self.run_id = next(_run_ids)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running = threading.Event()  # set = not paused
        if not paused:
            self._running.set()
        self._steps = 0
        self._pace = epochs_per_second
        self._edits: list[PendingEdit] = []
        self._wake = threading.Event()
        self._display_free = threading.Event()  # clear = a display is drawing: wait
        self._display_free.set()
        self._preparation: Preparation | None = None

    # called from any thread ------------------------------------------------

    def stop(self) -> None:
        """Ask the run to end at the next batch boundary."""
        self._stop.set()
        self._running.set()
        self._display_free.set()
        self._wake.set()

    def hold(self) -> None:
        """Ask the run to wait before its next epoch while a display draws.

        Training flat out, the run's Python code and a GUI thread drawing in
        Python take turns at the interpreter lock, and each frame took three
        times as long.  The hold lasts until :meth:`release`, and never more
        than :data:`MAX_DISPLAY_HOLD_S` per epoch.
        """
        self._display_free.clear()

    def release(self) -> None:
        """End a :meth:`hold`."""
        self._display_free.set()

    def pause(self) -> None:
        """Hold after the current epoch."""
        with self._lock:
            self._steps = 0
        self._running.clear()

    def resume(self) -> None:
        """Continue training at the set pace."""
        self._running.set()
        self._wake.set()

    def step(self) -> None:
        """Train exactly one more epoch, then hold (pauses a playing run)."""
        with self._lock:
            self._steps += 1
        self._running.clear()
        self._wake.set()

    def set_pace(self, epochs_per_second: float | None) -> None:
        """Target epochs per second; ``None`` for as fast as possible."""
        if epochs_per_second is not None and not epochs_per_second > 0:
            raise ValueError("pace must be positive or None")
        with self._lock:
            self._pace = epochs_per_second
        self._wake.set()

    def set_hyperparameter(self, lane: int, name: str, value: float | int | bool) -> None:
        """Change one optimizer hyperparameter of one lane from the next epoch on."""
        with self._lock:
            self._edits.append(PendingEdit(lane, name, value))

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def pace(self) -> float | None:
        with self._lock:
            return self._pace

    # called by the engine --------------------------------------------------

    def take_edits(self) -> list[PendingEdit]:
        """Pending edits, oldest first; clears the queue."""
        with self._lock:
            edits, self._edits = self._edits, []
        return edits

    def report_preparation(self, stage: str, done: int, total: int, lanes: int) -> None:
        """The engine's progress before the first report (see :class:`Preparation`)."""
        self._preparation = Preparation(stage, done, total, lanes)  # one reference swap: no lock needed

    @property
    def preparation(self) -> Preparation | None:
        """The latest :meth:`report_preparation`, or ``None`` before any."""
        return self._preparation

    def wait_turn(self, last_epoch_started: float) -> bool:
        """Block until the next epoch may start; False if the run was stopped.

        Honours a display's hold, pause (wakes for a step or resume) and pace
        (sleeps until ``last_epoch_started + 1 / pace``).
        """
        self._display_free.wait(MAX_DISPLAY_HOLD_S)
        while True:
            if self._stop.is_set():
                return False
            with self._lock:
                if self._steps > 0:
                    self._steps -= 1
                    return True
            if not self._running.is_set():
                self._wake.wait(0.1)
                self._wake.clear()
                continue
            pace = self.pace
            if pace is None:
                return True
            delay = last_epoch_started + 1.0 / pace - time.perf_counter()
            if delay <= 0:
                return True
            self._wake.wait(min(delay, 0.1))
            self._wake.clear()
