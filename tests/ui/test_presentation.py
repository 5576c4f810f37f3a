"""Presentation mode: one key in and out, the panel alone and large, the layout back exactly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gradviz.ui.main_window import MainWindow
from gradviz.ui.presentation import presentation_scale
from gradviz.ui.theme import DARK, LIGHT
from tests.ui.synthetic import race_history

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def window(qtbot, settings_file) -> MainWindow:
    win = MainWindow(settings=settings_file())
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    return win


def race_panel(window: MainWindow):
    panel = next(p for p in window.panels if p.name == "race")
    panel.bind(race_history(40))
    panel.render(40)
    return panel


def layout_state(window: MainWindow) -> dict:
    return {
        "side": window.side_pane.isVisible(), "menu": window.menuBar().isVisible(),
        "status": window.statusBar().isVisible(), "tabs": window.tabs.tabBar().isVisible(),
        "size": window.size(), "splitter": window.splitter.sizes(), "full": window.isFullScreen(),
        "tab": window.tabs.currentIndex(), "font": window.font().pointSizeF(),
        "panel_font": [p.font_scale for p in window.panels], "lines": [p.line_scale for p in window.panels],
    }


def test_f5_enters_and_leaves_and_the_layout_comes_back(qtbot, window: MainWindow) -> None:
    before = layout_state(window)
    assert before["side"] and before["menu"] and before["tabs"] and not before["full"]

    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.presentation.active
    assert window.isFullScreen()
    assert not window.side_pane.isVisible()
    assert not window.menuBar().isVisible()
    assert not window.statusBar().isVisible()
    assert not window.tabs.tabBar().isVisible()
    assert window.tabs.currentWidget().isVisible()  # the lesson's panel
    assert window.transport.isVisible()

    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert not window.presentation.active
    assert layout_state(window) == before


def test_ctrl_p_enters_and_esc_leaves(qtbot, window: MainWindow) -> None:
    before = layout_state(window)
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert window.presentation.active
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.presentation.active
    assert layout_state(window) == before
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # Esc outside presentation does nothing
    assert not window.presentation.active


def test_keys_work_while_the_menu_bar_is_hidden(qtbot, window: MainWindow) -> None:
    window.presentation.enter()
    scale = window.appearance.font_scale
    qtbot.keyClick(window, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert window.appearance.font_scale > scale
    qtbot.keyClick(window, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert window.appearance.font_scale == 1.0
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert not window.presentation.active


def test_tick_labels_grow_by_the_screens_factor_and_lines_get_thicker(window: MainWindow) -> None:
    panel = race_panel(window)
    axis = panel.loss_plot.getAxis("bottom")
    normal_tick = axis.style["tickFont"].pointSizeF()
    normal_pen = panel.curve(0).opts["pen"].widthF()
    screen = window.screen()
    expected = presentation_scale(screen.geometry().height(), screen.logicalDotsPerInchY())
    assert expected >= 1.25

    window.presentation.enter()
    assert axis.style["tickFont"].pointSizeF() == pytest.approx(normal_tick * expected, rel=1e-6)
    assert panel.curve(0).opts["pen"].widthF() >= 1.75 * normal_pen
    assert window.transport.epoch_text.font().pointSizeF() > 1.0 * window.transport.font().pointSizeF()

    window.presentation.leave()
    assert axis.style["tickFont"].pointSizeF() == pytest.approx(normal_tick)
    assert panel.curve(0).opts["pen"].widthF() == pytest.approx(normal_pen)


def test_presentation_scale_follows_the_screen_not_fixed_points() -> None:
    small, hd, uhd = (presentation_scale(h, 96) for h in (768, 1080, 2160))
    assert 1.25 <= small < hd < uhd
    assert uhd == pytest.approx(2 * hd)
    # Tick labels are about 1/40 of the screen height at every size.
    for height, scale in ((1080, hd), (2160, uhd)):
        tick_px = 9.5 * scale * 96 / 72
        assert tick_px == pytest.approx(height / 40)


def test_the_theme_switch_repaints_every_panel(qtbot, window: MainWindow) -> None:
    race_panel(window)

    def backgrounds() -> set[str]:
        return {view.backgroundBrush().color().name().upper() for p in window.panels for view in p._views}

    assert backgrounds() == {LIGHT.background}
    window.appearance.theme_actions["dark"].trigger()
    assert backgrounds() == {DARK.background}
    assert all(p.theme is DARK for p in window.panels)
    race = window.panels[0]
    assert race.loss_plot.getAxis("left").textPen().color().name().upper() == DARK.foreground
    assert window.palette().color(window.palette().ColorRole.Window).lightness() < 80
    window.appearance.theme_actions["light"].trigger()
    assert backgrounds() == {LIGHT.background}
    assert window.palette().color(window.palette().ColorRole.Window).lightness() > 180


def test_font_scale_menu_scales_panels_and_window(window: MainWindow) -> None:
    base = window.font().pointSizeF()
    window.appearance.font_actions["larger"].trigger()
    scale = window.appearance.font_scale
    assert scale > 1.0
    assert all(p.font_scale == pytest.approx(scale) for p in window.panels)
    assert window.font().pointSizeF() == pytest.approx(base * scale)
    window.appearance.font_actions["reset"].trigger()
    assert window.font().pointSizeF() == pytest.approx(base)


def test_lanes_have_a_marker_as_well_as_a_colour_in_every_bar_chart(window: MainWindow) -> None:
    from gradviz.ui.theme import lane_symbol

    history = race_history(20)
    for panel in window.panels:
        if panel.name in ("gradients", "activations"):
            panel.bind(history)
            panel.render(20)
    gradients = next(p for p in window.panels if p.name == "gradients")
    activations = next(p for p in window.panels if p.name == "activations")
    for lane in range(history.layout.n_lanes):
        assert gradients._tops[lane].opts["symbol"] == lane_symbol(lane)
        assert len(gradients._tops[lane].data) > 0
        assert activations._frac_tops[lane].opts["symbol"] == lane_symbol(lane)
    race = race_panel(window)
    assert race._marks[1].opts["symbol"] == lane_symbol(1)
    assert race._samples[1].opts["symbol"] == lane_symbol(1)


@pytest.mark.slow
def test_gradviz_presentation_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "out.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "gradviz", "--lesson", "race", "--presentation", "--screenshot", str(shot),
         "--quit-when-done"],
        capture_output=True, text=True, timeout=240, env=env, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    # Full screen on the offscreen platform's screen, with no side pane or menu bar.
    from PySide6.QtGui import QGuiApplication

    screen = QGuiApplication.primaryScreen().geometry()
    assert (image.width(), image.height()) == (screen.width(), screen.height())
    settings = Path(os.environ["GRADVIZ_SETTINGS"])
    assert not settings.exists() or "presentation" not in settings.read_text()
