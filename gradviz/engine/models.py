"""Keras models from a ModelSpec: one Dense stack whose outputs are every layer's activation.

Exposing each layer's output lets a single forward pass, inside one gradient
tape, give both the activations and the gradients the probes need.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradviz.engine.registry import make_activation, make_initializer
from gradviz.engine.runtime import import_keras
from gradviz.engine.spec import ModelSpec

__all__ = ["build_model", "layer_seed"]


def layer_seed(run_seed: int, layer_index: int) -> int:
    """The initializer seed of one layer: the same for every lane of a run.

    So lanes with equal model specs start bit-identical, and lanes that differ
    in one layer's initializer share every other layer's weights.
    """
    return int(np.random.SeedSequence([run_seed, layer_index]).generate_state(1)[0] & 0x7FFFFFFF)


def build_model(spec: ModelSpec, run_seed: int, path: str = "model") -> Any:
    """Build the functional Keras model of a lane.

    Parameters
    ----------
    spec
        The lane's model spec.
    run_seed
        The run's seed; fixes every initializer.
    path
        Field path used in error messages.

    Returns
    -------
    keras.Model
        Its outputs are the post-activation outputs of layers 1..L, in order;
        the last is the prediction.
    """
    keras = import_keras()
    inputs = keras.Input(shape=(spec.input_dim,), name="inputs")
    h = inputs
    outputs = []
    for j, layer in enumerate(spec.layers):
        base = f"{path}.layers[{j}]"
        dense = keras.layers.Dense(
            layer.units,
            activation=make_activation(layer.activation, f"{base}.activation"),
            kernel_initializer=make_initializer(layer.initializer, layer_seed(run_seed, j), f"{base}.initializer"),
            bias_initializer="zeros",
            name=f"layer_{j + 1}",
        )
        h = dense(h)
        outputs.append(h)
    return keras.Model(inputs, outputs)
