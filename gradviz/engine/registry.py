"""Keras's own registries of optimizers, activations and initializers, checked and built by name.

Names and constructor arguments are looked up in Keras itself, so every
optimizer Keras ships is available and an unknown name or argument is refused
with the field that holds it, before anything is trained.
"""

from __future__ import annotations

import inspect
import math
from functools import cache
from typing import Any

import numpy as np

from gradviz.engine.errors import SpecError
from gradviz.engine.runtime import import_keras
from gradviz.engine.spec import InitializerSpec, OptimizerSpec, RunSpec, Scalar

__all__ = [
    "HYPERPARAMETER_RANGES",
    "OFFERED_OPTIMIZERS",
    "acts_elementwise",
    "check_hyperparameter",
    "check_spec",
    "make_activation",
    "make_initializer",
    "make_optimizer",
    "optimizer_arguments",
]

# Optimizers the editor offers, in teaching order; any other Keras optimizer
# name is accepted in a spec too.
OFFERED_OPTIMIZERS = (
    "sgd", "rmsprop", "adam", "adamw", "nadam", "adamax", "adagrad", "adadelta", "lion", "ftrl", "adafactor",
)

# Documented valid ranges: (low, high, low_inclusive, high_inclusive).
HYPERPARAMETER_RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0.0, 1e6, False, True),
    "momentum": (0.0, 1.0, True, False),
    "beta_1": (0.0, 1.0, True, False),
    "beta_2": (0.0, 1.0, True, False),
    "rho": (0.0, 1.0, True, False),
    "epsilon": (0.0, 1.0, False, True),
    "weight_decay": (0.0, 1e3, True, True),
    "initial_accumulator_value": (0.0, 1e6, True, True),
    "clipnorm": (0.0, 1e9, False, True),
    "clipvalue": (0.0, 1e9, False, True),
    "global_clipnorm": (0.0, 1e9, False, True),
}

# Arguments that belong to the run, not to a lane's optimizer.
_RESERVED = {"name", "loss_scale_factor", "gradient_accumulation_steps", "use_ema", "ema_momentum",
             "ema_overwrite_frequency", "kwargs", "self"}


def _in_range(name: str, value: float) -> str | None:
    lo, hi, lo_inc, hi_inc = HYPERPARAMETER_RANGES[name]
    ok = (value >= lo if lo_inc else value > lo) and (value <= hi if hi_inc else value < hi)
    if ok:
        return None
    left = "[" if lo_inc else "("
    right = "]" if hi_inc else ")"
    return f"must be in {left}{lo:g}, {hi:g}{right}, not {value!r}"


def check_hyperparameter(name: str, value: Scalar, path: str) -> None:
    """Refuse a value outside the documented range of a known hyperparameter."""
    if name in HYPERPARAMETER_RANGES and value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(path, f"must be a number, not {value!r}")
        try:
            value = float(value)
        except OverflowError:
            raise SpecError(path, "must be a finite number, not an integer beyond float range") from None
        if not math.isfinite(value):
            raise SpecError(path, f"must be a finite number, not {value!r}")
        problem = _in_range(name, value)
        if problem:
            raise SpecError(path, problem)


@cache
def _optimizer_class(name: str) -> type:
    keras = import_keras()
    try:
        return type(keras.optimizers.get(name))
    except (ValueError, TypeError):
        return None  # type: ignore[return-value]


def optimizer_arguments(name: str) -> dict[str, Any]:
    """The constructor arguments a Keras optimizer takes, with their defaults."""
    cls = _optimizer_class(name)
    if cls is None:
        return {}
    out = {}
    for pname, p in inspect.signature(cls.__init__).parameters.items():
        if pname in _RESERVED or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out[pname] = None if p.default is inspect.Parameter.empty else p.default
    return out


def make_optimizer(spec: OptimizerSpec, path: str) -> Any:
    """Build a Keras optimizer from its spec, naming the bad field on failure."""
    cls = _optimizer_class(spec.name)
    if cls is None:
        known = ", ".join(OFFERED_OPTIMIZERS)
        raise SpecError(f"{path}.name", f"unknown optimizer {spec.name!r} (Keras has e.g.: {known})")
    allowed = optimizer_arguments(spec.name)
    for key, value in spec.params:
        if key not in allowed:
            raise SpecError(
                f"{path}.{key}",
                f"{spec.name} takes no argument {key!r} (it takes: {', '.join(sorted(allowed))})",
            )
        check_hyperparameter(key, value, f"{path}.{key}")
    kwargs = dict(spec.params)
    for key, value in kwargs.items():
        # JSON has no float/int distinction a learner would notice ("learning_rate": 1),
        # but Keras refuses an int learning rate.
        if isinstance(value, int) and not isinstance(value, bool):
            if key in HYPERPARAMETER_RANGES or isinstance(allowed.get(key), float):
                kwargs[key] = float(value)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SpecError(path, f"Keras refused {spec.label()}: {exc}") from None


@cache
def _activation(name: str) -> Any:
    keras = import_keras()
    try:
        return keras.activations.get(name)
    except (ValueError, TypeError):
        return None


# Two samples of six units, to find out what an activation does to a layer's outputs.
_UNITS_PROBE = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(2, 6)


@cache
def _activation_effect(name: str) -> tuple[tuple[int, ...] | str, bool]:
    """The shape ``name`` turns a (2, 6) layer output into, and whether it maps each unit on its own.

    The shape is Keras's message instead if the function cannot be called on
    a layer's output alone (``threshold`` needs more arguments).
    """
    fn = _activation(name)
    try:
        whole = np.asarray(fn(_UNITS_PROBE))
    except (TypeError, ValueError) as exc:  # a signature or shape it cannot take: the same every time
        return f"{type(exc).__name__}: {exc}", False
    if whole.shape != _UNITS_PROBE.shape:
        return whole.shape, False
    part = np.asarray(fn(_UNITS_PROBE[:, :3]))
    return whole.shape, bool(np.allclose(whole[:, :3], part, equal_nan=True))


def make_activation(name: str, path: str) -> Any:
    """The Keras activation function of that name, if it keeps a layer's width.

    Raises
    ------
    SpecError
        For a name Keras does not know, an activation that cannot be called
        on a layer's output alone (``threshold`` needs more arguments), or
        one that changes the number of units (``glu`` halves them): every
        probe is per unit.
    """
    fn = _activation(name)
    if fn is None:
        raise SpecError(
            path,
            f"unknown activation {name!r} (Keras has e.g.: sigmoid, tanh, relu, leaky_relu, elu, selu, gelu, linear)",
        )
    shape, _ = _activation_effect(name)
    if isinstance(shape, str):
        raise SpecError(path, f"activation {name!r} cannot be a layer's activation on its own ({shape})")
    if shape != _UNITS_PROBE.shape:
        raise SpecError(
            path,
            f"activation {name!r} changes a layer's width ({_UNITS_PROBE.shape[1]} units become {shape[-1]}); "
            "gradviz needs one that keeps every unit",
        )
    return fn


def acts_elementwise(name: str) -> bool:
    """Whether the activation maps each unit on its own (relu, tanh), not a layer's units together (softmax).

    Assumes ``name`` passed :func:`make_activation`.
    """
    return _activation_effect(name)[1]


def make_initializer(spec: InitializerSpec, seed: int, path: str) -> Any:
    """A seeded Keras initializer, so equal specs give bit-identical weights."""
    keras = import_keras()
    try:
        cls = type(keras.initializers.get(spec.name))
    except (ValueError, TypeError):
        raise SpecError(
            f"{path}.name" if spec.params else path,
            f"unknown initializer {spec.name!r} (Keras has e.g.: glorot_uniform, glorot_normal, he_normal, "
            "he_uniform, lecun_normal, random_normal)",
        ) from None
    sig = inspect.signature(cls.__init__).parameters
    kwargs = dict(spec.params)
    for key in kwargs:
        if key not in sig or key in ("self", "seed"):
            allowed = sorted(k for k in sig if k not in ("self", "seed", "kwargs"))
            takes = ", ".join(allowed) or "none"
            raise SpecError(f"{path}.{key}", f"{spec.name} takes no argument {key!r} (it takes: {takes})")
    if "seed" in sig:
        kwargs["seed"] = seed
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise SpecError(path, f"Keras refused initializer {spec.label()}: {exc}") from None


def check_spec(spec: RunSpec) -> None:
    """Check every Keras name and argument in a spec (imports Keras).

    Raises
    ------
    SpecError
        Naming the first offending field.
    """
    for i, lane in enumerate(spec.lanes):
        make_optimizer(lane.optimizer, f"lanes[{i}].optimizer")
        for j, layer in enumerate(lane.model.layers if lane.model is not None else ()):
            base = f"lanes[{i}].model.layers[{j}]"
            make_activation(layer.activation, f"{base}.activation")
            make_initializer(layer.initializer, 0, f"{base}.initializer")
