"""RunController: starts, steers and records runs, and paints the panels at a steady rate.

Recording is never throttled: every report of the current run is appended to
the :class:`~gradviz.engine.history.RunHistory`.  Drawing is: a report only
marks the panels dirty, and a ~30 Hz timer renders the visible ones, so a run
at full speed costs one frame per tick however many epochs arrived.  While a
run trains, it holds between epochs as a frame is drawn and painted, so the
two do not slow each other down; frames that cost more than a third of their
interval, of the GUI thread's time or of training's, space out (down to 4 per
second), so the learner's clicks and drags never queue behind drawing and
training goes on at two thirds of its speed or better.
"""

from __future__ import annotations

import atexit
import contextlib
import enum
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import shiboken6
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from gradviz.engine.control import Preparation, RunControl
from gradviz.engine.history import RunHistory
from gradviz.engine.report import EpochReport
from gradviz.engine.resume import spec_with_edits
from gradviz.engine.spec import Limits, RunSpec
from gradviz.ui.worker import TrainingWorker, start_worker_thread

__all__ = [
    "DISPLAY_SHARE", "FRAME_INTERVAL_MS", "MAX_FRAME_INTERVAL_MS", "Panel", "RunController", "RunState",
    "join_outliving_runs",
]

FRAME_INTERVAL_MS = 33
# At most this share of the GUI thread's time goes to drawing frames, and at
# most this share of a training run's time waits for them; the frame interval
# grows (up to MAX_FRAME_INTERVAL_MS) to keep it so.
DISPLAY_SHARE = 1 / 3
MAX_FRAME_INTERVAL_MS = 250
# While a run trains, a frame is drawn this long after the run was asked to hold.
HOLD_LEAD_MS = 2
# How long stopping a run waits for its thread to end (see RunController.stop).
SWITCH_WAIT_S = 0.3
# Before its first epoch a run builds and traces its models (the lab: about
# 15 s); how far it has got is looked at this often, and shown once it has
# taken this long (quicker runs would only flash it).
PREPARATION_POLL_MS = 200
PREPARATION_SHOWN_AFTER_S = 0.75


class RunState(enum.Enum):
    """Where the current run is; what the transport bar shows."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def live(self) -> bool:
        """A worker is training (or holding, paused) for this run."""
        return self in (RunState.RUNNING, RunState.PAUSED)


class Panel(Protocol):
    """What the controller needs of a panel (see ``gradviz.ui.panels``)."""

    def bind(self, history: RunHistory) -> None: ...

    def render(self, epoch: int) -> None: ...

    def set_lane_visible(self, lane: int, visible: bool) -> None: ...

    def isVisible(self) -> bool: ...


# Runs whose thread outlived their controller's shutdown: a stop lands only
# between batches, and building and tracing a large run (the lab) takes many
# seconds.  Kept here, not by the closing window, so that deleting the window
# never destroys a running QThread (which aborts the process); joined at exit.
_outliving: set[_Run] = set()


def join_outliving_runs(timeout_s: float = 120.0) -> bool:
    """Wait for the threads of runs that outlived a shutdown; False if one is still running."""
    deadline = time.monotonic() + timeout_s
    for run in list(_outliving):
        if not run.wait(max(0.0, deadline - time.monotonic())):
            return False
        _outliving.discard(run)
    return True


atexit.register(join_outliving_runs)


class _Run(QObject):
    """One run's control, worker and thread; receives the worker's signals on the GUI thread.

    Lambdas connected to a worker signal run on the worker thread in PySide6;
    slots of this GUI-thread object are queued to the GUI thread and know
    which run they belong to, so a stopped run's late signals can be told apart.
    """

    def __init__(self, controller: RunController, spec: RunSpec, control: RunControl,
                 weights_dir: Path | None, continues: RunHistory | None = None) -> None:
        super().__init__(controller)
        self._controller = controller
        self.spec = spec
        self.control = control
        # The recorded history this run continues from its last epoch, if any.
        self.continues = continues
        resume = None if continues is None else continues.resume()
        self.worker: TrainingWorker | None = TrainingWorker(spec, control, weights_dir=weights_dir, resume=resume)
        self.worker.reports_waiting.connect(self._on_reports_waiting)
        self.worker.failed.connect(self._on_failed)
        self.worker.finished.connect(self._on_finished)
        self.thread: QThread | None = start_worker_thread(self.worker)
        self.thread.finished.connect(self._on_thread_finished)

    @property
    def run_id(self) -> int:
        return self.control.run_id

    def is_alive(self) -> bool:
        thread = self.thread
        return thread is not None and shiboken6.isValid(thread) and not thread.isFinished()

    def wait(self, timeout_s: float) -> bool:
        """Join the thread; False if it is still running after ``timeout_s``."""
        thread = self.thread
        if thread is None or not shiboken6.isValid(thread):
            return True
        return thread.wait(max(0, int(timeout_s * 1000)))

    @Slot()
    def _on_reports_waiting(self) -> None:
        worker = self.worker
        if worker is None:
            return
        for report in worker.take_reports():
            self._controller._on_run_report(self, report)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._controller._on_run_failed(self, message)

    @Slot()
    def _on_finished(self) -> None:
        self._controller._on_run_finished(self)

    @Slot()
    def _on_thread_finished(self) -> None:
        # QThread emits ``finished`` before its last clean-up, which deletes the
        # worker (deleteLater).  Let that end before dropping our references:
        # freeing the Python-owned QThread meanwhile would race the clean-up.
        thread = self.thread
        if thread is not None and shiboken6.isValid(thread):
            thread.wait()
        self.worker = None
        self.thread = None
        _outliving.discard(self)
        if shiboken6.isValid(self._controller):
            self._controller._on_thread_finished(self)
        else:  # its window was closed (and deleted) while the thread still ran
            self.deleteLater()


class RunController(QObject):
    """Owns the run: its control flags, worker thread, history and frame timer.

    Parameters
    ----------
    panels
        Panels to bind to each new run's history and to render while visible.
    pace
        Initial target epochs per second; ``None`` trains flat out.
    frame_interval_ms
        Time between frames while there is something new to draw.
    weights_dir
        Passed to the trainer: where lanes' weights are saved, if anywhere.

    Signals
    -------
    state_changed(RunState)
        The run started, paused, resumed, finished, stopped or failed.
    history_started(RunHistory)
        A new run recorded its first report (epoch 0); panels are bound to it.
    epoch_recorded(int)
        An epoch of the current run was appended to the history.  Emitted for
        every epoch: connect only cheap slots; views should follow
        ``frame_rendered`` instead.
    frame_rendered(int)
        The visible panels were drawn at this epoch (at most ~30 times a second).
    failed(str)
        The current run failed; the message is for the learner.
    preparing(Preparation | None)
        How far the current run has got in building and tracing its models,
        while that takes longer than ``preparation_shown_after_s``; ``None``
        once its first epoch arrived (or it ended).
    message(str)
        Something the learner should read that does not stop the run
        (an edit the engine refused).
    """

    state_changed = Signal(object)
    history_started = Signal(object)
    epoch_recorded = Signal(int)
    frame_rendered = Signal(int)
    failed = Signal(str)
    preparing = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        panels: Sequence[Panel] = (),
        *,
        pace: float | None = 20.0,
        frame_interval_ms: int = FRAME_INTERVAL_MS,
        weights_dir: Path | None = None,
        preparation_shown_after_s: float = PREPARATION_SHOWN_AFTER_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._panels: list[Panel] = list(panels)
        self._bound: set[int] = set()  # panels bound to the current history
        self._pace = pace
        self._weights_dir = weights_dir
        self._spec: RunSpec | None = None
        self._run: _Run | None = None
        self._threads: list[_Run] = []  # every run whose thread has not ended yet
        self._history: RunHistory | None = None
        self._state = RunState.IDLE
        self._hidden_lanes: set[int] = set()
        self._follow = True
        self._scrub_epoch = 0
        self._dirty = False
        self._last_error: str | None = None
        self._stale_dropped = 0
        self._replay = False  # showing a recorded run: Play plays it back instead of training
        self._replay_timer = QTimer(self)
        self._replay_timer.timeout.connect(self._on_replay_tick)
        self._frame_interval_ms = frame_interval_ms
        self._frame_cost_s = 0.0  # drawing and painting since the last frame tick
        self._display_depth = 0
        self._holds = 0
        self._held: RunControl | None = None
        self._held_since = 0.0
        self._held_s = 0.0  # time training was held for drawing since the last frame tick
        self._hold_frames = True
        self._frame_end = QTimer(self)
        self._frame_end.setSingleShot(True)
        self._frame_end.setInterval(0)
        self._frame_end.timeout.connect(self._release_run)
        self._render_held = QTimer(self)
        self._render_held.setSingleShot(True)
        self._render_held.setInterval(HOLD_LEAD_MS)
        self._render_held.timeout.connect(self._on_render_held)
        self._timer = QTimer(self)
        self._timer.setInterval(frame_interval_ms)
        self._timer.timeout.connect(self._on_frame_tick)
        self._preparation: Preparation | None = None
        self._preparation_after_s = preparation_shown_after_s
        self._preparation_since = 0.0
        self._preparation_timer = QTimer(self)
        self._preparation_timer.setInterval(PREPARATION_POLL_MS)
        self._preparation_timer.timeout.connect(self._on_preparation_tick)

    # what the view reads ----------------------------------------------------

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def spec(self) -> RunSpec | None:
        """The spec that Play, Reset and Step start."""
        return self._spec

    @property
    def history(self) -> RunHistory | None:
        """The current (or last) run's recorded epochs."""
        return self._history

    @property
    def pace(self) -> float | None:
        return self._pace

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(self._panels)

    @property
    def control(self) -> RunControl | None:
        """The live run's control flags (e.g. for live hyperparameter edits)."""
        return self._run.control if self._run is not None else None

    @property
    def preparation(self) -> Preparation | None:
        """The current run's progress towards its first epoch, while it is shown (see ``preparing``)."""
        return self._preparation

    @property
    def last_error(self) -> str | None:
        """The message of the last failed run, until the next start."""
        return self._last_error

    @property
    def shown_epoch(self) -> int:
        """The epoch the panels show: the newest unless the timeline was dragged back."""
        if self._history is None or not len(self._history):
            return -1
        if self._follow:
            return self._history.last_epoch
        return min(max(self._scrub_epoch, self._history.first_epoch), self._history.last_epoch)

    @property
    def following(self) -> bool:
        """The panels follow the newest epoch."""
        return self._follow

    @property
    def stale_reports_dropped(self) -> int:
        """Reports of stopped runs that arrived late and were not recorded."""
        return self._stale_dropped

    def is_busy(self) -> bool:
        """Some worker thread (current or stopping) is still running."""
        return any(run.is_alive() for run in self._threads)

    # what the view calls ----------------------------------------------------

    def add_panel(self, panel: Panel) -> None:
        self._panels.append(panel)
        if self._history is not None:
            self._bind(panel)
        self.request_render()

    def set_spec(self, spec: RunSpec) -> None:
        """Make ``spec`` the one to play; stops the current run and forgets its history."""
        self.stop()
        self._replay = False
        self._spec = spec
        self._hidden_lanes.clear()
        self._history = None
        self._follow = True
        self._set_state(RunState.IDLE)

    def start(self, spec: RunSpec | None = None, *, paused: bool = False) -> None:
        """Start a fresh run of ``spec`` (default: the current spec), stopping any other.

        ``paused`` shows epoch 0 (the network at initialization) and holds.
        """
        if spec is not None:
            self._spec = spec
        if self._spec is None:
            raise ValueError("no spec to run")
        self.stop()
        self._replay = False
        self._last_error = None
        self._follow = True
        control = RunControl(self._pace, paused=paused)
        self._begin(_Run(self, self._spec, control, self._weights_dir))
        self._set_state(RunState.PAUSED if paused else RunState.RUNNING)

    def play(self) -> None:
        """Resume a paused run, or start a fresh one; a recorded run is played back."""
        if self._replay:
            self._play_back()
        elif self._state is RunState.PAUSED:
            self.resume()
        elif self._state is not RunState.RUNNING:
            self.start()

    def pause(self) -> None:
        """Hold after the epoch in progress."""
        if self._replay and self._state is RunState.RUNNING:
            self._replay_timer.stop()
            self._set_state(RunState.PAUSED)
        elif self._run is not None and self._state is RunState.RUNNING:
            self._run.control.pause()
            self._set_state(RunState.PAUSED)

    def resume(self) -> None:
        """Continue a paused run at the set pace."""
        if self._run is not None and self._state is RunState.PAUSED:
            self._run.control.resume()
            self._set_state(RunState.RUNNING)

    def toggle(self) -> None:
        """Play/Pause as one button."""
        if self._state is RunState.RUNNING:
            self.pause()
        else:
            self.play()

    def step(self) -> None:
        """Train exactly one more epoch and hold.

        Without a live run this starts one paused, which shows epoch 0; a
        finished run has no epoch left to step.  A recorded run shows its next epoch.
        """
        if self._replay:
            self._replay_timer.stop()
            self._advance_replay(1, RunState.PAUSED)
        elif self._run is not None and self._state.live:
            self._run.control.step()
            self._set_state(RunState.PAUSED)
        elif self._state is not RunState.FINISHED and self._spec is not None:
            self.start(paused=True)

    def stop(self, timeout_s: float = SWITCH_WAIT_S) -> bool:
        """End the current run and join its thread; the history stays for scrubbing.

        Returns False if the thread did not end within ``timeout_s`` (it is
        still tracked and joined again by :meth:`shutdown`).  A run mid-epoch
        stops at its next batch, well within the default; one still building
        or tracing its models (the lab: tens of seconds) cannot be interrupted,
        and the window must not freeze meanwhile, so it ends on its own thread.
        """
        if self._replay_timer.isActive():
            self._replay_timer.stop()
            self._set_state(RunState.STOPPED)
        run = self._run
        if run is None:
            return True
        self._run = None
        run.control.stop()
        joined = run.wait(timeout_s)
        if self._state.live:
            self._set_state(RunState.STOPPED)
        self._end_preparation()  # after the state: the window's status line is the stopped run's
        return joined

    def show_history(self, history: RunHistory) -> None:
        """Show a recorded run (e.g. an opened session) without training.

        The run it records becomes the spec that Play and Reset start from
        epoch 0; :meth:`continue_training` goes on from its last epoch.
        """
        layout = history.layout
        self.set_spec(layout.spec.replace(epochs=layout.epochs))
        self._replay = True
        self._history = history
        self._start_history(history)
        self._set_state(RunState.FINISHED)
        self.request_render()

    def can_continue(self) -> bool:
        """Whether the shown run holds the weights of its last epoch and nothing is training."""
        h = self._history
        return self._run is None and h is not None and h.resume() is not None

    def max_continue_epochs(self) -> int:
        """The most epochs a continuation may add (a run has at most ``Limits.MAX_EPOCHS``)."""
        last = self._history.last_epoch if self._history is not None else 0
        return max(0, Limits.MAX_EPOCHS - last)

    def continue_training(self, epochs: int) -> None:
        """Train ``epochs`` more epochs from the shown run's last weights, appending to its history.

        Optimizer state (momentum, Adam's moments) starts fresh; the batch
        order is the one the run would have gone on with.

        Raises
        ------
        ValueError
            If :meth:`can_continue` is False or ``epochs`` < 1.
        """
        if not self.can_continue():
            raise ValueError("this run cannot be continued: it holds no weights of its last epoch")
        if not 1 <= epochs <= self.max_continue_epochs():
            raise ValueError(f"cannot continue for {epochs} epochs (1 to {self.max_continue_epochs()})")
        history = self._history
        assert history is not None
        self.stop()
        self._replay = False
        self._last_error = None
        self._follow = True
        control = RunControl(self._pace)
        # The lanes go on with the hyperparameters the class set live, not the ones they began with.
        spec = spec_with_edits(history.layout.spec, history.edits).replace(epochs=epochs)
        self._begin(_Run(self, spec, control, self._weights_dir, continues=history))
        self._set_state(RunState.RUNNING)

    def reset(self) -> None:
        """Back to epoch 0 of the same spec: a fresh run, paused at initialization.

        A recorded run being shown goes back to its first epoch instead (nothing is trained).
        """
        if self._replay and self._history is not None:
            self._replay_timer.stop()
            self.show_epoch(self._history.first_epoch)
            self._set_state(RunState.PAUSED)
            return
        if self._spec is None:
            return
        self.stop()
        self._history = None
        self.start(paused=True)

    def new_seed(self, seed: int | None = None) -> int:
        """Reset with a different seed (new initial weights, data noise and batch order)."""
        if self._spec is None:
            raise ValueError("no spec to reseed")
        if seed is None:
            seed = random.randrange(2**31 - 1)
        self.stop()
        self._replay = False
        self._spec = self._spec.replace(seed=seed)
        self.reset()
        return seed

    def set_pace(self, epochs_per_second: float | None) -> None:
        """Target epochs per second for this and later runs; ``None`` is flat out."""
        self._pace = epochs_per_second
        if self._run is not None:
            self._run.control.set_pace(epochs_per_second)
        if self._replay_timer.isActive():
            self._replay_timer.setInterval(self._replay_interval_ms())

    def set_lane_visible(self, lane: int, visible: bool) -> None:
        """Show or hide one lane in every panel (kept across Reset)."""
        if visible:
            self._hidden_lanes.discard(lane)
        else:
            self._hidden_lanes.add(lane)
        for panel in self._panels:
            if id(panel) in self._bound:  # the others apply it when they are bound
                panel.set_lane_visible(lane, visible)
        self.request_render()

    def lane_visible(self, lane: int) -> bool:
        return lane not in self._hidden_lanes

    def show_epoch(self, epoch: int | None) -> None:
        """Show a recorded epoch; ``None`` or the newest epoch follows the run again."""
        newest = self._history.last_epoch if self._history is not None else -1
        if epoch is None or epoch >= newest:
            self._follow = True
        else:
            self._follow = False
            self._scrub_epoch = epoch
        self.request_render()

    def request_render(self) -> None:
        """Draw the visible panels at the next frame tick (e.g. a tab became visible)."""
        self._dirty = True
        if not self._timer.isActive():
            self._frame_cost_s = self._held_s = 0.0
            self._hold_frames = True
            self._timer.setInterval(self._frame_interval_ms)
            self._timer.start()

    @property
    def frame_interval_ms(self) -> int:
        """The time between frames now: the set interval, or longer if frames cost more."""
        return self._timer.interval()

    @contextlib.contextmanager
    def display_work(self) -> Iterator[None]:
        """Draw or paint inside this block.

        The training run holds before its next epoch until the block ends
        (see :meth:`RunControl.hold <gradviz.engine.control.RunControl.hold>`),
        and the block's time counts toward the cost of the current frame.
        """
        self._hold_run()
        outermost = self._display_depth == 0
        self._display_depth += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._display_depth -= 1
            if outermost:
                self._frame_cost_s += time.perf_counter() - started
            self._release_run()

    def _hold_run(self) -> None:
        if self._holds == 0:
            run = self._run
            # Frames too costly to be spaced out enough (a slow machine, the
            # lab's 36 lanes) draw without holding training.
            self._held = run.control if run is not None and self._hold_frames else None
            if self._held is not None:
                self._held.hold()
                self._held_since = time.perf_counter()
        self._holds += 1

    @Slot()
    def _release_run(self) -> None:
        self._holds -= 1
        if self._holds == 0 and self._held is not None:
            self._held.release()
            self._held = None
            self._held_s += time.perf_counter() - self._held_since

    def render_now(self) -> int:
        """Draw the visible panels immediately; returns the epoch drawn (-1: nothing yet)."""
        self._dirty = False
        epoch = self.shown_epoch
        if epoch < 0:
            return epoch
        if not self._frame_end.isActive():
            # Hold training until the frame's paints are done too: Qt runs a
            # zero timer once the events the drawing posted are handled.
            self._hold_run()
            self._frame_end.start()
        with self.display_work():
            for panel in self._panels:
                if panel.isVisible():
                    if id(panel) not in self._bound:
                        self._bind(panel)
                    panel.render(epoch)
        self.frame_rendered.emit(epoch)
        return epoch

    def shutdown(self, timeout_s: float = 3.0) -> bool:
        """Stop the run and join every worker thread; False if one outlived ``timeout_s``.

        A thread still running then (building or tracing its models) is kept
        alive beyond this controller until it ends; see :func:`join_outliving_runs`.
        """
        deadline = time.monotonic() + timeout_s
        self.stop(timeout_s)
        self._timer.stop()
        joined = True
        for run in list(self._threads):
            if not run.wait(max(0.0, deadline - time.monotonic())):
                joined = False
                run.setParent(None)
                _outliving.add(run)
        return joined

    # worker signals, on the GUI thread ---------------------------------------

    def _on_run_report(self, run: _Run, report: EpochReport) -> None:
        if run is not self._run or report.run_id != run.run_id:
            self._stale_dropped += 1  # a stopped run's report, still in the queue
            return
        history = self._history
        if run.continues is not None and (history is None or history.run_id != report.run_id):
            # A continued run's first report is the recorded last epoch again:
            # join the recorded history instead of starting a new one.
            try:
                history = run.continues.continued(report.layout)
            except ValueError as exc:
                self.stop()
                self._fail(f"Cannot continue this run: {exc}")
                return
            history.run_id = report.run_id
            run.continues = None
            self._history = history
            self._start_history(history)
        elif history is None or history.run_id != report.run_id or report.layout is not history.layout:
            history = RunHistory(report.layout)
            self._history = history
            history.append(report)
            self._start_history(history)
        else:
            history.append(report)
        for text in getattr(report, "messages", ()):
            self.message.emit(text)
        self.epoch_recorded.emit(report.epoch)
        self.request_render()

    def _on_run_failed(self, run: _Run, message: str) -> None:
        if run is not self._run:
            return
        self._fail(message)

    def _fail(self, message: str) -> None:
        self._last_error = message
        self._set_state(RunState.FAILED)
        self._end_preparation()
        self.failed.emit(message)

    def _on_run_finished(self, run: _Run) -> None:
        if run is not self._run:
            return
        self._run = None
        if self._state is not RunState.FAILED:
            self._set_state(RunState.STOPPED if run.control.stopped else RunState.FINISHED)
        self._end_preparation()
        self.request_render()

    def _on_thread_finished(self, run: _Run) -> None:
        if run in self._threads:
            self._threads.remove(run)
        run.setParent(None)
        run.deleteLater()

    # before the first epoch -----------------------------------------------------

    def _begin(self, run: _Run) -> None:
        """Make ``run`` (its thread started) the current one, and watch it prepare its first epoch."""
        self._run = run
        self._threads.append(run)
        self._end_preparation()
        self._preparation_since = time.monotonic()
        self._preparation_timer.start()

    @Slot()
    def _on_preparation_tick(self) -> None:
        run = self._run
        if run is None:
            self._end_preparation()
            return
        if time.monotonic() - self._preparation_since < self._preparation_after_s:
            return
        preparation = run.control.preparation
        if preparation is not None and preparation != self._preparation:
            self._preparation = preparation
            self.preparing.emit(preparation)

    def _end_preparation(self) -> None:
        self._preparation_timer.stop()
        if self._preparation is not None:
            self._preparation = None
            self.preparing.emit(None)

    # drawing ------------------------------------------------------------------

    @property
    def replaying(self) -> bool:
        """A recorded run is shown (an opened session): Play, Step and Reset move through it, training nothing."""
        return self._replay

    def _play_back(self) -> None:
        h = self._history
        if h is None or not len(h) or self._state is RunState.RUNNING:
            return
        if self.shown_epoch >= h.last_epoch:
            self.show_epoch(h.first_epoch)  # from the start, as the class first saw it
        self._replay_timer.start(self._replay_interval_ms())
        self._set_state(RunState.RUNNING)

    def _replay_interval_ms(self) -> int:
        if self._pace is None:
            return self._timer.interval()
        return max(self._timer.interval(), round(1000 / self._pace))

    def _replay_stride(self) -> int:
        # Flat out: the whole recording in about five seconds of frames.
        h = self._history
        if self._pace is not None or h is None:
            return 1
        return max(1, len(h) * self._timer.interval() // 5000)

    @Slot()
    def _on_replay_tick(self) -> None:
        self._advance_replay(self._replay_stride(), RunState.RUNNING)

    def _advance_replay(self, epochs: int, state: RunState) -> None:
        h = self._history
        if h is None or not len(h):
            return
        epoch = self.shown_epoch + epochs
        if epoch >= h.last_epoch:
            self._replay_timer.stop()
            self.show_epoch(None)
            self._set_state(RunState.FINISHED)
        else:
            self.show_epoch(epoch)
            self._set_state(state)

    def _start_history(self, history: RunHistory) -> None:
        self._end_preparation()
        # Building a panel's plot items costs tens of milliseconds per
        # plot: bind the panels on screen now, the others when first shown.
        self._bound.clear()
        for panel in self._panels:
            if panel.isVisible():
                self._bind(panel)
            else:  # the last run's items and numbers would stay in memory until it is shown
                panel.unbind()
        self.history_started.emit(history)

    def _bind(self, panel: Panel) -> None:
        assert self._history is not None
        panel.bind(self._history)
        self._bound.add(id(panel))
        for lane in self._hidden_lanes:
            panel.set_lane_visible(lane, False)

    @Slot()
    def _on_frame_tick(self) -> None:
        if not self._dirty:
            self._timer.stop()  # nothing new: no timer runs while the class just looks
            return
        # What the last frame cost the GUI thread, or training, whichever is more.
        cost_ms = max(self._frame_cost_s, self._held_s) * 1000
        self._frame_cost_s = self._held_s = 0.0
        self._hold_frames = cost_ms <= MAX_FRAME_INTERVAL_MS * DISPLAY_SHARE
        interval = min(MAX_FRAME_INTERVAL_MS, max(self._frame_interval_ms, round(cost_ms / DISPLAY_SHARE)))
        if interval != self._timer.interval():
            self._timer.setInterval(interval)
        if self._state is RunState.RUNNING and self._run is not None:
            # Ask training to hold first and draw a moment later, once the
            # epoch under way has ended: drawing then has the CPU to itself.
            if not self._render_held.isActive():
                self._hold_run()
                self._render_held.start()
            return
        self.render_now()

    @Slot()
    def _on_render_held(self) -> None:
        try:
            if self._dirty:
                self.render_now()
        finally:
            self._release_run()

    def _set_state(self, state: RunState) -> None:
        if state is not self._state:
            self._state = state
            self.state_changed.emit(state)
