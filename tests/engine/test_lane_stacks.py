"""Lanes of one architecture are probed as one stack: fewer ops traced, the same numbers per lane.

Also XLA, which long runs are compiled with: it must compile the stacks and agree with graph mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_kit import assert_reports_identical, lane, layer, make_spec, run_all, stacked

from gradviz.engine.runtime import import_tensorflow
from gradviz.engine.spec import RunSpec
from gradviz.engine.trainer import _Lockstep, check_run, iter_run

pytestmark = pytest.mark.usefixtures("tf")

NET = [layer(8, "tanh"), layer(8, "relu", "he_normal"), layer(1)]
OPTIMIZERS = [
    {"name": "sgd", "learning_rate": 0.05},
    {"name": "adam", "learning_rate": 0.01},
    {"name": "rmsprop", "learning_rate": 0.01},
    {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
    {"name": "adagrad", "learning_rate": 0.1},
    {"name": "nadam", "learning_rate": 0.01},
]


def spec_of(lanes: list[dict]) -> RunSpec:
    return make_spec(lanes, {"name": "cubic", "n_samples": 40}, epochs=4, batch_size=16, shuffle=True, seed=9)


def traced_ops(spec: RunSpec) -> int:
    """Operations in the graph of a run's epoch function, outside its training loop (which is per lane)."""
    tf = import_tensorflow()
    run = _Lockstep(spec, check_run(spec), None, jit=False)
    try:
        perm = tf.constant(np.arange(run.n, dtype=np.int32))
        graph = run._epoch_fn.get_concrete_function(perm, tf.constant(0), tf.constant(run.n_batches)).graph
        return len(graph.get_operations())
    finally:
        run.close()


def test_probe_ops_grow_with_architectures_not_lanes() -> None:
    one = traced_ops(spec_of([lane("alone", NET, OPTIMIZERS[0])]))
    six_alike = traced_ops(spec_of([lane(f"l{i}", NET, opt) for i, opt in enumerate(OPTIMIZERS)]))
    six_apart = traced_ops(spec_of([
        lane(f"l{i}", [layer(8 + i, "tanh"), layer(8, "relu", "he_normal"), layer(1)], opt)
        for i, opt in enumerate(OPTIMIZERS)
    ]))
    # Each extra lane of the same architecture adds only its reads and writes, not its probes.
    assert six_alike < 1.5 * one
    assert six_apart > 5 * one


def test_a_lane_trains_the_same_alone_and_in_a_stack_of_three() -> None:
    alone = run_all(spec_of([lane("adam", NET, OPTIMIZERS[1])]))
    stacked = run_all(spec_of([lane("sgd", NET, OPTIMIZERS[0]), lane("adam", NET, OPTIMIZERS[1]),
                               lane("rmsprop", NET, OPTIMIZERS[2])]))
    assert_reports_identical(alone, stacked, lanes_a=[0], lanes_b=[1], other_company=True)
    for a, b in zip(alone, stacked):
        for w_alone, w_stacked in zip(a.weights[0], b.weights[1]):
            np.testing.assert_array_equal(w_alone, w_stacked)


def test_xla_gives_the_numbers_of_graph_mode() -> None:
    # Long runs are compiled with XLA (see _JIT_MIN_EPOCHS): the stacked probes must compile and agree.
    spec = spec_of([lane(f"l{i}", NET, opt) for i, opt in enumerate(OPTIMIZERS[:3])] + [
        lane("softmax", [layer(5, "softmax"), layer(1)], OPTIMIZERS[0])])
    graph = list(iter_run(spec, jit=False))
    xla = list(iter_run(spec, jit=True))
    for name in ("loss", "full_loss", "grad_norm", "act_mean", "act_var", "update_ratio", "sigma_max", "prediction"):
        np.testing.assert_allclose(stacked(xla, name), stacked(graph, name), rtol=1e-4, atol=1e-6, err_msg=name)
    counts_graph, counts_xla = stacked(graph, "hist_counts"), stacked(xla, "hist_counts")
    np.testing.assert_array_equal(counts_xla.sum(axis=-1), counts_graph.sum(axis=-1))
    assert np.abs(counts_xla - counts_graph).sum() <= 0.001 * counts_graph.sum()


@pytest.mark.parametrize(("lanes", "epochs", "xla"), [(1, 999, False), (1, 1000, True), (6, 400, False)])
def test_xla_is_chosen_by_epochs_alone(monkeypatch: pytest.MonkeyPatch, lanes: int, epochs: int, xla: bool) -> None:
    monkeypatch.setenv("GRADVIZ_JIT", "auto")
    spec = spec_of([lane(f"l{i}", NET, opt) for i, opt in enumerate(OPTIMIZERS[:lanes])]).replace(epochs=epochs)
    run = _Lockstep(spec, check_run(spec), None)
    try:
        assert run.jit is xla
    finally:
        run.close()
