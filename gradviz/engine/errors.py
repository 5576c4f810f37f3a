"""The one error type a learner sees for bad input."""

from __future__ import annotations

__all__ = ["SpecError"]


class SpecError(ValueError):
    """A run description, dataset or edit that cannot be used.

    Parameters
    ----------
    field
        Dotted path of the offending field in the spec's JSON form,
        e.g. ``"lanes[2].optimizer.learning_rate"``; empty for the whole spec.
    problem
        What is wrong, in plain words, without the field name.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)
