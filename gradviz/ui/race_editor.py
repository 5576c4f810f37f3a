"""RaceEditor: add, remove and tune the lanes of the race, its model and its dataset.

The editor works on the spec's JSON form and validates every change with
:meth:`RunSpec.from_json`, so what it refuses is exactly what a spec file
would refuse, with the same message.  It never imports TensorFlow itself:
optimizer arguments come from Keras only once the window has loaded it.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gradviz.engine.errors import SpecError
from gradviz.engine.spec import Limits, RunSpec

if TYPE_CHECKING:
    from gradviz.ui.main_window import MainWindow

__all__ = ["ACTIVATIONS", "INITIALIZERS", "RaceEditor"]

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "linear")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal")
DATASETS = ("cubic", "sine", "gaussian")
MAX_DEPTH = 20
MAX_WIDTH = 512

_OPTIMIZER_TITLES = {
    "sgd": "SGD", "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW", "nadam": "Nadam",
    "adamax": "Adamax", "adagrad": "Adagrad", "adadelta": "Adadelta", "lion": "Lion", "ftrl": "FTRL",
    "adafactor": "Adafactor",
}

# Keras 3's own defaults for the arguments the editor shows, used until
# TensorFlow is loaded (then they are read from Keras itself).
_STATIC_ARGUMENTS: dict[str, dict[str, Any]] = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False, "weight_decay": None},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07, "weight_decay": None},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "weight_decay": None},
    "adamw": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07},
    "nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "weight_decay": None},
    "adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "weight_decay": None},
    "adagrad": {"learning_rate": 0.001, "epsilon": 1e-07, "weight_decay": None},
    "adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-07, "weight_decay": None},
    "lion": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99, "weight_decay": None},
    "ftrl": {"learning_rate": 0.001, "weight_decay": None},
    "adafactor": {"learning_rate": 0.001, "weight_decay": None},
}


@dataclass(frozen=True, slots=True)
class _Range:
    """The range a classroom slider offers for one hyperparameter."""

    low: float
    high: float
    log: bool


# Narrower than HYPERPARAMETER_RANGES on purpose: a learning rate of 50 is
# valid Keras but never a useful lesson, and a slider needs finite ends.
_RANGES: dict[str, _Range] = {
    "learning_rate": _Range(1e-5, 10.0, True),
    "momentum": _Range(0.0, 0.999, False),
    "beta_1": _Range(0.0, 0.999, False),
    "beta_2": _Range(0.0, 0.999, False),
    "rho": _Range(0.0, 0.999, False),
    "epsilon": _Range(1e-10, 1.0, True),
    "weight_decay": _Range(0.0, 1.0, False),
}
_FIELD_ORDER = ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "rho", "epsilon", "weight_decay")
_SLIDER_STEPS = 1000


def _to_slider(value: float, r: _Range) -> int:
    value = min(max(value, r.low), r.high)
    if r.log:
        fraction = (math.log10(value) - math.log10(r.low)) / (math.log10(r.high) - math.log10(r.low))
    else:
        fraction = (value - r.low) / (r.high - r.low)
    return round(fraction * _SLIDER_STEPS)


def _from_slider(position: int, r: _Range) -> float:
    fraction = position / _SLIDER_STEPS
    if r.log:
        value = 10 ** (math.log10(r.low) + fraction * (math.log10(r.high) - math.log10(r.low)))
    else:
        value = r.low + fraction * (r.high - r.low)
    return float(f"{value:.3g}")


def _refusal(name: str, text: str) -> tuple[float | None, str]:
    """The typed value, or the reason it is refused (in the spec's own words where it has them)."""
    from gradviz.engine.registry import check_hyperparameter  # Keras is imported lazily there

    try:
        value = float(text.strip())
    except ValueError:
        return None, f"must be a number, not {text.strip()!r}"
    try:
        check_hyperparameter(name, value, name)
    except SpecError as exc:
        return None, exc.problem
    r = _RANGES[name]
    if not r.low <= value <= r.high:
        return None, f"must be between {r.low:g} and {r.high:g} here, not {value:g}"
    return value, ""


class _HyperparameterRow:
    """Slider + numeric box + reason label for one hyperparameter of the selected lane."""

    def __init__(self, editor: RaceEditor, name: str, value: float, grid: QGridLayout, row: int) -> None:
        self.name = name
        self._editor = editor
        self._range = _RANGES[name]
        self.label = QLabel(name)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, _SLIDER_STEPS)
        scale = " (log scale)" if self._range.log else ""
        self.slider.setToolTip(f"{self._range.low:g} … {self._range.high:g}{scale}")
        self.box = QLineEdit(f"{value:g}")
        self.box.setObjectName(f"field_{name}")
        self.box.setMaximumWidth(110)
        self.error = QLabel()
        self.error.setObjectName(f"error_{name}")
        self.error.setStyleSheet("color:#B00020;")
        self.error.setWordWrap(True)
        self.slider.setValue(_to_slider(value, self._range))
        grid.addWidget(self.label, row, 0)
        grid.addWidget(self.slider, row, 1)
        grid.addWidget(self.box, row, 2)
        grid.addWidget(self.error, row, 3)
        self.slider.valueChanged.connect(self._on_slider_change)
        self.box.textEdited.connect(self._on_text_change)

    @Slot(int)
    def _on_slider_change(self, position: int) -> None:
        value = _from_slider(position, self._range)
        self.box.setText(f"{value:g}")
        self._on_text_change(self.box.text())

    @Slot(str)
    def _on_text_change(self, text: str) -> None:
        value, reason = _refusal(self.name, text)
        self.error.setText(reason)
        if value is not None:
            blocked = self.slider.blockSignals(True)
            self.slider.setValue(_to_slider(value, self._range))
            self.slider.blockSignals(blocked)
        self._editor._on_hyperparameter_change(self.name, value, reason)


class RaceEditor(QDialog):
    """Edit the lanes (optimizers and hyperparameters), model and dataset of the window's run.

    OK hands a validated :class:`RunSpec` to :meth:`MainWindow.apply_spec`
    (a restart); *Apply now* sends changed hyperparameters to the run that is
    playing, from its next epoch, without restarting it.

    Parameters
    ----------
    window
        The window whose current lesson's spec is edited.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Edit lanes")
        self.resize(760, 620)
        self._window = window
        spec = window.lesson.spec if window.lesson is not None else window.controller.spec
        assert spec is not None
        self._original = spec
        self._data: dict[str, Any] = copy.deepcopy(spec.to_json())
        # What the playing run uses now: its spec plus the edits already sent to it.
        self._live: dict[str, Any] = copy.deepcopy(self._data)
        self._is_surface = spec.problem is not None
        self._field_errors: dict[str, str] = {}
        self._spec: RunSpec | None = spec
        self._syncing = False
        self.rows: dict[str, _HyperparameterRow] = {}

        self.lane_list = QListWidget()
        self.lane_list.setMaximumWidth(200)
        self.add_choice = QComboBox()
        for name in _optimizer_names():
            self.add_choice.addItem(_OPTIMIZER_TITLES.get(name, name), name)
        self.add_choice.setCurrentIndex(max(0, self.add_choice.findData("adam")))
        self.add_button = QPushButton("Add lane")
        self.remove_button = QPushButton("Remove lane")

        self.name_box = QLineEdit()
        self.name_error = QLabel()
        self.name_error.setStyleSheet("color:#B00020;")
        self.optimizer_label = QLabel()
        self.nesterov = QCheckBox("Nesterov momentum")
        self._params_host = QWidget()
        self._params_grid = QGridLayout(self._params_host)
        self._params_grid.setContentsMargins(0, 0, 0, 0)
        self._params_grid.setColumnStretch(1, 1)
        self._params_grid.setColumnStretch(3, 1)

        self.depth = QSpinBox()
        self.depth.setRange(1, MAX_DEPTH)
        self.width = QSpinBox()
        self.width.setRange(1, MAX_WIDTH)
        self.activation = QComboBox()
        self.activation.addItems(ACTIVATIONS)
        self.initializer = QComboBox()
        self.initializer.addItems(INITIALIZERS)
        self.dataset = QComboBox()
        for name in DATASETS:
            self.dataset.addItem(name, name)
        self.dataset.addItem("CSV file…", "csv")
        self.csv_button = QPushButton("Choose CSV file…")
        self.dataset_note = QLabel()
        self.dataset_note.setWordWrap(True)

        self.message = QLabel()
        self.message.setObjectName("editorMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color:#B00020;")
        self.live_note = QLabel()
        self.live_note.setWordWrap(True)
        self.apply_now_button = QPushButton("Apply now")
        self.apply_now_button.setToolTip(
            "Send the changed hyperparameters to the run that is playing; they apply from its next epoch"
        )
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setToolTip("Restart the race with these lanes")

        self._build_layout()
        self._fill_model_controls()
        self._connect()
        self._refresh_lane_list(0)
        self._revalidate()

    # layout ----------------------------------------------------------------

    def _build_layout(self) -> None:
        lanes_box = QGroupBox("Lanes")
        lanes_layout = QVBoxLayout(lanes_box)
        lanes_layout.addWidget(self.lane_list, 1)
        add_row = QHBoxLayout()
        add_row.addWidget(self.add_choice, 1)
        add_row.addWidget(self.add_button)
        lanes_layout.addLayout(add_row)
        lanes_layout.addWidget(self.remove_button)

        lane_box = QGroupBox("Selected lane")
        form = QFormLayout(lane_box)
        name_row = QHBoxLayout()
        name_row.addWidget(self.name_box, 1)
        name_row.addWidget(self.name_error, 1)
        form.addRow("Name", name_row)
        form.addRow("Optimizer", self.optimizer_label)
        form.addRow(self._params_host)
        form.addRow(self.nesterov)

        top = QHBoxLayout()
        top.addWidget(lanes_box)
        top.addWidget(lane_box, 1)

        self.model_box = QGroupBox("Model and data (every lane alike, so all lanes share initial weights)")
        model_form = QFormLayout(self.model_box)
        model_form.addRow("Hidden layers", self.depth)
        model_form.addRow("Units per layer", self.width)
        model_form.addRow("Activation", self.activation)
        model_form.addRow("Initializer", self.initializer)
        data_row = QHBoxLayout()
        data_row.addWidget(self.dataset, 1)
        data_row.addWidget(self.csv_button)
        model_form.addRow("Dataset", data_row)
        model_form.addRow(self.dataset_note)
        self.model_box.setVisible(not self._is_surface)

        bottom = QHBoxLayout()
        bottom.addWidget(self.apply_now_button)
        bottom.addWidget(self.live_note, 1)
        bottom.addWidget(self.buttons)

        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.model_box)
        layout.addWidget(self.message)
        layout.addLayout(bottom)

    def _fill_model_controls(self) -> None:
        if self._is_surface:
            return
        layers = self._data["lanes"][0]["model"]["layers"]
        hidden = layers[:-1] or layers
        first = hidden[0]
        init = first.get("initializer", "glorot_uniform")
        init_name = init if isinstance(init, str) else init["name"]
        self.depth.setValue(min(max(1, len(layers) - 1), MAX_DEPTH))
        self.width.setValue(min(first["units"], MAX_WIDTH))
        for combo, value in ((self.activation, first.get("activation", "linear")), (self.initializer, init_name)):
            if combo.findText(value) < 0:
                combo.addItem(value)  # keep the lesson's own choice selectable
            combo.setCurrentText(value)
        self._show_dataset()

    def _show_dataset(self) -> None:
        dataset = self._data["dataset"]
        blocked = self.dataset.blockSignals(True)
        self.dataset.setCurrentIndex(self.dataset.findData(dataset["name"]))
        self.dataset.blockSignals(blocked)
        self.csv_button.setVisible(dataset["name"] == "csv")
        self.dataset_note.setText(f"File: {dataset['path']}" if dataset["name"] == "csv" else "")

    def _connect(self) -> None:
        self.lane_list.currentRowChanged.connect(self._on_lane_select)
        self.add_button.clicked.connect(self._on_add_lane)
        self.remove_button.clicked.connect(self._on_remove_lane)
        self.name_box.textEdited.connect(self._on_name_change)
        self.nesterov.toggled.connect(self._on_nesterov_change)
        for widget in (self.depth, self.width):
            widget.valueChanged.connect(self._on_model_change)
        for combo in (self.activation, self.initializer):
            combo.currentIndexChanged.connect(self._on_model_change)
        self.dataset.currentIndexChanged.connect(self._on_dataset_choice)
        self.csv_button.clicked.connect(self.choose_csv)
        self.apply_now_button.clicked.connect(self.apply_now)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._window.controller.state_changed.connect(self._on_run_state_change)

    # public ------------------------------------------------------------------

    @property
    def spec(self) -> RunSpec | None:
        """The edited spec, or ``None`` while something is refused."""
        return None if self._field_errors else self._spec

    @property
    def current_lane(self) -> int:
        return self.lane_list.currentRow()

    def add_lane(self, optimizer: str) -> None:
        """Add a lane racing ``optimizer`` with its default learning rate; it becomes the selected lane."""
        lanes = self._data["lanes"]
        if len(lanes) >= Limits.MAX_LANES:
            self._say(f"A race has at most {Limits.MAX_LANES} lanes.")
            return
        title = _OPTIMIZER_TITLES.get(optimizer, optimizer)
        taken = {lane["name"] for lane in lanes}
        name, n = title, 2
        while name in taken:
            name, n = f"{title} {n}", n + 1
        lane: dict[str, Any] = {"name": name}
        if not self._is_surface:
            lane["model"] = copy.deepcopy(lanes[0]["model"])  # same model spec -> same initial weights
        defaults = self._arguments(optimizer)
        lane["optimizer"] = {"name": optimizer, "learning_rate": defaults.get("learning_rate") or 0.001}
        lanes.append(lane)
        self._refresh_lane_list(len(lanes) - 1)
        self._say("")
        self._revalidate()

    def remove_lane(self, lane: int | None = None) -> bool:
        """Remove a lane (the selected one by default); refused for the last lane."""
        lanes = self._data["lanes"]
        lane = self.current_lane if lane is None else lane
        if len(lanes) <= 1:
            self._say("A race needs at least one lane: add another lane before removing this one.")
            return False
        if not 0 <= lane < len(lanes):
            return False
        del lanes[lane]
        self._refresh_lane_list(min(lane, len(lanes) - 1))
        self._say("")
        self._revalidate()
        return True

    def set_csv_path(self, path: str) -> bool:
        """Use a CSV file as the dataset; a file that cannot be used changes nothing and says why."""
        from gradviz.engine.datasets import read_csv_dataset

        try:
            data = read_csv_dataset(path)
        except SpecError as exc:
            self._say(f"Cannot use that CSV file: {exc.problem}")
            self._show_dataset()
            return False
        self._set_dataset({"name": "csv", "path": str(path)}, len(data.input_names), len(data.target_names))
        return True

    @Slot()
    def choose_csv(self) -> None:
        """Ask for a CSV file (header row, then numbers; the last column is the target)."""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a CSV file", "", "CSV files (*.csv);;All files (*)")
        if path:
            self.set_csv_path(path)
        else:
            self._show_dataset()

    def live_edits(self) -> list[tuple[int, str, float | int | bool]]:
        """Hyperparameter changes the playing run can take without a restart; empty if a restart is needed."""
        control = self._window.controller.control
        if control is None or not self._window.controller.state.live or self.spec is None:
            return []
        now, live = self._data, self._live
        if {k: v for k, v in now.items() if k != "lanes"} != {k: v for k, v in live.items() if k != "lanes"}:
            return []
        if len(now["lanes"]) != len(live["lanes"]):
            return []
        edits: list[tuple[int, str, float | int | bool]] = []
        for i, (a, b) in enumerate(zip(now["lanes"], live["lanes"], strict=True)):
            if a.get("model") != b.get("model") or a["name"] != b["name"]:
                return []
            pa, pb = a["optimizer"], b["optimizer"]
            if pa["name"] != pb["name"] or set(pb) - set(pa):
                return []
            for key, value in pa.items():
                if key != "name" and pb.get(key) != value:
                    if key not in _FIELD_ORDER:
                        return []
                    edits.append((i, key, value))
        return edits

    @Slot()
    def apply_now(self) -> None:
        """Send the changed hyperparameters to the playing run (from its next epoch)."""
        edits = self.live_edits()
        control = self._window.controller.control
        if not edits or control is None:
            return
        for lane, name, value in edits:
            control.set_hyperparameter(lane, name, value)
            self._live["lanes"][lane]["optimizer"][name] = value
        said = ", ".join(f"{self._data['lanes'][lane]['name']} {name} → {value:g}" for lane, name, value in edits)
        self.live_note.setText(f"Sent: {said}. It applies from the next epoch.")
        self._revalidate()

    def accept(self) -> None:
        spec = self.spec
        if spec is None:
            return
        if spec == self._original:
            super().accept()
            return
        if self._data == self._live and self._live != self._original.to_json() and self._window.controller.state.live:
            super().accept()  # only hyperparameters changed, and the run already has them
            return
        self._window.apply_spec(spec)
        super().accept()

    # handlers ------------------------------------------------------------------

    @Slot(int)
    def _on_lane_select(self, lane: int) -> None:
        self._show_lane(lane)

    @Slot()
    def _on_add_lane(self) -> None:
        self.add_lane(self.add_choice.currentData())

    @Slot()
    def _on_remove_lane(self) -> None:
        self.remove_lane()

    @Slot(str)
    def _on_name_change(self, text: str) -> None:
        lane = self.current_lane
        if lane < 0:
            return
        self._data["lanes"][lane]["name"] = text
        item = self.lane_list.item(lane)
        if item is not None:
            item.setText(text)
        self._revalidate()

    @Slot(bool)
    def _on_nesterov_change(self, checked: bool) -> None:
        if self._syncing or self.current_lane < 0:
            return
        self._data["lanes"][self.current_lane]["optimizer"]["nesterov"] = checked
        self._revalidate()

    def _on_hyperparameter_change(self, name: str, value: float | None, reason: str) -> None:
        if self._syncing or self.current_lane < 0:
            return
        if value is None:
            self._field_errors[name] = reason
        else:
            self._field_errors.pop(name, None)
            self._data["lanes"][self.current_lane]["optimizer"][name] = value
        self._revalidate()

    @Slot()
    def _on_model_change(self) -> None:
        if self._is_surface:
            return
        init = self.initializer.currentText()
        for lane in self._data["lanes"]:
            model = lane["model"]
            output = dict(model["layers"][-1])
            hidden = {"units": self.width.value(), "activation": self.activation.currentText(), "initializer": init}
            model["layers"] = [dict(hidden) for _ in range(self.depth.value())] + [output]
        self._revalidate()

    @Slot(int)
    def _on_dataset_choice(self, index: int) -> None:
        name = self.dataset.itemData(index)
        if name == "csv":
            self.csv_button.show()
            self.choose_csv()
            return
        current = self._data["dataset"]
        dataset = current if current["name"] == name else {"name": name}
        inputs = 1
        if name == "gaussian":
            from gradviz.engine.datasets import DATASET_PARAMS

            inputs = int(dataset.get("n_features", DATASET_PARAMS["gaussian"]["n_features"][1]))
        self._set_dataset(dataset, inputs, 1)

    @Slot(object)
    def _on_run_state_change(self, _state: object) -> None:
        self._revalidate()

    # helpers ---------------------------------------------------------------------

    def _set_dataset(self, dataset: dict[str, Any], inputs: int, targets: int) -> None:
        self._data["dataset"] = dataset
        for lane in self._data["lanes"]:
            model = lane["model"]
            model["input_dim"] = inputs
            model["layers"][-1] = {**model["layers"][-1], "units": targets, "activation": "linear"}
        self._say("")
        self._show_dataset()
        self._revalidate()

    def _arguments(self, optimizer: str) -> dict[str, Any]:
        """The arguments the editor shows for ``optimizer``, with Keras's defaults."""
        if self._window.tf_ready:
            from gradviz.engine.registry import optimizer_arguments

            args = optimizer_arguments(optimizer)
        else:
            args = _STATIC_ARGUMENTS.get(optimizer, {"learning_rate": 0.001})
        return {k: args[k] for k in _FIELD_ORDER if k in args}

    def _refresh_lane_list(self, select: int) -> None:
        blocked = self.lane_list.blockSignals(True)
        self.lane_list.clear()
        for lane in self._data["lanes"]:
            self.lane_list.addItem(lane["name"])
        self.lane_list.blockSignals(blocked)
        self.lane_list.setCurrentRow(select)
        self._show_lane(select)

    def _show_lane(self, lane: int) -> None:
        self._syncing = True
        try:
            self._field_errors.clear()
            for row in self.rows.values():
                for widget in (row.label, row.slider, row.box, row.error):
                    self._params_grid.removeWidget(widget)
                    widget.hide()  # deleteLater waits for the event loop; the new rows draw now
                    widget.setParent(None)
                    widget.deleteLater()
            self.rows = {}
            if not 0 <= lane < len(self._data["lanes"]):
                return
            data = self._data["lanes"][lane]
            self.name_box.setText(data["name"])
            optimizer = data["optimizer"]
            self.optimizer_label.setText(_OPTIMIZER_TITLES.get(optimizer["name"], optimizer["name"]))
            args = self._arguments(optimizer["name"])
            for row, name in enumerate(k for k in args if k in _RANGES):
                value = optimizer.get(name, args[name])
                value = 0.0 if value is None else float(value)
                self.rows[name] = _HyperparameterRow(self, name, value, self._params_grid, row)
            self.nesterov.setVisible("nesterov" in args)
            self.nesterov.setChecked(bool(optimizer.get("nesterov", args.get("nesterov", False))))
        finally:
            self._syncing = False

    def _revalidate(self) -> None:
        """Build the spec from the edited JSON and show what is refused, next to its field."""
        self.name_error.clear()
        try:
            self._spec = RunSpec.from_json(self._data)
            problem = ""
        except SpecError as exc:
            self._spec = None
            problem = self._place_error(exc)
        if problem or not self.message.text().startswith(("A race", "Cannot use")):
            self.message.setText(problem)
        ok = self.spec is not None
        self.ok_button.setEnabled(ok)
        edits = self.live_edits()
        self.apply_now_button.setEnabled(bool(edits))
        self.remove_button.setEnabled(True)

    def _place_error(self, exc: SpecError) -> str:
        """Show ``exc`` next to its field when that field is on screen; otherwise return it for the message line."""
        prefix = f"lanes[{self.current_lane}]."
        if exc.field == prefix + "name":
            self.name_error.setText(exc.problem)
            return ""
        if exc.field.startswith(prefix + "optimizer."):
            row = self.rows.get(exc.field.rsplit(".", 1)[1])
            if row is not None:
                row.error.setText(exc.problem)
                return ""
        return str(exc)

    def _say(self, text: str) -> None:
        self.message.setText(text)


def _optimizer_names() -> tuple[str, ...]:
    from gradviz.engine.registry import OFFERED_OPTIMIZERS  # registry imports Keras only when called

    return OFFERED_OPTIMIZERS
