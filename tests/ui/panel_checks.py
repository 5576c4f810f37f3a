"""Checks every panel class must pass, shared by the panels' test files."""

from __future__ import annotations

import gc
import weakref

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QTableWidget

from gradviz.engine.history import RunHistory
from gradviz.ui.theme import DARK


def graphics_items(panel) -> list:
    """The pyqtgraph items on the panel's canvases, beyond each canvas's empty layout."""
    return [item for view in panel.findChildren(pg.GraphicsView) for item in view.scene().items()
            if isinstance(item, (pg.GraphicsObject, pg.GraphicsWidget)) and item is not view.centralWidget]


def labels(panel) -> list[tuple[str, bool]]:
    """Every text label of the panel (header, captions, notes) and whether it is hidden."""
    return [(label.text(), label.isHidden()) for label in panel.findChildren(QLabel)]


def assert_unbind_frees_everything(panel, history: RunHistory, epoch: int) -> None:
    """``panel`` bound to ``history``: unbind drops the run and frees every item; a bind draws it again."""
    items = graphics_items(panel)
    assert items
    alive = [weakref.ref(item) for item in items]
    del items
    panel.unbind()
    gc.collect()
    assert panel.history is None and panel.epoch == 0
    assert graphics_items(panel) == []
    assert [ref for ref in alive if ref() is not None] == []  # not just off the canvas: gone
    # Nothing of the run is left to read either: the text shown is a fresh panel's.
    fresh = type(panel)()
    try:
        assert labels(panel) == labels(fresh)
        assert [t.rowCount() for t in panel.findChildren(QTableWidget)] == [0] * len(fresh.findChildren(QTableWidget))
    finally:
        fresh.deleteLater()
    # Unbound, it takes every call a fresh panel takes.
    panel.render(epoch)
    panel.set_lane_visible(0, False)
    panel.set_font_scale(1.3)
    panel.set_theme(DARK)
    panel.unbind()
    panel.bind(history)
    panel.render(epoch)
    assert panel.history is history and panel.epoch == epoch
    assert len(graphics_items(panel)) == len(alive)
