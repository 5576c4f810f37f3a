"""``gradviz --play --record run.gif --quit-when-done``: the run as an animated GIF; bad paths refused first."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_kit import assert_one_error_line
from PIL import Image

from gradviz.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_a_short_race_is_recorded_as_a_gif(tmp_path: Path, gradviz_cli) -> None:
    target = tmp_path / "race.gif"
    done = gradviz_cli("--lesson", "race", "--play", "--epochs", "5", "--record", str(target), "--quit-when-done",
                       timeout=240)
    assert done.returncode == 0, done.stderr
    with Image.open(target) as gif:
        assert gif.n_frames > 1
        width, height = gif.size
        assert 400 <= width <= 960 and height >= 200
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
    assert len(np.unique(last.reshape(-1, 3), axis=0)) > 20  # the panels, not a blank frame
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]  # no temporary file left


@pytest.mark.parametrize(("name", "says"), [
    ("race.avi", ".gif or .mp4"),
    ("missing/race.gif", "does not exist"),
    ("is-a-file/race.gif", "not a folder"),
])
def test_a_bad_record_path_is_one_error_line_before_the_window_opens(tmp_path: Path, capsys, name: str,
                                                                     says: str) -> None:
    (tmp_path / "is-a-file").write_text("x")
    target = tmp_path / name
    code = main(["--play", "--record", str(target), "--quit-when-done"])
    err = capsys.readouterr().err
    assert code == 2
    assert_one_error_line(err, says, str(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["is-a-file"]


def test_mp4_without_ffmpeg_says_so_and_suggests_a_gif(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) if shutil.which("ffmpeg") else os.environ["PATH"])
    env.pop("PYTHONSTARTUP", None)
    done = subprocess.run([sys.executable, "-m", "gradviz", "--record", str(tmp_path / "race.mp4"), "--quit-when-done"],
                          capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    if shutil.which("ffmpeg", path=env["PATH"]):
        pytest.skip("ffmpeg is next to the Python interpreter")
    assert done.returncode == 2
    assert_one_error_line(done.stderr, "ffmpeg", ".gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                    reason="MP4 recording needs ffmpeg, which this machine lacks")
def test_a_short_race_is_recorded_as_an_mp4_where_ffmpeg_is_installed(tmp_path: Path, gradviz_cli) -> None:
    target = tmp_path / "race.mp4"
    done = gradviz_cli("--lesson", "race", "--play", "--epochs", "5", "--record", str(target), "--quit-when-done",
                       timeout=240)
    assert done.returncode == 0, done.stderr
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", str(target)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    codec, width, height, frames = probe.stdout.strip().split(",")
    assert codec == "h264" and int(frames) > 1
    assert 400 <= int(width) <= 960 and int(height) >= 200
    assert [p.name for p in tmp_path.iterdir()] == ["race.mp4"]
