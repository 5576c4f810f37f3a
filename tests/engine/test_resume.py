"""Continuing a run from recorded weights: the weights reports carry, and the run that picks up from them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from engine_kit import lane, layer, make_spec, run_all

from gradviz.engine.errors import SpecError
from gradviz.engine.resume import Resume, check_resume, lane_weight_shapes
from gradviz.engine.spec import RunSpec

SGD = {"name": "sgd", "learning_rate": 0.05}


def _spec(**kw):
    return make_spec(
        [
            lane("wide", [layer(8, "tanh"), layer(1)], SGD),
            lane("deep", [layer(4, "relu", "he_normal"), layer(4, "relu", "he_normal"), layer(1)], SGD),
        ],
        shuffle=True,
        batch_size=8,
        **kw,
    )


def test_report_weights_are_the_models_weights(tf: ModuleType, tmp_path: Path) -> None:
    from gradviz.engine.models import build_model

    spec = _spec(epochs=3)
    reports = run_all(spec, weights_dir=tmp_path)
    for i, lane_spec in enumerate(spec.lanes):
        model = build_model(lane_spec.model, spec.seed)
        model.load_weights(str(tmp_path / lane_spec.name / "final.weights.h5"))
        expected = model.get_weights()
        got = reports[-1].weights[i]
        assert [w.shape for w in got] == [w.shape for w in expected] == lane_weight_shapes(spec, i)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_continuing_with_sgd_repeats_the_uninterrupted_run(tf: ModuleType) -> None:
    # Plain SGD keeps no state, so 3 epochs + 3 continued must equal 6 straight:
    # same weights, same batch order (shuffled), the same numbers.
    straight = run_all(_spec(epochs=6))
    first = run_all(_spec(epochs=3))
    resumed = run_all(_spec(epochs=3), resume=Resume(3, first[-1].weights, first[-1].layout.hist_edges))
    assert [r.epoch for r in resumed] == [3, 4, 5, 6]
    assert resumed[0].layout.start_epoch == 3 and resumed[0].layout.epochs == 6
    np.testing.assert_allclose(resumed[0].full_loss, straight[3].full_loss, rtol=1e-6)
    assert np.isnan(resumed[0].loss).all()  # nothing trained yet in the continued run
    for r in resumed[1:]:
        s = straight[r.epoch]
        np.testing.assert_allclose(r.loss, s.loss, rtol=1e-5)
        np.testing.assert_allclose(r.full_loss, s.full_loss, rtol=1e-5)
        np.testing.assert_allclose(r.grad_norm, s.grad_norm, rtol=1e-4)
        np.testing.assert_allclose(r.hist_counts, s.hist_counts)
    for a, b in zip(resumed[-1].weights[1], straight[-1].weights[1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_continuing_a_surface_race_goes_on_from_each_lanes_point(tf: ModuleType) -> None:
    data = {
        "seed": 0, "epochs": 10, "batch_size": 1,
        "problem": {"kind": "surface", "function": "ravine", "start": [-2.5, 0.6]},
        "lanes": [{"name": "SGD", "optimizer": {"name": "sgd", "learning_rate": 0.03}},
                  {"name": "Fast", "optimizer": {"name": "sgd", "learning_rate": 0.01}}],
    }
    straight = run_all(RunSpec.from_json(data))
    first = run_all(RunSpec.from_json({**data, "epochs": 4}))
    assert first[-1].weights[0][0].shape == (2,)
    resumed = run_all(RunSpec.from_json({**data, "epochs": 6}), resume=Resume(4, first[-1].weights))
    assert [r.epoch for r in resumed] == list(range(4, 11))
    for r in resumed:
        np.testing.assert_allclose(r.position, straight[r.epoch].position, rtol=1e-6)


def test_weights_that_do_not_fit_are_refused_by_name() -> None:
    spec = _spec(epochs=1)
    good = tuple(tuple(np.zeros(s, np.float32) for s in lane_weight_shapes(spec, i)) for i in range(2))
    check_resume(spec, Resume(2, good))
    with pytest.raises(SpecError, match="has 1 lanes; the run has 2"):
        check_resume(spec, Resume(2, good[:1]))
    with pytest.raises(SpecError, match=r"resume.weights\[1\].*'deep' needs"):
        check_resume(spec, Resume(2, (good[0], good[0])))
    with pytest.raises(SpecError, match="must be 0 or more"):
        check_resume(spec, Resume(-1, good))


def test_spec_with_edits_applies_live_edits_in_order() -> None:
    from gradviz.engine.report import HyperparameterEdit
    from gradviz.engine.resume import spec_with_edits

    spec = _spec(epochs=2)
    edits = [HyperparameterEdit(3, 1, "learning_rate", 0.2, 0.05),
             HyperparameterEdit(5, 1, "learning_rate", 0.01, 0.2),
             HyperparameterEdit(6, 0, "momentum", float("nan"), 0.0)]  # a value saved as null: not applied
    edited = spec_with_edits(spec, edits)
    assert edited.lanes[1].optimizer.get("learning_rate") == 0.01
    assert edited.lanes[0].optimizer == spec.lanes[0].optimizer
    assert edited.lanes[1].model == spec.lanes[1].model and edited.epochs == spec.epochs
