"""Lessons: a spec plus a title and an explanation, shipped as data under ``resources/lessons``.

Found alike from a source checkout, an installed package and a frozen build
(``importlib.resources`` reads the ``gradviz.resources`` package in all three).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from gradviz.engine.errors import SpecError
from gradviz.engine.spec import RunSpec, load_spec

__all__ = ["CONTROLS", "Lesson", "lesson_names", "load_lesson", "resolve"]

# Window controls a lesson may hide or lock, to keep a class on one idea.
CONTROLS = ("play", "step", "stop", "reset", "new_seed", "pace", "timeline", "lesson_picker", "lanes")


@dataclass(frozen=True, slots=True)
class Lesson:
    """A ready-to-play run with the words that go with it."""

    name: str
    title: str
    section: str
    summary: str
    spec: RunSpec
    explanation: str
    hidden_controls: tuple[str, ...] = ()
    locked_controls: tuple[str, ...] = ()


def _controls(data: dict, name: str, key: str) -> tuple[str, ...]:
    values = data.get("controls", {}).get(key, [])
    unknown = [v for v in values if v not in CONTROLS]
    if unknown:
        known = ", ".join(CONTROLS)
        raise SpecError(f"controls.{key}", f"lesson {name!r} names unknown controls {unknown} (known: {known})")
    return tuple(values)


def _lesson_dir() -> resources.abc.Traversable:
    return resources.files("gradviz.resources").joinpath("lessons")


def lesson_names() -> list[str]:
    """Names of the shipped lessons, in teaching order."""
    order = [
        "race", "lr-too-high", "surface-ravine", "surface-rosenbrock", "surface-saddle", "surface-beale",
        "surface-himmelblau", "vanishing", "exploding", "dead-relus", "init", "lab",
    ]
    names = sorted(
        entry.name[: -len(".json")] for entry in _lesson_dir().iterdir() if entry.name.endswith(".json")
    )
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def load_lesson(name: str) -> Lesson:
    """Read one shipped lesson.

    Raises
    ------
    SpecError
        If there is no lesson of that name.
    """
    entry = _lesson_dir().joinpath(f"{name}.json")
    if not entry.is_file():
        raise SpecError("", f"no lesson named {name!r} (lessons: {', '.join(lesson_names())})")
    data = json.loads(entry.read_text(encoding="utf-8"))
    md = _lesson_dir().joinpath(f"{name}.md")
    explanation = md.read_text(encoding="utf-8") if md.is_file() else ""
    return Lesson(
        name=name,
        title=data["title"],
        section=data.get("section", ""),
        summary=data.get("summary", ""),
        spec=RunSpec.from_json(data["spec"]),
        explanation=explanation,
        hidden_controls=_controls(data, name, "hidden"),
        locked_controls=_controls(data, name, "locked"),
    )


def resolve(name_or_path: str) -> Lesson:
    """A lesson by name, or a spec file (``*.json``) wrapped as a lesson."""
    path = Path(name_or_path)
    if name_or_path.endswith(".json") or path.is_file():
        spec = load_spec(path)
        return Lesson(path.stem, path.stem, "", f"Run described by {path.name}", spec, "")
    return load_lesson(name_or_path)
