"""The lockstep trainer against the notebook's own loop, side by side in one process.

The notebook (section 3) trains each optimizer with its own ``model.fit``;
gradviz trains all lanes with one compiled step per epoch and every probe on.
Prints per-epoch-per-lane cost of both (steady state: the first epoch, which
traces, is excluded from both; end to end: everything from building the models
to the last epoch), their ratio, and the ``vanishing`` lesson's cost.

Run: ``python benchmarks/bench_engine.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gradviz.engine.lessons import load_lesson
from gradviz.engine.runtime import import_keras


def notebook_loop(epochs: int) -> tuple[float, float, int]:
    """The notebook's cell, verbatim in spirit: one ``model.fit`` per optimizer.

    Returns (steady seconds per epoch per lane, end-to-end seconds per epoch per lane, lanes).
    """
    keras = import_keras()
    rng = np.random.default_rng(0)
    x = np.linspace(-1, 1, 100).reshape(-1, 1).astype("float32")
    y = (x**3 + 0.1 * rng.standard_normal(x.shape)).astype("float32")

    def build_model() -> keras.Model:
        return keras.Sequential([keras.Input((1,)), keras.layers.Dense(64, activation="tanh"), keras.layers.Dense(1)])

    optimizers = {
        "SGD": keras.optimizers.SGD(learning_rate=0.01),
        "Momentum": keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        "RMSProp": keras.optimizers.RMSprop(learning_rate=0.01),
        "Adam": keras.optimizers.Adam(learning_rate=0.01),
    }

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.ends: list[float] = []

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.ends.append(time.perf_counter())

    steady, total = 0.0, 0.0
    for opt in optimizers.values():
        t0 = time.perf_counter()
        model = build_model()
        model.compile(optimizer=opt, loss="mse")
        clock = EpochClock()
        model.fit(x, y, epochs=epochs, verbose=0, callbacks=[clock])
        steady += (clock.ends[-1] - clock.ends[0]) / (epochs - 1)
        total += (clock.ends[-1] - t0) / epochs
    lanes = len(optimizers)
    return steady / lanes, total / lanes, lanes


def gradviz_run(lesson: str, epochs: int, jit: bool) -> tuple[float, float, int]:
    """``iter_run`` on a lesson with every probe on; same figures as :func:`notebook_loop`."""
    from gradviz.engine.trainer import iter_run

    spec = load_lesson(lesson).spec.replace(epochs=epochs)
    t0 = time.perf_counter()
    ends = []
    for _report in iter_run(spec, jit=jit):
        ends.append(time.perf_counter())
    lanes = len(spec.lanes)
    # ends[0] is epoch 0 (at initialization); ends[1] is the first, tracing epoch.
    steady = (ends[-1] - ends[1]) / (epochs - 1) / lanes
    total = (ends[-1] - t0) / epochs / lanes
    return steady, total, lanes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    import_keras()
    figures: dict[str, list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        # Interleaved, so background load hits every contender alike.
        a, b, _lanes = notebook_loop(args.epochs)
        figures.setdefault("notebook", []).append((a, b))
        for jit in (False, True):
            for lesson in ("race", "vanishing"):
                c, d, _lanes = gradviz_run(lesson, args.epochs, jit)
                figures.setdefault(f"{lesson} {'xla' if jit else 'graph'}", []).append((c, d))
    med = {k: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
           for k, vals in figures.items()}
    print(f"{'ms per epoch per lane':<24} {'steady':>9} {'end to end':>11}")
    for key, (steady, total) in med.items():
        print(f"{key:<24} {steady * 1e3:9.3f} {total * 1e3:11.3f}")
    nb = med["notebook"]
    print(
        f"speedup_steady_graph={nb[0] / med['race graph'][0]:.1f}x "
        f"speedup_steady_xla={nb[0] / med['race xla'][0]:.1f}x "
        f"speedup_end_to_end_graph={nb[1] / med['race graph'][1]:.1f}x "
        f"vanishing_ms_per_epoch_per_lane_graph={med['vanishing graph'][0] * 1e3:.3f} "
        f"vanishing_ms_per_epoch_per_lane_xla={med['vanishing xla'][0] * 1e3:.3f}"
    )


if __name__ == "__main__":
    main()
