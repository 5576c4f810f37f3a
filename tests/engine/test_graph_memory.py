"""Runs that are over leave no traced graph behind, so a long lesson does not grow run after run."""

from __future__ import annotations

import gc

import pytest
from engine_kit import lane, layer, make_spec

from gradviz.engine.lessons import load_lesson
from gradviz.engine.trainer import iter_run, release_cached_run

pytestmark = pytest.mark.usefixtures("tf")


def traced_graphs() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def test_finished_runs_release_their_traced_graphs() -> None:
    from gradviz.engine.graph_memory import custom_gradient_names

    release_cached_run()
    graphs, gradients = traced_graphs(), custom_gradient_names()
    # Two shapes (so the second run cannot reuse the first's compiled functions) and a loss-surface race.
    for width in (5, 7):
        spec = make_spec([lane("sgd", [layer(width, "tanh"), layer(1)]),
                          lane("adam", [layer(width, "tanh"), layer(1)], {"name": "adam", "learning_rate": 0.01})],
                         {"name": "cubic", "n_samples": 32}, epochs=2, batch_size=16)
        assert len(list(iter_run(spec))) == 3
    assert len(list(iter_run(load_lesson("surface-ravine").spec.replace(epochs=2)))) == 3
    assert traced_graphs() > graphs  # the last run is kept for a quick Reset ...
    release_cached_run()
    assert traced_graphs() == graphs  # ... and once let go, nothing of any run is left
    assert custom_gradient_names() == gradients
