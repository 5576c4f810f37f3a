"""Each diagnostic fires on a run built to show it and stays silent on a healthy one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from engine_kit import lane, layer, make_spec

from gradviz.engine.diagnostics import FINDING_KINDS, Finding, Thresholds, diagnose, findings_json
from gradviz.engine.history import RunHistory
from gradviz.engine.lessons import load_lesson
from gradviz.engine.spec import RunSpec
from gradviz.engine.trainer import iter_run


def record(spec: RunSpec) -> RunHistory:
    history = None
    for report in iter_run(spec):
        history = history or RunHistory(report.layout)
        history.append(report)
    assert history is not None
    return history


def kinds(findings: list[Finding], lane: int | None = None) -> set[str]:
    return {f.kind for f in findings if lane is None or f.lane == lane}


@pytest.fixture(scope="module")
def vanishing(tf) -> RunHistory:
    return record(load_lesson("vanishing").spec.replace(epochs=3))


def test_healthy_race_raises_no_alarm(tf) -> None:
    history = record(load_lesson("race").spec)
    assert diagnose(history) == []
    assert diagnose(history, 0) == []


def test_vanishing_gradient_in_the_sigmoid_net_only(vanishing: RunHistory) -> None:
    findings = diagnose(vanishing, 0)
    (finding,) = [f for f in findings if f.kind == "vanishing_gradient"]
    assert (finding.lane, finding.layer, finding.epoch) == (0, 1, 0)
    grad = vanishing.layer("grad_norm")[0, 0]
    assert finding.value == pytest.approx(grad[0] / grad[10])
    assert finding.value < 1e-5
    assert "layer 1's gradient is 10⁻" in finding.message and "of layer 11's" in finding.message
    assert kinds(findings, lane=1) == set()  # ReLU + He is healthy


def test_exploding_gradient_and_saturation(tf) -> None:
    history = record(load_lesson("exploding").spec.replace(epochs=0))
    findings = diagnose(history, 0)
    assert kinds(findings, lane=0) == set()  # Glorot
    exploding = [f for f in findings if f.kind == "exploding_gradient"]
    assert [f.lane for f in exploding] == [1]
    assert exploding[0].value > 1e3
    (sat,) = [f for f in findings if f.kind == "saturation"]
    values = history.layer("saturation")[1, 0, :11]
    assert sat.layer == int(np.argmax(values)) + 1 and sat.value == pytest.approx(values.max())
    assert f"{sat.value:.0%} of layer {sat.layer}'s tanh outputs are saturated" in sat.message


def test_dead_units_after_a_large_adam_step(tf) -> None:
    history = record(load_lesson("dead-relus").spec.replace(epochs=20))
    findings = diagnose(history)
    dead = [f for f in findings if f.kind == "dead_units"]
    assert [f.lane for f in dead] == [1]  # the large-step ReLU lane; leaky ReLU cannot die
    fraction = history.layer("dead_fraction")[1, -1]
    assert dead[0].value == pytest.approx(np.nanmax(fraction[:-1])) and dead[0].value >= 0.6
    assert "ReLUs output 0 for every input" in dead[0].message


def test_divergence_reports_the_epoch_it_happened(tf) -> None:
    history = record(load_lesson("lr-too-high").spec.replace(epochs=12))
    findings = diagnose(history)
    (div,) = [f for f in findings if f.kind == "divergence"]
    assert div.lane_name == "SGD η=1.5"
    assert div.epoch == history.diverged_epoch()[div.lane] > 0
    assert f"diverged at epoch {div.epoch}" in div.message
    assert kinds(findings, lane=div.lane) == {"divergence"}


@pytest.mark.parametrize(("lr", "word"), [(1e-7, "too low"), (1.0, "too high")])
def test_update_ratio_far_from_healthy(tf, lr: float, word: str) -> None:
    spec = make_spec([lane("net", [layer(16, "tanh"), layer(1)], {"name": "sgd", "learning_rate": lr})], epochs=1)
    history = record(spec)
    (finding,) = [f for f in diagnose(history) if f.kind == "update_ratio"]
    assert finding.value == pytest.approx(np.median(history.layer("update_ratio")[0, 1]))
    assert word in finding.message


def test_plateau_when_the_loss_stops_improving_early(tf) -> None:
    flat = [layer(16, "sigmoid", {"name": "random_normal", "stddev": 0.01}) for _ in range(4)] + [layer(1)]
    spec = make_spec([lane("flat", flat, {"name": "sgd", "learning_rate": 0.05})], epochs=40)
    history = record(spec)
    (finding,) = [f for f in diagnose(history) if f.kind == "plateau"]
    assert finding.value > 0.5
    assert "has not improved" in finding.message
    assert "plateau" not in kinds(diagnose(history, 5))  # too early to call


def test_thresholds_decide(vanishing: RunHistory) -> None:
    assert "vanishing_gradient" not in kinds(diagnose(vanishing, 0, Thresholds(vanishing_ratio=1e-12)))


def test_findings_are_json_with_the_documented_keys(vanishing: RunHistory) -> None:
    data = findings_json(diagnose(vanishing, 0))
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)[0].keys() >= {"kind", "lane", "layer", "epoch", "value", "message"}
    assert all(item["kind"] in FINDING_KINDS for item in data)
