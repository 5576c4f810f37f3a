"""Export: a panel as PNG, SVG or CSV; every file of a run into one folder; recording a run as a GIF."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QImage
from synthetic import lab_history, make_history, make_jacobian_history, race_history, surface_history

from gradviz.cli import _write_figures
from gradviz.engine.export import jacobians_csv, layers_csv, metrics_csv, write_run_files
from gradviz.engine.history import RunHistory
from gradviz.engine.lab import lab_csv
from gradviz.engine.lessons import Lesson
from gradviz.engine.spec import RunSpec
from gradviz.engine.surface_run import trajectory_csv
from gradviz.ui.controller import RunState
from gradviz.ui.export import ExportError, export_all, export_all_files, export_panel
from gradviz.ui.main_window import MainWindow
from gradviz.ui.panels import (
    ActivationsPanel,
    GradientsPanel,
    JacobiansPanel,
    LabPanel,
    RacePanel,
    SurfacePanel,
)
from tests.ui.test_controller import RUN_TIMEOUT_MS


def distinct_colours(path: Path) -> int:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    px = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return len(np.unique(px))


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("size", [(1920, 1080), (640, 400)])
def test_png_has_the_chosen_size_and_shows_the_plots(qapp, panel_factory, tmp_path, size) -> None:
    history = race_history(40)
    panel = panel_factory(RacePanel, history, epoch=30)
    path = export_panel(panel, history, tmp_path / "race.png", epoch=30, size=size)
    image = QImage(str(path))
    assert (image.width(), image.height()) == size
    assert distinct_colours(path) > 100, "the PNG is nearly a flat colour"
    assert (panel.width(), panel.height()) == (1280, 800)  # the window's panel is not resized
    assert panel.epoch == 30


def test_png_defaults_to_the_on_screen_size(qapp, panel_factory, tmp_path) -> None:
    history = make_history()
    panel = panel_factory(GradientsPanel, history, epoch=100)
    panel.resize(900, 560)
    path = export_panel(panel, history, tmp_path / "g.png", epoch=100)
    assert QImage(str(path)).size().toTuple() == (900, 560)


def test_svg_is_xml_with_drawn_paths_and_the_leaderboard_text(qapp, panel_factory, tmp_path) -> None:
    history = race_history(40)
    panel = panel_factory(RacePanel, history, epoch=40)
    path = export_panel(panel, history, tmp_path / "race.svg", epoch=40, size=(1200, 700))
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    tags = [el.tag.rsplit("}", 1)[-1] for el in root.iter()]
    assert tags.count("path") + tags.count("polyline") > 50  # curves, axes, grid
    text = " ".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))
    assert "Optimizer race" in text
    for name in history.layout.lane_names:  # legend and the leaderboard table beside the plots
        assert text.count(name) >= 2, name
    assert "epoch 40 of 40" in text


CSV_CASES: list[tuple[type, Callable[[], RunHistory], Callable[[RunHistory], str | None]]] = [
    (RacePanel, lambda: race_history(20), metrics_csv),
    (GradientsPanel, lambda: make_history(upto=20), layers_csv),
    (ActivationsPanel, lambda: make_history(upto=20), layers_csv),
    (JacobiansPanel, lambda: make_jacobian_history(upto=20), jacobians_csv),
    (LabPanel, lambda: lab_history(8), lab_csv),
    (SurfacePanel, lambda: surface_history("rosenbrock", 30), trajectory_csv),
]


@pytest.mark.parametrize(("cls", "make", "engine_csv"), CSV_CASES, ids=[c[0].name for c in CSV_CASES])
def test_each_panel_csv_is_the_engine_file_for_what_it_plots(qapp, panel_factory, tmp_path, cls, make,
                                                             engine_csv) -> None:
    history = make()
    panel = panel_factory(cls, history)
    path = export_panel(panel, history, tmp_path / f"{cls.name}.csv")
    expected = engine_csv(history)
    assert expected
    assert path.read_bytes() == expected.encode("utf-8")


def test_lab_csv_of_a_run_that_is_not_a_grid_is_refused(qapp, panel_factory, tmp_path) -> None:
    history = race_history(5)  # four optimizers on one kind of network: a single row
    panel = panel_factory(LabPanel, history)
    with pytest.raises(ExportError, match="no table"):
        export_panel(panel, history, tmp_path / "lab.csv")
    assert files_under(tmp_path) == set()


def test_bad_targets_give_the_path_and_reason_and_write_nothing(qapp, panel_factory, tmp_path) -> None:
    history = race_history(10)
    panel = panel_factory(RacePanel, history)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for target, reason in (
        (tmp_path / "race.bmp", ".png, .svg or .csv"),
        (tmp_path / "missing" / "race.png", "does not exist"),
        (a_file / "race.png", "not a folder"),
    ):
        with pytest.raises(ExportError, match=reason) as info:
            export_panel(panel, history, target)
        assert str(target.parent) in str(info.value) or str(target) in str(info.value)
    with pytest.raises(ExportError, match="16"):
        export_panel(panel, history, tmp_path / "tiny.png", size=(8, 8))
    assert files_under(tmp_path) == {"notes.txt"}


def test_export_all_writes_what_run_out_writes(qapp, tmp_path) -> None:
    history = make_jacobian_history(upto=12)
    (tmp_path / "all").mkdir()
    written = export_all(history, tmp_path / "all", size=(800, 500))
    # What `gradviz run --out` writes besides the weights, by the CLI's own functions.
    cli_out = tmp_path / "cli"
    expected = write_run_files(history, cli_out) + _write_figures(history, cli_out / "figures")
    assert files_under(tmp_path / "all") == files_under(cli_out) == {p.relative_to(cli_out).as_posix()
                                                                   for p in expected}
    assert [p.relative_to(tmp_path / "all").as_posix() for p in written] == export_all_files(history)
    assert "figures/race.png" in export_all_files(history)
    for name in files_under(cli_out):
        if not name.endswith(".png"):
            assert (tmp_path / "all" / name).read_bytes() == (cli_out / name).read_bytes(), name
    image = QImage(str(tmp_path / "all" / "figures" / "gradients.png"))
    assert (image.width(), image.height()) == (800, 500)


def test_export_all_refuses_a_folder_it_cannot_write(qapp, tmp_path) -> None:
    history = make_history(upto=3)
    a_file = tmp_path / "handout"
    a_file.write_text("not a folder")
    with pytest.raises(ExportError, match="not a folder") as info:
        export_all(history, a_file)
    assert str(a_file) in str(info.value)
    with pytest.raises(ExportError, match="no epoch"):
        export_all(RunHistory(history.layout), tmp_path)
    assert files_under(tmp_path) == {"handout"}


# the window -------------------------------------------------------------------------


@pytest.fixture
def window(qtbot) -> Iterator[Callable[[RunSpec, bool], MainWindow]]:
    """``window(spec, ready)``: a shown window on ``spec``; with ``ready``, TensorFlow loaded and epoch 0 drawn."""
    opened: list[MainWindow] = []

    def open_(spec: RunSpec, ready: bool) -> MainWindow:
        win = MainWindow(Lesson("tiny", "Tiny", "", "Two small lanes.", spec, ""))
        qtbot.addWidget(win)
        win.show()
        opened.append(win)
        if ready:
            with qtbot.waitSignal(win.controller.history_started, timeout=RUN_TIMEOUT_MS):
                win.start_tensorflow()
        return win

    yield open_
    for win in opened:
        win.close()
        assert win.loader.wait(60)


def test_export_is_off_until_a_run_is_recorded(qtbot, window, tiny_spec, tmp_path) -> None:
    win = window(tiny_spec(epochs=3), False)
    actions = win.export_actions
    assert not actions.export_panel_action.isEnabled()
    assert not actions.export_all_action.isEnabled()
    assert actions.export_all_to(tmp_path) == []
    assert "Nothing to export yet" in win.statusBar().currentMessage()
    texts = [a.text() for a in win.file_menu.actions()]
    assert texts.index("Export panel…") < texts.index("Export all…") < texts.index("Record…") < \
        texts.index("Quit\tCtrl+Q")
    assert files_under(tmp_path) == set()


@pytest.mark.usefixtures("tensorflow")
def test_window_exports_the_shown_panel_and_every_file_and_records_a_gif(
        qtbot, window, tiny_spec, tmp_path) -> None:
    win = window(tiny_spec(epochs=6), True)
    actions, controller = win.export_actions, win.controller
    assert actions.export_panel_action.isEnabled()

    recorder = actions.start_recording(tmp_path / "run.gif")
    assert recorder is not None and actions.record_action.text() == "Stop recording"
    controller.play()
    qtbot.waitUntil(lambda: controller.state is RunState.FINISHED, timeout=RUN_TIMEOUT_MS)
    gif = actions.stop_recording()
    assert gif == tmp_path / "run.gif" and actions.record_action.text() == "Record…"
    with Image.open(gif) as image:
        assert image.n_frames > 1
        assert image.size == recorder.frame_size
        assert image.size[0] <= 960
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("RGB"))
    assert len(np.unique(last.reshape(-1, 3), axis=0)) > 20  # the panels, not a blank frame
    assert "Recorded" in win.statusBar().currentMessage()

    png = actions.export_panel_to(tmp_path / "race.png", (1920, 1080))
    assert png is not None and QImage(str(png)).size().toTuple() == (1920, 1080)
    csv = actions.export_panel_to(tmp_path / "race.csv")
    assert csv is not None and csv.read_text() == metrics_csv(controller.history)

    out = tmp_path / "handout"
    out.mkdir()
    written = actions.export_all_to(out, size=(800, 500))
    assert files_under(out) == set(export_all_files(controller.history)) and len(written) == len(files_under(out))
    message = win.statusBar().currentMessage()
    assert str(out) in message and f"{len(written)} files" in message

    before = files_under(tmp_path)
    blocked = tmp_path / "race.csv" / "sub"
    assert actions.export_all_to(blocked) == []
    assert str(blocked) in win.error_text and "does not exist" in win.error_text
    assert actions.start_recording(tmp_path / "run.avi") is None
    assert ".gif or .mp4" in win.error_text and actions.recorder is None
    assert files_under(tmp_path) == before


@pytest.mark.usefixtures("tensorflow")
def test_closing_the_window_mid_run_finishes_the_recording(qtbot, window, tiny_spec, tmp_path) -> None:
    win = window(tiny_spec(epochs=100_000), True)
    controller = win.controller
    assert win.export_actions.start_recording(tmp_path / "class.gif") is not None
    controller.play()
    qtbot.waitUntil(lambda: controller.history.last_epoch >= 5, timeout=RUN_TIMEOUT_MS)
    qtbot.wait(800)  # a few frames' worth
    assert controller.state is RunState.RUNNING

    win.close()  # mid-run, mid-recording

    assert win.export_actions.recorder is None and not controller.is_busy()
    assert files_under(tmp_path) == {"class.gif"}  # complete, with no temporary file left beside it
    with Image.open(tmp_path / "class.gif") as gif:
        assert gif.n_frames > 1
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert len(np.unique(last.reshape(-1, 3), axis=0)) > 20


def test_a_frame_left_on_screen_for_an_hour_still_makes_a_gif(tmp_path) -> None:
    from PIL import Image

    from gradviz.ui.recorder import MAX_FRAME_S, _GifSink

    path = tmp_path / "pause.gif"
    frames = [np.full((40, 60, 3), c, np.uint8) for c in (10, 200, 90)]
    with path.open("wb") as fh:
        sink = _GifSink(fh)
        for frame, seconds in zip(frames, (3600.0, 0.1, 0.5)):  # the class talked for an hour on frame 1
            sink.write(frame, seconds)
        sink.close()
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        durations = []
        for i in range(3):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [round(MAX_FRAME_S * 1000), 100, 500]
