"""What the window says while a run prepares its first epoch (the lab: about 15 s)."""

from __future__ import annotations

from gradviz.engine.control import Preparation

__all__ = ["preparation_message"]


def preparation_message(preparation: Preparation) -> str:
    """One line for the banner and the status bar, in the learner's words.

    Examples
    --------
    >>> preparation_message(Preparation("tracing", 40, 72, 36))
    'Preparing the first epoch: TensorFlow is building the probes of lane 4 of 36… Later epochs are quick.'
    """
    p = preparation
    what = {
        "building": f"creating the model of lane {p.lane} of {p.lanes}",
        "training": f"TensorFlow is building the training step of lane {p.lane} of {p.lanes}",
        "probes": f"TensorFlow is building the probes of lane {p.lane} of {p.lanes}",
    }.get(p.phase, f"TensorFlow is compiling the {p.lanes} lanes' training step")
    return f"Preparing the first epoch: {what}… Later epochs are quick."
