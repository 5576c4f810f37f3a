"""TransportBar: Play/Pause, Step, Stop, Reset, New seed, pace, epoch counter and timeline.

A view: it exposes setters and signals and decides nothing about runs.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal, Slot
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QVBoxLayout,
    QWidget,
)

from gradviz.ui.controller import RunState

__all__ = ["PACE_STOPS", "PaceSlider", "TransportBar", "pace_label"]

# Epochs per second the pace slider stops at; ``None`` is "as fast as the machine can".
PACE_STOPS: tuple[float | None, ...] = (1, 2, 5, 10, 20, 50, 100, None)

# The counter the bar keeps room for (a narrow projector must still fit the bar).
_COUNTER_SAMPLE = "epoch 00000 / 00000"


def pace_label(pace: float | None) -> str:
    """``"20 epochs/s"``, ``"1 epoch/s"`` or ``"max"``."""
    if pace is None:
        return "max"
    value = f"{pace:g}"
    return f"{value} epoch/s" if pace == 1 else f"{value} epochs/s"


class _TickLabels(QWidget):
    """The stop labels under a slider, each centred on its tick."""

    def __init__(self, slider: QSlider, labels: list[str]) -> None:
        super().__init__()
        self._slider = slider
        self._labels = labels
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(40 * len(self._labels), self.fontMetrics().height() + 2)

    def minimumSizeHint(self) -> QSize:
        # Wide enough for the labels not to overlap at any font size.
        widest = max((self.fontMetrics().horizontalAdvance(text) for text in self._labels), default=0)
        return QSize(max(24, widest + 8) * len(self._labels), self.fontMetrics().height() + 2)

    def paintEvent(self, event: QPaintEvent) -> None:
        opt = QStyleOptionSlider()
        self._slider.initStyleOption(opt)
        style = self._slider.style()
        handle = style.subControlRect(
            QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self._slider
        )
        span = self._slider.width() - handle.width()
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        width = self.width()
        for value, text in enumerate(self._labels):
            pos = QStyle.sliderPositionFromValue(self._slider.minimum(), self._slider.maximum(), value, span)
            centre = pos + handle.width() // 2
            w = self.fontMetrics().horizontalAdvance(text) + 4
            left = min(max(0, centre - w // 2), width - w)
            painter.drawText(QRect(left, 0, w, self.height()), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class PaceSlider(QWidget):
    """A slider over :data:`PACE_STOPS` with its stops labelled underneath.

    Signals
    -------
    pace_changed(float | None)
        The chosen epochs per second; ``None`` for max.
    """

    pace_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setRange(0, len(PACE_STOPS) - 1)
        self._slider.setPageStep(1)
        self._slider.setTickPosition(QSlider.TickPosition.TicksAbove)
        self._slider.setTickInterval(1)
        self._slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._slider.setToolTip("Training pace: epochs per second (max: as fast as this computer can)")
        self._slider.valueChanged.connect(self._on_slider_change)
        labels = ["max" if p is None else f"{p:g}" for p in PACE_STOPS]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._slider)
        layout.addWidget(_TickLabels(self._slider, labels))

    @property
    def pace(self) -> float | None:
        return PACE_STOPS[self._slider.value()]

    def set_pace(self, pace: float | None) -> None:
        """Move to the stop nearest ``pace`` without emitting ``pace_changed``."""
        if pace is None:
            index = len(PACE_STOPS) - 1
        else:
            finite = [p for p in PACE_STOPS if p is not None]
            index = min(range(len(finite)), key=lambda i: abs(finite[i] - pace))
        blocked = self._slider.blockSignals(True)
        self._slider.setValue(index)
        self._slider.blockSignals(blocked)

    @Slot(int)
    def _on_slider_change(self, index: int) -> None:
        self.pace_changed.emit(PACE_STOPS[index])


class TransportBar(QWidget):
    """The controls under the panels.

    Signals
    -------
    play_requested(), pause_requested(), step_requested(), stop_requested(),
    reset_requested(), new_seed_requested()
        The learner pressed that button.
    pace_changed(float | None)
        Epochs per second; ``None`` for max.
    epoch_scrubbed(int | None)
        The learner dragged the timeline to an epoch; ``None`` when they
        dragged it back to the newest, to follow the run again.
    """

    play_requested = Signal()
    pause_requested = Signal()
    step_requested = Signal()
    stop_requested = Signal()
    reset_requested = Signal()
    new_seed_requested = Signal()
    pace_changed = Signal(object)
    epoch_scrubbed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = RunState.IDLE
        self._ready = False
        self._locked: frozenset[str] = frozenset()
        self._follow = True
        self._updating = False
        self._recording = False  # the run shown is a recording: Step moves through it
        self._behind = False  # the epoch shown is older than the newest one

        self.play_button = self._button("Play", "Play or pause training (Space)", self._on_play_click)
        self.step_button = self._button("Step", "Train exactly one epoch (Right arrow)", self.step_requested.emit)
        self.stop_button = self._button("Stop", "End this run; its epochs stay on the timeline",
                                        self.stop_requested.emit)
        self.reset_button = self._button("Reset", "Back to epoch 0 with the same seed: replays identically (R)",
                                         self.reset_requested.emit)
        self.seed_button = self._button("New seed", "Back to epoch 0 with new initial weights and batch order",
                                        self.new_seed_requested.emit)
        self.play_button.setMinimumWidth(self.play_button.fontMetrics().horizontalAdvance("Pause") + 48)

        self.pace = PaceSlider()
        self.pace.setMinimumWidth(260)
        self.pace.setMaximumWidth(460)
        self.pace.pace_changed.connect(self._on_pace_change)
        self.pace_text = QLabel()
        self.pace_text.setMinimumWidth(self.pace_text.fontMetrics().horizontalAdvance("100 epochs/s") + 8)

        self.epoch_text = QLabel("epoch – / –")
        self.epoch_text.setObjectName("epochCounter")
        font = self.epoch_text.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.epoch_text.setFont(font)
        self.epoch_text.setMinimumWidth(self.epoch_text.fontMetrics().horizontalAdvance(_COUNTER_SAMPLE) + 8)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

        self.timeline = QSlider(Qt.Orientation.Horizontal)
        self.timeline.setRange(0, 0)
        self.timeline.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline.setToolTip("Drag back through the recorded epochs; drag to the end to follow the run again")
        self.timeline.valueChanged.connect(self._on_timeline_change)
        self.timeline_text = QLabel("Timeline")

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for button in (self.play_button, self.step_button, self.stop_button, self.reset_button, self.seed_button):
            buttons.addWidget(button)
        buttons.addSpacing(18)
        buttons.addWidget(QLabel("Pace"))
        buttons.addWidget(self.pace, 2)
        buttons.addWidget(self.pace_text)
        buttons.addSpacing(18)
        counter = QVBoxLayout()
        counter.setSpacing(2)
        counter.addWidget(self.epoch_text)
        counter.addWidget(self.progress)
        buttons.addLayout(counter, 1)

        timeline = QHBoxLayout()
        timeline.addWidget(self.timeline_text)
        timeline.addWidget(self.timeline, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(4)
        layout.addLayout(buttons)
        layout.addLayout(timeline)
        self.set_pace(20.0)
        self._refresh_buttons()

    # setters ---------------------------------------------------------------

    def set_ready(self, ready: bool) -> None:
        """Whether training can start (TensorFlow loaded and a lesson chosen)."""
        self._ready = ready
        self._refresh_buttons()

    def set_state(self, state: RunState, *, recording: bool = False) -> None:
        """The run's state; ``recording`` when it is a saved run played back (Step works while finished)."""
        self._state = state
        self._recording = recording
        self._refresh_buttons()

    def set_pace(self, pace: float | None) -> None:
        self.pace.set_pace(pace)
        self.pace_text.setText(pace_label(self.pace.pace))

    def set_font_scale(self, scale: float) -> None:
        """Size the counter and the widths that depend on text for ``scale`` × the application font.

        The other widgets take their font from the window.
        """
        base = QApplication.font()
        font = QFont(base)
        font.setPointSizeF(base.pointSizeF() * 1.25 * scale)
        font.setBold(True)
        self.epoch_text.setFont(font)
        metrics = QFontMetrics(font)
        self.epoch_text.setMinimumWidth(metrics.horizontalAdvance(_COUNTER_SAMPLE) + 8)
        plain = QFont(base)
        plain.setPointSizeF(base.pointSizeF() * scale)
        plain_metrics = QFontMetrics(plain)
        self.play_button.setMinimumWidth(plain_metrics.horizontalAdvance("Pause") + round(48 * scale))
        self.pace_text.setMinimumWidth(plain_metrics.horizontalAdvance("100 epochs/s") + 8)
        self.pace.setMinimumWidth(self.pace.minimumSizeHint().width())  # its stop labels never overlap
        self.pace.setMaximumWidth(round(460 * scale))
        self.progress.setMaximumHeight(round(14 * scale))

    def set_progress(self, shown: int, newest: int, total: int, follow: bool | None = None) -> None:
        """Epoch counter, progress bar and timeline range; ``newest`` -1 clears them.

        The timeline follows the newest epoch unless the learner dragged it
        back, or ``follow`` says otherwise (a recording played back).
        """
        if follow is not None:
            self._follow = follow
        if newest < 0:
            self.epoch_text.setText(f"epoch – / {total}")
            self.epoch_text.setToolTip("")
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(0)
            self._set_timeline(0, 0)
            self._follow = True
            self._behind = False
            return
        text = f"epoch {shown} / {total}"
        if shown != newest:
            # Where the timeline was dragged back to, and the newest epoch if there is room.
            longer = f"{text}  (newest {newest})"
            fits = self.epoch_text.fontMetrics().horizontalAdvance(longer) <= self.epoch_text.width()
            text = longer if fits else text
        self.epoch_text.setText(text)
        self.epoch_text.setToolTip(f"Newest recorded epoch: {newest}")
        if (shown < newest) != self._behind:
            self._behind = shown < newest
            self._refresh_buttons()
        value, top = min(newest, max(1, total)), max(1, total)
        if (self.progress.value(), self.progress.maximum()) != (value, top):
            # QProgressBar repaints itself on the spot when its value moves a
            # pixel; painted with the rest of the frame instead, it costs nothing extra.
            self.progress.setUpdatesEnabled(False)
            self.progress.setRange(0, top)
            self.progress.setValue(value)
            self.progress.setUpdatesEnabled(True)
        self._set_timeline(newest, newest if self._follow else min(shown, newest))

    def set_preparing(self, fraction: float) -> None:
        """Show how far the run is in preparing its first epoch (0–1) in the counter and progress bar."""
        self.epoch_text.setText(f"preparing… {round(100 * fraction)} %")
        self.epoch_text.setToolTip("TensorFlow is building this run's training step; epoch 0 comes next")
        self.progress.setRange(0, 100)
        self.progress.setValue(round(100 * fraction))

    @property
    def following(self) -> bool:
        """The timeline follows the newest epoch."""
        return self._follow

    # internals ---------------------------------------------------------------

    def _button(self, text: str, tip: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        # Space and the arrows are window shortcuts; a focused button must not eat them.
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        button.clicked.connect(slot)
        return button

    def _set_timeline(self, maximum: int, value: int) -> None:
        self._updating = True
        try:
            self.timeline.setRange(0, maximum)
            self.timeline.setValue(value)
        finally:
            self._updating = False

    def controls(self) -> dict[str, QWidget]:
        """The lesson-lockable controls by name (see ``gradviz.engine.lessons.CONTROLS``)."""
        return {"play": self.play_button, "step": self.step_button, "stop": self.stop_button,
                "reset": self.reset_button, "new_seed": self.seed_button, "pace": self.pace,
                "timeline": self.timeline}

    def set_locked(self, names: set[str] | frozenset[str]) -> None:
        """Disable these controls whatever the run's state (a lesson keeps the class on one idea)."""
        self._locked = frozenset(names)
        for name in ("pace", "timeline"):
            self.controls()[name].setEnabled(name not in self._locked)
        self._refresh_buttons()

    def is_locked(self, name: str) -> bool:
        return name in self._locked

    def _refresh_buttons(self) -> None:
        state, ready = self._state, self._ready
        running = state is RunState.RUNNING
        free = {name: name not in self._locked for name in ("play", "step", "stop", "reset", "new_seed")}
        self.play_button.setText("Pause" if running else "Play")
        self.play_button.setEnabled(ready and free["play"])
        # A finished run has no epoch left to train; a recording dragged back has epochs left to show.
        steppable = state is not RunState.FINISHED or (self._recording and self._behind)
        self.step_button.setEnabled(ready and steppable and free["step"])
        self.stop_button.setEnabled(ready and state.live and free["stop"])
        self.reset_button.setEnabled(ready and free["reset"])
        self.seed_button.setEnabled(ready and free["new_seed"])

    @Slot()
    def _on_play_click(self) -> None:
        if self._state is RunState.RUNNING:
            self.pause_requested.emit()
        else:
            self.play_requested.emit()

    @Slot(object)
    def _on_pace_change(self, pace: float | None) -> None:
        self.pace_text.setText(pace_label(pace))
        self.pace_changed.emit(pace)

    @Slot(int)
    def _on_timeline_change(self, value: int) -> None:
        if self._updating:
            return
        self._follow = value >= self.timeline.maximum()
        self.epoch_scrubbed.emit(None if self._follow else value)
