"""The engine and the headless CLI never load Qt; the engine package alone does not load TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

QT_PREFIXES = ("PySide6", "pyqtgraph", "shiboken6", "superqt", "gradviz.ui")


def run_python(code: str, timeout: float = 240) -> list[str]:
    """Run ``code`` in a fresh interpreter; it prints a JSON list as its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_engine_trainer_and_cli_train_without_loading_qt() -> None:
    loaded = run_python(
        """
        import json, sys
        import gradviz.engine, gradviz.engine.trainer, gradviz.cli
        from gradviz.engine.lessons import load_lesson
        from gradviz.engine.trainer import iter_run

        spec = load_lesson("race").spec.replace(epochs=1)
        reports = list(iter_run(spec))
        assert [r.epoch for r in reports] == [0, 1], reports
        assert "tensorflow" in sys.modules
        print(json.dumps(sorted(sys.modules)))
        """
    )
    offending = [name for name in loaded if name.startswith(QT_PREFIXES)]
    assert offending == []


def test_importing_the_engine_package_does_not_import_tensorflow() -> None:
    loaded = run_python(
        """
        import json, sys
        import gradviz.engine
        from gradviz.engine import RunSpec, SpecError, lesson_names, load_lesson
        from gradviz.engine.spec import parse_spec_text

        for name in lesson_names():
            load_lesson(name)
        try:
            parse_spec_text('{"dataset": "cubic", "lanes": []}')
        except SpecError:
            pass
        else:
            raise AssertionError("an empty lane list was accepted")
        print(json.dumps(sorted(sys.modules)))
        """
    )
    heavy = [name for name in loaded if name.split(".")[0] in {"tensorflow", "keras"}]
    assert heavy == []
    assert not [name for name in loaded if name.startswith(QT_PREFIXES)]
