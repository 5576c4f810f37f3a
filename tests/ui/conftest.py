"""UI test fixtures: a tiny real spec, TensorFlow loaded once, and no thread left behind."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator

import pytest
import shiboken6
from PySide6.QtCore import QThread

from gradviz.engine.spec import RunSpec
from gradviz.ui.garbage import GuiGarbageCollector


def tiny_spec_json(epochs: int = 10, input_dim: int = 1) -> dict:
    """Two lanes of Dense(8, tanh) + Dense(1) on 40 cubic samples: trains in milliseconds."""

    def lane(name: str, optimizer: dict) -> dict:
        return {
            "name": name,
            "model": {"input_dim": input_dim, "layers": [{"units": 8, "activation": "tanh"}, {"units": 1}]},
            "optimizer": optimizer,
        }

    return {
        "seed": 3,
        "epochs": epochs,
        "batch_size": 16,
        "shuffle": True,
        "dataset": {"name": "cubic", "n_samples": 40},
        "lanes": [
            lane("SGD", {"name": "sgd", "learning_rate": 0.05}),
            lane("Adam", {"name": "adam", "learning_rate": 0.01}),
        ],
    }


@pytest.fixture
def tiny_spec() -> Callable[..., RunSpec]:
    """``tiny_spec(epochs=10)``: the tiny two-lane run as a RunSpec."""

    def make(epochs: int = 10) -> RunSpec:
        return RunSpec.from_json(tiny_spec_json(epochs))

    return make


@pytest.fixture
def bad_input_spec() -> RunSpec:
    """Valid JSON form, but the cubic data has 1 input, not 3: the trainer refuses it."""
    return RunSpec.from_json(tiny_spec_json(5, input_dim=3))


@pytest.fixture(scope="session", autouse=True)
def gui_garbage_collector(qapp) -> Iterator[GuiGarbageCollector]:
    """As in the app: Python's cycle collector runs on the GUI thread only."""
    collector = GuiGarbageCollector()
    collector.start()
    yield collector
    collector.stop()


@pytest.fixture(scope="session")
def tensorflow(gui_garbage_collector: GuiGarbageCollector) -> None:
    """Import TensorFlow once, configured as the app does, before tests that train."""
    from gradviz.engine.runtime import import_tensorflow

    import_tensorflow()
    gui_garbage_collector.freeze()


_started: weakref.WeakSet[QThread] = weakref.WeakSet()
_original_start = QThread.start


def _tracking_start(self: QThread, *args: object) -> None:
    _started.add(self)
    _original_start(self, *args)


@pytest.fixture(autouse=True)
def no_thread_left_running(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that leaves a QThread (or a gradviz Python thread) running."""
    monkeypatch.setattr(QThread, "start", _tracking_start)
    _started.clear()
    yield
    running = [
        t.objectName() or repr(t)
        for t in list(_started)
        if shiboken6.isValid(t) and t.isRunning()
    ]
    for t in list(_started):
        if shiboken6.isValid(t) and t.isRunning():
            t.wait(5000)  # do not let the process abort on top of the failure
    python_threads = [
        t.name for t in threading.enumerate() if t.name.startswith("gradviz-") and t.is_alive()
    ]
    _started.clear()
    gc.collect()  # here, on the GUI thread, not in the next test's worker
    if running or python_threads:
        pytest.fail(f"test left threads running: {running + python_threads}")


@pytest.fixture
def panel_factory(qtbot) -> Callable[..., object]:
    """Build a panel of a class at 1280×800, bound to a history and drawn at an epoch."""

    def make(cls: type, history: object, epoch: int | None = None, **kwargs: object) -> object:
        panel = cls(**kwargs)
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        panel.bind(history)
        if epoch is not None:
            panel.render(epoch)
        return panel

    return make


@pytest.fixture
def settings_file(tmp_path) -> Callable[[], object]:
    """``settings_file()``: a SettingsStore on an INI file in this test's tmp_path (the same file each call)."""
    from gradviz.ui.settings import SettingsStore

    path = tmp_path / "settings" / "gradviz.ini"

    def make(**kwargs: object) -> SettingsStore:
        return SettingsStore(path, **kwargs)

    return make


@pytest.fixture
def open_window(qtbot) -> Iterator[Callable[..., object]]:
    """``open_window(spec)``: a shown MainWindow on ``spec``, TensorFlow ready and epoch 0 drawn; closed after."""
    from gradviz.ui.main_window import MainWindow
    from tests.ui.test_controller import RUN_TIMEOUT_MS
    from tests.ui.test_window import as_lesson

    windows: list[MainWindow] = []

    def open_(spec: RunSpec, *, wait_ready: bool = True) -> MainWindow:
        window = MainWindow(as_lesson(spec))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if wait_ready:
            with qtbot.waitSignal(window.controller.history_started, timeout=RUN_TIMEOUT_MS):
                window.start_tensorflow()  # ready -> the run is shown at epoch 0, paused
        return window

    yield open_
    for window in windows:
        window.close()
        assert not window.controller.is_busy()
        assert window.loader.wait(60)
