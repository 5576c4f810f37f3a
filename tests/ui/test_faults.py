"""Faults in front of a class: a failing step, a diverging lane, hammered buttons, closing at the worst moment.

Every test trains real runs in a real window; none may leave a thread running.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QListWidget

from gradviz.engine.control import RunControl
from gradviz.engine.report import EpochReport
from gradviz.engine.spec import RunSpec
from gradviz.ui.controller import RunState, join_outliving_runs
from gradviz.ui.main_window import MainWindow
from tests.ui.conftest import tiny_spec_json
from tests.ui.test_controller import RUN_TIMEOUT_MS
from tests.ui.test_window import as_lesson

pytestmark = pytest.mark.usefixtures("tensorflow")


@pytest.fixture
def window(qtbot, tiny_spec) -> Iterator[MainWindow]:
    win = MainWindow(as_lesson(tiny_spec(epochs=10_000)))
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(win.controller.history_started, timeout=RUN_TIMEOUT_MS):
        win.start_tensorflow()
    yield win
    win.close()
    assert not win.controller.is_busy()
    assert win.loader.wait(60)


def test_an_exception_inside_training_is_shown_and_the_recorded_epochs_stay(qtbot, window, monkeypatch) -> None:
    import gradviz.engine.trainer as trainer

    real_iter_run = trainer.iter_run

    def failing_at_epoch_4(spec: RunSpec, control: RunControl, **kwargs: object) -> Iterator[EpochReport]:
        for report in real_iter_run(spec, control, **kwargs):
            if report.epoch == 4:
                raise FloatingPointError("step 4 produced a denormal storm")
            yield report

    # The worker imports iter_run from the trainer when a run starts, on its own thread.
    monkeypatch.setattr(trainer, "iter_run", failing_at_epoch_4)
    c = window.controller
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        c.reset()
    with qtbot.waitSignal(c.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        c.play()
    assert blocker.args == ["Training failed: FloatingPointError: step 4 produced a denormal storm"]
    assert window.error_text == blocker.args[0]
    qtbot.waitUntil(lambda: not c.is_busy(), timeout=10_000)
    assert c.state is RunState.FAILED
    assert list(c.history.epochs) == [0, 1, 2, 3]  # nothing on screen was lost
    race = window.panels[0]
    qtbot.waitUntil(lambda: race.epoch == 3, timeout=5000)

    monkeypatch.setattr(trainer, "iter_run", real_iter_run)
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        c.reset()
    c.step()
    qtbot.waitUntil(lambda: c.history.last_epoch == 1, timeout=RUN_TIMEOUT_MS)
    assert window.error_text == ""  # a new run clears the old run's error


def test_a_diverging_lane_is_marked_and_the_others_train_on(qtbot, window) -> None:
    data = tiny_spec_json(epochs=12)
    data["lanes"][0]["optimizer"]["learning_rate"] = 10.0
    window.apply_spec(RunSpec.from_json(data))
    c = window.controller
    qtbot.waitUntil(lambda: c.history is not None and c.history.layout.spec.epochs == 12, timeout=RUN_TIMEOUT_MS)
    c.play()
    qtbot.waitUntil(lambda: c.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
    history = c.history
    diverged_at = history.diverged_epoch()
    assert 1 <= diverged_at[0] <= 12 and diverged_at[1] == -1
    assert np.isfinite(history.loss[1, 1:]).all()  # the other lane trained every epoch
    assert history.loss[1, -1] < history.loss[1, 1]
    c.render_now()
    race = window.panels[0]
    assert race.epoch == 12
    rows = {row.name: row for row in race.leaderboard()}
    assert rows["SGD"].diverged == diverged_at[0] and rows["Adam"].diverged == -1
    lane_list = window.lanes.findChild(QListWidget)
    assert lane_list.item(0).text() == f"SGD  (diverged at epoch {diverged_at[0]})"
    assert lane_list.item(1).text() == "Adam"
    assert window.error_text == ""  # divergence is a lesson, not an error


def test_stop_reset_and_lesson_switches_hammered_while_training(qtbot, window, tiny_spec) -> None:
    c = window.controller
    other = as_lesson(tiny_spec(epochs=10_000).replace(seed=11), "other")
    first = window.lesson
    c.set_pace(None)
    for i in range(12):
        c.play()
        if i % 3 == 0:  # sometimes let it get going, sometimes not
            qtbot.waitUntil(lambda: c.history is not None and c.history.last_epoch >= 2, timeout=RUN_TIMEOUT_MS)
        action = i % 4
        if action == 0:
            c.stop()
        elif action == 1:
            c.reset()
        elif action == 2:
            window.set_lesson(other if window.lesson is first else first)
        else:
            c.new_seed(100 + i)
        qtbot.wait(1)  # let queued reports of the old run arrive in the middle of it all
    with qtbot.waitSignal(c.history_started, timeout=RUN_TIMEOUT_MS):
        c.reset()
    c.play()
    qtbot.waitUntil(lambda: c.history.last_epoch >= 5, timeout=RUN_TIMEOUT_MS)
    assert c.stop()
    assert not c.is_busy() and c.state is RunState.STOPPED
    history = c.history
    assert history.run_id != 0 and list(history.epochs) == list(range(len(history)))  # no stale epoch in it
    assert window.error_text == ""


def test_closing_while_the_first_epoch_traces_never_destroys_a_running_thread(qtbot) -> None:
    # A model no other test builds, so the run has to build and trace (no cached rerun).
    data = tiny_spec_json(epochs=5)
    for lane in data["lanes"]:
        lane["model"]["layers"] = [{"units": 24, "activation": "elu"}] * 4 + [{"units": 1}]
    win = MainWindow(as_lesson(RunSpec.from_json(data)))
    win.show()
    win.start_tensorflow()
    qtbot.waitUntil(win.controller.is_busy, timeout=RUN_TIMEOUT_MS)
    assert win.controller.history is None  # still building and tracing epoch 0
    # What closing does (shutdown, then the window is deleted), with a join timeout shorter than the
    # trace: a stop lands only between batches.  The lab's 36 lanes trace for longer than closeEvent waits.
    assert not win.controller.shutdown(0.0)
    # Without care, deleting the window now aborts the process ("QThread: Destroyed while thread is
    # still running").
    win.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del win
    gc.collect()
    assert join_outliving_runs(RUN_TIMEOUT_MS / 1000)


def test_switching_lessons_while_the_lab_traces_does_not_wait_for_the_trace(qtbot) -> None:
    import dataclasses
    import time

    from gradviz.engine.lessons import load_lesson

    lab = load_lesson("lab")
    win = MainWindow(dataclasses.replace(lab, spec=lab.spec.replace(epochs=1)))
    qtbot.addWidget(win)
    win.show()
    win.start_tensorflow()
    qtbot.waitUntil(win.controller.is_busy, timeout=RUN_TIMEOUT_MS)
    assert win.controller.history is None  # 36 lanes building and tracing: tens of seconds
    lab_run = win.controller._run
    race = load_lesson("race")
    began = time.monotonic()
    win.set_lesson(dataclasses.replace(race, spec=race.spec.replace(epochs=3)))
    switched_in = time.monotonic() - began
    # The window went on at once (it used to wait 3 s for the trace); the lab's thread abandons its trace
    # at the step it is on, rather than tracing its 36 lanes to the end beside the race.
    assert switched_in < 2.0, f"switching lessons took {switched_in:.1f} s"
    qtbot.waitUntil(lambda: not lab_run.is_alive(), timeout=RUN_TIMEOUT_MS)
    assert lab_run.control.preparation is not None and lab_run.control.preparation.stage != "compiling"
    qtbot.waitUntil(lambda: win.controller.history is not None
                    and win.controller.history.layout.spec.lane_names == race.spec.lane_names,
                    timeout=RUN_TIMEOUT_MS * 3)
    assert win.controller.shown_epoch == 0 and win.controller.state is RunState.PAUSED
    win.close()
    assert join_outliving_runs(RUN_TIMEOUT_MS * 3 / 1000)
