"""The Qt-free engine: specs, datasets, the lockstep trainer, probes, history.

Importing this package does not import TensorFlow; ``gradviz.engine.trainer``
does, and only the worker thread (or the headless CLI) imports it.
"""

from gradviz.engine.control import RunControl
from gradviz.engine.errors import SpecError
from gradviz.engine.history import RunHistory
from gradviz.engine.lessons import Lesson, lesson_names, load_lesson, resolve
from gradviz.engine.report import LAYER_PROBES, EpochReport, HyperparameterEdit, RunLayout
from gradviz.engine.spec import RunSpec, load_spec

__all__ = [
    "LAYER_PROBES",
    "EpochReport",
    "HyperparameterEdit",
    "Lesson",
    "RunControl",
    "RunHistory",
    "RunLayout",
    "RunSpec",
    "SpecError",
    "lesson_names",
    "load_lesson",
    "load_spec",
    "resolve",
]
