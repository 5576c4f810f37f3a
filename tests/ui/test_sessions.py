"""Sessions in the window: save, open (without TensorFlow), replay every epoch, continue training."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from gradviz.engine.session import load_session
from gradviz.ui.controller import RunState
from gradviz.ui.main_window import MainWindow
from tests.ui.test_controller import RUN_TIMEOUT_MS
from tests.ui.test_window import REPO, as_lesson, wait_state

pytestmark = pytest.mark.usefixtures("tensorflow")


def _trained_window(qtbot, open_window, tiny_spec, epochs: int = 6) -> MainWindow:
    window = open_window(tiny_spec(epochs=epochs))
    window.controller.set_pace(None)
    window.controller.play()
    wait_state(qtbot, window, RunState.FINISHED)
    return window


def _fresh_window(qtbot, tiny_spec) -> MainWindow:
    window = MainWindow(as_lesson(tiny_spec(epochs=3), "other"))
    qtbot.addWidget(window)
    window.show()
    return window


def _recording_window(qtbot, open_window, tiny_spec, tmp_path: Path) -> MainWindow:
    """A fresh window showing an 8-epoch run that another window trained and saved."""
    source = _trained_window(qtbot, open_window, tiny_spec, epochs=8)
    saved = source.sessions.save(tmp_path / "tiny.gradviz")
    window = _fresh_window(qtbot, tiny_spec)
    window.sessions.open(saved)
    return window


def test_save_then_open_shows_every_recorded_number(qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    source = _trained_window(qtbot, open_window, tiny_spec)
    saved = source.sessions.save(tmp_path / "tiny")
    assert saved == tmp_path / "tiny.gradviz" and saved.is_file()
    recorded = source.controller.history

    window = _fresh_window(qtbot, tiny_spec)
    try:
        session = window.sessions.open(saved)
        assert session is not None
        history = window.controller.history
        assert window.controller.state is RunState.FINISHED
        for name, values in recorded.arrays().items():
            np.testing.assert_array_equal(history.arrays()[name], values, err_msg=name)
        window.controller.render_now()
        race = window.panels[0]
        assert race.history is history and race.epoch == 6
        np.testing.assert_allclose(race.curve(1).yData[1:], recorded.loss[1, 1:])
        window.controller.show_epoch(2)  # the timeline works on a replayed run
        assert window.controller.render_now() == 2 and race.epoch == 2
        assert window.windowTitle().startswith("tiny.gradviz")
        assert window.sessions.continue_action.isEnabled()
    finally:
        window.close()


def test_a_bad_file_is_refused_and_the_shown_run_stays(qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    window = _trained_window(qtbot, open_window, tiny_spec)
    shown = window.controller.history
    bad = tmp_path / "notes.gradviz"
    bad.write_text("these are my notes")
    assert window.sessions.open(bad) is None
    assert "is not a gradviz session" in window.error_text
    assert window.controller.history is shown and window.lesson.name == "tiny"
    assert window.sessions.save(tmp_path / "missing" / "x.gradviz") is None
    assert "cannot write session" in window.error_text
    assert not (tmp_path / "missing").exists()


def test_continue_training_appends_to_the_opened_run(qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    source = _trained_window(qtbot, open_window, tiny_spec, epochs=4)
    saved = source.sessions.save(tmp_path / "tiny.gradviz")
    before = load_session(saved).history

    window = _fresh_window(qtbot, tiny_spec)
    try:
        window.sessions.open(saved)
        window.controller.set_pace(None)
        assert window.sessions.continue_training(3)
        qtbot.waitUntil(lambda: window.controller.history.last_epoch == 7, timeout=60_000)
        wait_state(qtbot, window, RunState.FINISHED)
        history = window.controller.history
        assert list(history.epochs) == list(range(8)) and history.layout.epochs == 7
        np.testing.assert_array_equal(history.loss[:, :5], before.loss)  # the recorded epochs are kept
        assert np.isfinite(history.loss[:, 5:]).all()
        assert history.weights_epoch == 7
        # The continued run saves and reopens as one run of 7 epochs.
        again = load_session(window.sessions.save(tmp_path / "more.gradviz")).history
        np.testing.assert_array_equal(again.loss, history.loss)
        assert again.layout.start_epoch == 4 and again.layout.epochs == 7
    finally:
        window.close()


def _gradviz(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env_code = "import sys; from gradviz.cli import main; rc = main(sys.argv[1:]); " \
               "print('tensorflow' in sys.modules); sys.exit(rc)"
    return subprocess.run([sys.executable, "-c", env_code, *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})


def test_open_from_the_command_line_without_tensorflow(open_window, qtbot, tiny_spec, tmp_path: Path) -> None:
    source = _trained_window(qtbot, open_window, tiny_spec)
    saved = source.sessions.save(tmp_path / "tiny.gradviz")
    shot = tmp_path / "shot.png"
    done = _gradviz("--open", str(saved), "--screenshot", str(shot), "--quit-when-done", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"  # TensorFlow was never imported
    assert shot.stat().st_size > 10_000

    broken = tmp_path / "broken.gradviz"
    broken.write_bytes(saved.read_bytes()[:500])
    failed = _gradviz("--open", str(broken), "--quit-when-done", cwd=REPO)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert lines[-1].startswith("gradviz: error: ") and "damaged or truncated" in lines[-1]
    assert "Traceback" not in failed.stderr

    clash = _gradviz("--open", str(saved), "--play", cwd=REPO)
    assert clash.returncode == 2 and "--open shows a session as it was recorded" in clash.stderr


def test_play_step_and_reset_move_through_a_recording_without_training(qtbot, open_window, tiny_spec,
                                                                       tmp_path: Path) -> None:
    window = _recording_window(qtbot, open_window, tiny_spec, tmp_path)
    try:
        controller = window.controller
        history = controller.history
        assert controller.replaying and controller.shown_epoch == 8
        controller.set_pace(50.0)
        drawn: list[int] = []
        controller.frame_rendered.connect(drawn.append)
        controller.play()  # plays the recording back from its first epoch
        assert controller.state is RunState.RUNNING
        wait_state(qtbot, window, RunState.FINISHED)
        qtbot.waitUntil(lambda: drawn[-1] == 8, timeout=5000)  # the last frame follows the state by a tick
        assert drawn[0] == 0 and drawn == sorted(drawn) and len(set(drawn)) >= 5
        assert controller.history is history and len(history) == 9  # nothing was trained
        assert not window.loader.is_started  # nor TensorFlow asked for
        controller.reset()
        assert controller.state is RunState.PAUSED and controller.shown_epoch == 0
        controller.step()
        controller.step()
        assert controller.shown_epoch == 2 and controller.state is RunState.PAUSED
        controller.play()
        controller.pause()
        assert controller.state is RunState.PAUSED and controller.history is history
    finally:
        window.close()


def test_step_works_in_a_finished_recording_dragged_back(qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    window = _recording_window(qtbot, open_window, tiny_spec, tmp_path)
    try:
        controller, step = window.controller, window.transport.step_button
        controller.render_now()
        assert controller.state is RunState.FINISHED and not step.isEnabled()  # at the last epoch
        controller.show_epoch(3)  # the learner drags the timeline back
        controller.render_now()
        assert step.isEnabled()
        qtbot.mouseClick(step, Qt.MouseButton.LeftButton)
        controller.render_now()
        assert controller.shown_epoch == 4 and controller.state is RunState.PAUSED
        controller.show_epoch(None)
        controller.render_now()
        controller.step()  # from epoch 8 of 8 the recording ends: finished, and Step off again
        controller.render_now()
        assert controller.state is RunState.FINISHED and not step.isEnabled()
    finally:
        window.close()


def test_continuing_keeps_the_hyperparameters_set_live(qtbot, open_window, tmp_path: Path) -> None:
    from gradviz.engine.lessons import load_lesson

    window = open_window(load_lesson("surface-ravine").spec.replace(epochs=30))
    controller = window.controller
    controller.set_pace(40.0)
    controller.play()
    qtbot.waitUntil(lambda: controller.history.last_epoch >= 2, timeout=60_000)
    for lane in range(controller.history.layout.n_lanes):
        controller.control.set_hyperparameter(lane, "learning_rate", 1e-5)  # every point all but stops
    wait_state(qtbot, window, RunState.FINISHED)
    frozen = controller.history.positions[:, -1].copy()
    assert len(controller.history.edits) == controller.history.layout.n_lanes

    controller.set_pace(None)
    controller.continue_training(5)
    qtbot.waitUntil(lambda: controller.history.last_epoch == 35, timeout=60_000)
    wait_state(qtbot, window, RunState.FINISHED)
    # Had the continued run gone back to the lesson's learning rates, the points would move on
    # as in the run's first two steps.
    positions = controller.history.positions
    first_steps = np.abs(positions[:, 2] - positions[:, 0]).max(axis=1)
    continued = np.abs(positions[:, -1] - frozen).max(axis=1)
    assert (continued < first_steps / 10).all(), (continued, first_steps)


def test_timeline_and_lesson_picker_follow_an_opened_session(qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    window = _recording_window(qtbot, open_window, tiny_spec, tmp_path)
    try:
        controller, timeline = window.controller, window.transport.timeline
        controller.reset()
        controller.render_now()
        assert (controller.shown_epoch, timeline.value(), timeline.maximum()) == (0, 0, 8)
        controller.step()
        controller.render_now()
        assert timeline.value() == 1
        # Away to another lesson and back: the session is shown again, not trained afresh.
        picker = window.lesson_picker
        session_entry = picker.currentIndex()
        picker.setCurrentIndex(picker.findData("race"))
        assert not controller.replaying
        picker.setCurrentIndex(session_entry)
        assert controller.replaying and controller.state is RunState.FINISHED
        assert len(controller.history) == 9
    finally:
        window.close()


def test_a_session_opened_after_tensorflow_failed_plays_back_and_says_why_it_cannot_train(
        qtbot, open_window, tiny_spec, tmp_path: Path) -> None:
    from gradviz.ui.tf_loader import TensorFlowLoader

    source = _trained_window(qtbot, open_window, tiny_spec, epochs=4)
    saved = source.sessions.save(tmp_path / "tiny.gradviz")
    loader = TensorFlowLoader()
    window = MainWindow(as_lesson(tiny_spec(epochs=3)), loader=loader)
    qtbot.addWidget(window)
    window.show()
    try:
        loader.error = "TensorFlow could not be loaded: ImportError: no libtensorflow"
        loader._done.set()  # the import ended in failure, as TensorFlowLoader._load records it
        loader.failed.emit(loader.error)
        window.sessions.open(saved)
        assert window.transport.play_button.isEnabled()
        window.transport.play_button.click()  # playing back needs no TensorFlow
        assert window.controller.state is RunState.RUNNING
        window.controller.pause()
        window.sessions.continue_training(2)
        assert "Training needs TensorFlow, which could not be loaded" in window.error_text
        assert window.controller.history.last_epoch == 4
    finally:
        window.close()


def test_a_slow_save_keeps_the_run_going_and_holds_the_epochs_at_the_moment_of_saving(
        qtbot, open_window, tiny_spec, tmp_path: Path, monkeypatch) -> None:
    import gradviz.ui.sessions as sessions_module

    write = sessions_module.write_session

    def slow_write(path, snapshot):  # a long run's session takes seconds to compress
        time.sleep(0.8)
        return write(path, snapshot)

    monkeypatch.setattr(sessions_module, "write_session", slow_write)
    window = open_window(tiny_spec(epochs=100_000))
    controller = window.controller
    controller.set_pace(50.0)
    controller.play()
    qtbot.waitUntil(lambda: controller.history.last_epoch >= 5, timeout=RUN_TIMEOUT_MS)
    drawn: list[int] = []
    controller.frame_rendered.connect(drawn.append)

    again: list[object] = []  # Save pressed again while the first save is written (a shortcut, a timer)
    QTimer.singleShot(300, lambda: again.append(window.sessions.save(tmp_path / "again.gradviz")))
    at_save = controller.history.last_epoch
    saved = window.sessions.save(tmp_path / "live.gradviz")
    after_save = controller.history.last_epoch
    assert again == [None] and not (tmp_path / "again.gradviz").exists()

    assert saved == tmp_path / "live.gradviz"
    assert after_save >= at_save + 10  # about 40 epochs at 50 a second: training went on
    assert len(set(drawn)) >= 5  # and the panels kept drawing them
    assert controller.state is RunState.RUNNING
    recorded = load_session(saved).history
    assert recorded.last_epoch == at_save  # what was on screen when Save was pressed
    np.testing.assert_array_equal(recorded.loss, controller.history.loss[:, : at_save + 1])
    assert f"Saved epochs 0–{at_save} of 2 lanes" in window.statusBar().currentMessage()  # not the newer ones
