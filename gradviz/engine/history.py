"""RunHistory: every report of a run, appended into growable numpy arrays.

The single source for the panels, the timeline, CSV export and saved
sessions.  Recording never drops an epoch; the views it returns are
read-only slices of the recorded epochs.
"""

from __future__ import annotations

import numpy as np

from gradviz.engine.jacobians import JACOBIAN_PROBES
from gradviz.engine.report import HIST_BINS, LAYER_PROBES, EpochReport, HyperparameterEdit, RunLayout
from gradviz.engine.resume import Resume

_PER_LAYER = LAYER_PROBES + JACOBIAN_PROBES

__all__ = ["RunHistory"]

_INITIAL_ROWS = 4096
_PLAN_BYTES = 1 << 30


class RunHistory:
    """Growable (lanes × epochs × …) arrays of a run's reports.

    Row ``i`` of every array holds epoch ``first_epoch + i``; for a fresh run
    that is epoch ``i``.

    Parameters
    ----------
    layout
        The run's layout, from its first report.
    capacity
        Epochs to allocate room for up front (grows by doubling).
    """

    def __init__(self, layout: RunLayout, capacity: int | None = None) -> None:
        self.layout = layout
        self.run_id: int | None = None
        self.edits: list[HyperparameterEdit] = []
        self.weights: tuple[tuple[np.ndarray, ...], ...] | None = None
        self.weights_epoch = -1
        self._n = 0
        self._first_epoch = 0
        lanes, layers = layout.n_lanes, layout.max_layers
        grid = 0 if layout.grid_x is None else len(layout.grid_x)
        if capacity is None:
            # Room for the whole plan, so the GUI thread never stops to copy a
            # grown history mid-run.  np.empty only reserves address space:
            # memory is used as epochs are written.  A plan beyond the budget
            # (a 100 000-epoch lab) starts smaller and grows.
            row_bytes = 8 * lanes * (3 + 2 + layers * len(_PER_LAYER)) + 4 * lanes * (layers * HIST_BINS + grid)
            capacity = min(layout.epochs + 1, max(_INITIAL_ROWS, _PLAN_BYTES // row_bytes))
        cap = max(16, capacity)
        self._scalars = {name: np.empty((cap, lanes)) for name in ("loss", "full_loss")}
        self._diverged = np.empty((cap, lanes), dtype=bool)
        self._layers = {name: np.empty((cap, lanes, layers)) for name in _PER_LAYER}
        self._hist = np.empty((cap, lanes, layers, HIST_BINS), dtype=np.float32)
        self._pred = np.empty((cap, lanes, grid), dtype=np.float32)
        self._seconds = np.empty(cap)
        self._position = np.empty((cap, lanes, 2)) if layout.surface is not None else None

    # recording -----------------------------------------------------------

    def append(self, report: EpochReport) -> None:
        """Record one report; epochs must arrive in order."""
        if report.layout is not self.layout:
            raise ValueError("report belongs to another run")
        if self._n and report.epoch != self.last_epoch + 1:
            raise ValueError(f"expected epoch {self.last_epoch + 1}, got {report.epoch}")
        if not self._n:
            self._first_epoch = report.epoch
            self.run_id = report.run_id
        if self._n == len(self._seconds):
            self._grow()
        i = self._n
        self._scalars["loss"][i] = report.loss
        self._scalars["full_loss"][i] = report.full_loss
        self._diverged[i] = report.diverged
        for name in _PER_LAYER:
            values = getattr(report, name)
            self._layers[name][i] = np.nan if values is None else values
        self._hist[i] = report.hist_counts
        self._pred[i] = np.nan if report.prediction is None else report.prediction
        self._seconds[i] = report.seconds
        if self._position is not None:
            self._position[i] = np.nan if report.position is None else report.position
        self.edits.extend(report.edits)
        if report.weights is not None:
            self.weights, self.weights_epoch = report.weights, report.epoch
        self._n += 1

    # saving and continuing -------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """Every recorded array, epochs first (the rows of :meth:`from_arrays`).

        ``loss``, ``full_loss``, ``diverged``, ``seconds``, each per-layer
        probe, ``hist_counts``, ``prediction`` and, in a surface race,
        ``position``: copies of the recorded rows.
        """
        return {name: a[: self._n].copy() for name, a in self._buffers().items()}

    def recorded_views(self) -> dict[str, np.ndarray]:
        """What :meth:`arrays` returns, as read-only views instead of copies.

        A recorded row is written once and never changed, and a grown history
        copies into new arrays, so the views keep showing exactly the epochs
        recorded now while the run goes on (another thread may read them).
        """
        views = {}
        for name, a in self._buffers().items():
            view = a[: self._n]
            view.flags.writeable = False
            views[name] = view
        return views

    @classmethod
    def from_arrays(
        cls, layout: RunLayout, arrays: dict[str, np.ndarray], first_epoch: int = 0,
        edits: list[HyperparameterEdit] | None = None,
    ) -> RunHistory:
        """A history holding recorded rows, as :meth:`arrays` returns them.

        Raises
        ------
        ValueError
            If an array is missing or its shape or type does not fit ``layout``.
        """
        n = len(arrays.get("seconds", ()))
        history = cls(layout, capacity=n + min(max(layout.epochs + 1 - n, 0), _INITIAL_ROWS))
        for name, target in history._buffers().items():
            if name not in arrays:
                raise ValueError(f"the array {name!r} is missing")
            value = np.asarray(arrays[name])
            expected = (n, *target.shape[1:])
            if value.shape != expected:
                raise ValueError(f"the array {name!r} has shape {value.shape}, not {expected}")
            if value.dtype.kind not in "biuf" or (target.dtype == bool) != (value.dtype == bool):
                raise ValueError(f"the array {name!r} holds {value.dtype}, not {target.dtype}")
            target[:n] = value
        history._n = n
        history._first_epoch = first_epoch
        history.edits = list(edits or [])
        return history

    def _buffers(self) -> dict[str, np.ndarray]:
        out = {**self._scalars, "diverged": self._diverged, **self._layers, "hist_counts": self._hist,
               "prediction": self._pred, "seconds": self._seconds}
        if self._position is not None:
            out["position"] = self._position
        return out

    def resume(self) -> Resume | None:
        """Where a continued run picks up: the last epoch's weights; ``None`` if they were not recorded."""
        if self.weights is None or not self._n or self.weights_epoch != self.last_epoch:
            return None
        return Resume(self.weights_epoch, self.weights, self.layout.hist_edges)

    def continued(self, layout: RunLayout) -> RunHistory:
        """A copy of this history that a run continuing from its last epoch appends to.

        ``layout`` is the continued run's; it must describe the same lanes,
        layers and data, and start at :attr:`last_epoch`.  Its first report
        (that epoch again, probed without training) is not appended: the row
        recorded here already holds it.
        """
        old = self.layout
        same = (
            layout.lane_names == old.lane_names
            and layout.layer_counts == old.layer_counts
            and (layout.grid_x is None) == (old.grid_x is None)
            and (layout.surface is None) == (old.surface is None)
        )
        if same and not (np.array_equal(layout.data_x, old.data_x) and np.array_equal(layout.data_y, old.data_y)):
            raise ValueError("the training data differ from the data the run was recorded on")
        if not same:
            raise ValueError("the continued run has other lanes or layers than the recorded one")
        if layout.start_epoch != self.last_epoch:
            raise ValueError(f"the continued run starts at epoch {layout.start_epoch}, not {self.last_epoch}")
        history = RunHistory.from_arrays(layout, self.arrays(), self._first_epoch, self.edits)
        history.weights, history.weights_epoch = self.weights, self.weights_epoch
        return history

    def _grow(self) -> None:
        def bigger(a: np.ndarray) -> np.ndarray:
            out = np.empty((2 * a.shape[0], *a.shape[1:]), dtype=a.dtype)
            out[: a.shape[0]] = a
            return out

        self._scalars = {k: bigger(v) for k, v in self._scalars.items()}
        self._layers = {k: bigger(v) for k, v in self._layers.items()}
        self._diverged = bigger(self._diverged)
        self._hist = bigger(self._hist)
        self._pred = bigger(self._pred)
        self._seconds = bigger(self._seconds)
        if self._position is not None:
            self._position = bigger(self._position)

    # reading -------------------------------------------------------------

    def __len__(self) -> int:
        return self._n

    @property
    def first_epoch(self) -> int:
        return self._first_epoch

    @property
    def last_epoch(self) -> int:
        """The newest recorded epoch; -1 when nothing is recorded."""
        return self._first_epoch + self._n - 1

    @property
    def epochs(self) -> np.ndarray:
        """(epochs,) the epoch number of each recorded row."""
        return np.arange(self._first_epoch, self._first_epoch + self._n)

    def row(self, epoch: int) -> int:
        """The row of ``epoch``, clamped into the recorded range."""
        if not self._n:
            raise IndexError("nothing recorded yet")
        return int(np.clip(epoch - self._first_epoch, 0, self._n - 1))

    @staticmethod
    def _view(a: np.ndarray) -> np.ndarray:
        v = a.view()
        v.setflags(write=False)
        return v

    @property
    def loss(self) -> np.ndarray:
        """(lanes, epochs) the epoch loss as Keras ``fit`` reports it."""
        return self._view(self._scalars["loss"][: self._n].T)

    @property
    def full_loss(self) -> np.ndarray:
        """(lanes, epochs) MSE over the whole training set after each epoch."""
        return self._view(self._scalars["full_loss"][: self._n].T)

    @property
    def diverged(self) -> np.ndarray:
        """(lanes, epochs) True from the epoch a lane diverged."""
        return self._view(self._diverged[: self._n].T)

    def layer(self, probe: str) -> np.ndarray:
        """(lanes, epochs, layers) one per-layer probe, e.g. ``"grad_norm"`` or ``"sigma_max"``."""
        return self._view(self._layers[probe][: self._n].transpose(1, 0, 2))

    def hist_counts(self, epoch: int) -> np.ndarray:
        """(lanes, layers, bins) activation histograms at ``epoch``."""
        return self._view(self._hist[self.row(epoch)])

    def prediction(self, epoch: int) -> np.ndarray | None:
        """(lanes, grid) each lane's fitted curve at ``epoch``, if inputs are 1-D."""
        if self.layout.grid_x is None:
            return None
        return self._view(self._pred[self.row(epoch)])

    @property
    def positions(self) -> np.ndarray | None:
        """(lanes, epochs, 2) each lane's (x, y) in a loss-surface race; ``None`` otherwise."""
        if self._position is None:
            return None
        return self._view(self._position[: self._n].transpose(1, 0, 2))

    @property
    def seconds(self) -> np.ndarray:
        """(epochs,) engine wall time per epoch."""
        return self._view(self._seconds[: self._n])

    def diverged_epoch(self) -> np.ndarray:
        """(lanes,) the epoch each lane diverged at, or -1."""
        d = self.diverged
        out = np.full(d.shape[0], -1, dtype=int)
        for lane in range(d.shape[0]):
            hits = np.flatnonzero(d[lane])
            if hits.size:
                out[lane] = self._first_epoch + hits[0]
        return out
