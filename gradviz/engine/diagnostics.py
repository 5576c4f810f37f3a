"""Plain-language findings derived from a run's probes.

Every threshold lives in :class:`Thresholds`; :func:`diagnose` reads a
:class:`~gradviz.engine.history.RunHistory` at one epoch and returns the
findings a class should be told about.  A healthy run returns none.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from gradviz.engine.history import RunHistory

__all__ = ["FINDING_KINDS", "Finding", "Thresholds", "diagnose", "findings_json"]

FINDING_KINDS = (
    "vanishing_gradient",
    "exploding_gradient",
    "saturation",
    "dead_units",
    "update_ratio",
    "divergence",
    "plateau",
)

_SATURATING = {"sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When a probe value becomes a finding.  The defaults, and why:

    Attributes
    ----------
    vanishing_ratio
        Layer 1's gradient norm below this fraction of the last hidden
        layer's (1e-3: three orders of magnitude lost on the way back).
    exploding_ratio
        Layer 1's gradient norm above this multiple of the last hidden
        layer's (1e3).
    saturation
        Fraction of a sigmoid/tanh layer's outputs within 3 % of the bounds
        (0.5: most units sit where the slope is nearly zero).
    dead_units
        Fraction of a layer's units that output 0 for every sample (0.6; a
        deep ReLU net with He initialization on 1-D inputs starts with up to
        about half of some layer's units dead, and still learns).
    update_ratio_high, update_ratio_low
        Median over layers of std(ΔW over an epoch) / std(W); about 1e-3 per
        step is the usual healthy rate, so above 0.1 the learning rate is too
        high, below 1e-6 too low.
    plateau_window, plateau_improvement, plateau_level
        No more than ``plateau_improvement`` (relative) of the best loss won
        in the last ``plateau_window`` epochs (at least 10; 20 % of the run),
        while the loss is still above ``plateau_level`` of where it started.
    """

    vanishing_ratio: float = 1e-3
    exploding_ratio: float = 1e3
    saturation: float = 0.5
    dead_units: float = 0.6
    update_ratio_high: float = 0.1
    update_ratio_low: float = 1e-6
    plateau_window: float = 0.2
    plateau_improvement: float = 0.01
    plateau_level: float = 0.5


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth telling the class.

    Attributes
    ----------
    kind
        One of :data:`FINDING_KINDS`.
    lane, lane_name
        Which lane (index and name).
    layer
        The layer it applies to (1 = input side), or ``None``.
    epoch
        The epoch it was seen at (for divergence: the epoch it happened).
    value
        The number behind it (a ratio, a fraction, a loss …).
    message
        One plain sentence.
    """

    kind: str
    lane: int
    lane_name: str
    layer: int | None
    epoch: int
    value: float
    message: str


def _power(x: float) -> str:
    """10⁻⁶-style rendering of a positive number's order of magnitude."""
    exponent = round(math.log10(x))
    digits = str(exponent).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return f"10{digits}"


def diagnose(history: RunHistory, epoch: int | None = None, thresholds: Thresholds | None = None) -> list[Finding]:
    """Findings for every lane at ``epoch`` (default: the newest recorded).

    Divergence is reported with the epoch it happened; a diverged lane gets
    no other finding.
    """
    t = thresholds or Thresholds()
    if not len(history):
        return []
    epoch = history.last_epoch if epoch is None else epoch
    row = history.row(epoch)
    epoch = int(history.epochs[row])
    layout = history.layout
    diverged_at = history.diverged_epoch()
    grad = history.layer("grad_norm")[:, row]
    saturation = history.layer("saturation")[:, row]
    dead = history.layer("dead_fraction")[:, row]
    update = history.layer("update_ratio")[:, row]
    findings: list[Finding] = []
    for lane, name in enumerate(layout.lane_names):
        depth = layout.layer_counts[lane]
        acts = layout.activations[lane]

        def add(kind: str, layer: int | None, value: float, message: str, when: int = epoch) -> None:
            findings.append(Finding(kind, lane, name, layer, when, float(value), message))  # noqa: B023

        if 0 <= diverged_at[lane] <= epoch:
            loss = history.loss[lane, history.row(diverged_at[lane])]
            what = "infinite" if np.isinf(loss) else "not a number"
            add("divergence", None, diverged_at[lane],
                f"{name} diverged at epoch {diverged_at[lane]}: its loss became {what}, so it stopped. "
                "The learning rate is probably too high.", int(diverged_at[lane]))
            continue

        hidden = depth - 1
        if hidden >= 2:
            first, last = grad[lane, 0], grad[lane, hidden - 1]
            if np.isfinite(first) and np.isfinite(last) and last > 0:
                ratio = first / last
                if ratio < t.vanishing_ratio:
                    text = (f"layer 1's gradient is {_power(ratio)} of layer {hidden}'s" if ratio > 0
                            else "layer 1 receives no gradient at all")
                    add("vanishing_gradient", 1, ratio,
                        f"{name}: {text}; the layers near the input barely learn (vanishing gradient).")
                elif ratio > t.exploding_ratio:
                    add("exploding_gradient", 1, ratio,
                        f"{name}: layer 1's gradient is {_power(ratio)} times layer {hidden}'s "
                        "(exploding gradient).")

        worst_sat, worst_sat_layer = 0.0, -1
        worst_dead, worst_dead_layer = 0.0, -1
        for j in range(hidden):
            if acts[j] in _SATURATING and np.isfinite(saturation[lane, j]) and saturation[lane, j] > worst_sat:
                worst_sat, worst_sat_layer = saturation[lane, j], j
            if np.isfinite(dead[lane, j]) and dead[lane, j] > worst_dead:
                worst_dead, worst_dead_layer = dead[lane, j], j
        if worst_sat >= t.saturation:
            j = worst_sat_layer
            add("saturation", j + 1, worst_sat,
                f"{name}: {worst_sat:.0%} of layer {j + 1}'s {acts[j]} outputs are saturated "
                "(near the flat ends, where the slope is almost 0).")
        if worst_dead >= t.dead_units:
            j = worst_dead_layer
            unit = "ReLUs" if acts[j] == "relu" else f"{acts[j]} units"
            add("dead_units", j + 1, worst_dead,
                f"{name}: {worst_dead:.0%} of layer {j + 1}'s {unit} output 0 for every input (dead units).")

        ratios = update[lane, :depth]
        ratios = ratios[np.isfinite(ratios)]
        if ratios.size and epoch > 0:
            median = float(np.median(ratios))
            if median > t.update_ratio_high:
                add("update_ratio", None, median,
                    f"{name}: each epoch changes the weights by {_power(median)} of their size "
                    "(≈10⁻³ per step is healthy): the learning rate looks too high.")
            elif 0 < median < t.update_ratio_low:
                add("update_ratio", None, median,
                    f"{name}: each epoch changes the weights by only {_power(median)} of their size "
                    "(≈10⁻³ per step is healthy): the learning rate looks too low.")
            elif median == 0:
                add("update_ratio", None, median, f"{name}: the weights did not change at all this epoch.")

        plateau = _plateau(history, lane, row, t)
        if plateau is not None:
            window, level = plateau
            add("plateau", None, level,
                f"{name}: the loss has not improved for {window} epochs and is still {level:.0%} "
                "of where it started (a plateau).")
    return findings


def _plateau(history: RunHistory, lane: int, row: int, t: Thresholds) -> tuple[int, float] | None:
    window = max(10, round(t.plateau_window * (row + 1)))
    if row < window + 1:
        return None
    loss = history.loss[lane, 1: row + 1]
    start = history.full_loss[lane, 0]
    if not (np.isfinite(loss).all() and np.isfinite(start) and start > 0):
        return None
    before = float(loss[:-window].min())
    recent = float(loss[-window:].min())
    level = float(loss[-1] / start)
    if before - recent <= t.plateau_improvement * before and level > t.plateau_level:
        return window, level
    return None


def findings_json(findings: list[Finding]) -> list[dict[str, object]]:
    """Findings as JSON-ready dicts (``diagnostics.json``); a non-finite value becomes ``null``."""
    out = []
    for finding in findings:
        item = asdict(finding)
        if not math.isfinite(item["value"]):
            item["value"] = None
        out.append(item)
    return out
