"""LaneList: every lane of the run with its colour swatch and a checkbox to hide it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from gradviz.ui.theme import lane_icon

__all__ = ["LaneList", "LaneVisibility"]


@dataclass(frozen=True, slots=True)
class LaneVisibility:
    """Payload of :attr:`LaneList.lane_visibility_changed`."""

    lane: int
    visible: bool


class LaneList(QWidget):
    """A checkable list of lanes; unticking a lane hides it in every panel.

    Signals
    -------
    lane_visibility_changed(LaneVisibility)
        The learner ticked or unticked a lane.
    """

    lane_visibility_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._list = QListWidget()
        self._list.setIconSize(QSize(32, 16))
        self._list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._list.setToolTip("Untick a lane to hide it in every panel")
        self._list.itemChanged.connect(self._on_item_change)
        self._notes: list[str] = []
        self._names: list[str] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._list)

    def set_lanes(self, names: Sequence[str], details: Sequence[str] = ()) -> None:
        """Show these lanes, all ticked; ``details`` become tooltips (e.g. the optimizer)."""
        blocked = self._list.blockSignals(True)
        try:
            self._list.clear()
            self._names = list(names)
            self._notes = [""] * len(self._names)
            for lane, name in enumerate(self._names):
                item = QListWidgetItem(lane_icon(lane), name)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
                if lane < len(details):
                    item.setToolTip(details[lane])
                self._list.addItem(item)
        finally:
            self._list.blockSignals(blocked)
        self._fit_height()

    def _fit_height(self) -> None:
        # As tall as the lanes (2 to 10 rows), so the lesson text below gets the rest.
        rows = min(10, max(2, self._list.count()))
        row = self._list.sizeHintForRow(0) if self._list.count() else self.fontMetrics().height() + 6
        self._list.setFixedHeight(rows * row + 2 * self._list.frameWidth() + 4)

    def set_note(self, lane: int, note: str) -> None:
        """A short remark after the lane's name, e.g. ``"diverged at epoch 12"``."""
        if not 0 <= lane < len(self._names) or self._notes[lane] == note:
            return
        self._notes[lane] = note
        blocked = self._list.blockSignals(True)
        self._list.item(lane).setText(f"{self._names[lane]}  ({note})" if note else self._names[lane])
        self._list.blockSignals(blocked)

    def lane_count(self) -> int:
        return self._list.count()

    def is_checked(self, lane: int) -> bool:
        return self._list.item(lane).checkState() == Qt.CheckState.Checked

    def set_checked(self, lane: int, visible: bool) -> None:
        """Tick or untick a lane as the learner would (emits the signal)."""
        self._list.item(lane).setCheckState(Qt.CheckState.Checked if visible else Qt.CheckState.Unchecked)

    @Slot(QListWidgetItem)
    def _on_item_change(self, item: QListWidgetItem) -> None:
        lane = self._list.row(item)
        self.lane_visibility_changed.emit(LaneVisibility(lane, item.checkState() == Qt.CheckState.Checked))
