#!/usr/bin/env bash
# Build the one-folder gradviz bundle from a clean environment, self-test it,
# measure it and archive it.
#
#     bash packaging/build.sh            # PYTHON=python3.12 bash packaging/build.sh to pick the interpreter
#
# Leaves dist/gradviz/ (the folder a learner unzips and runs) and
# dist/gradviz-<version>-linux-<arch>.tar.gz.  The clean venv and PyInstaller's
# work files go under build/pyinstaller/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
BUILD="$ROOT/build/pyinstaller"
VENV="$BUILD/venv"
DIST="$ROOT/dist"
APP="$DIST/gradviz"

say() { printf '[build] %s\n' "$*"; }

t0=$(date +%s)
rm -rf "$VENV" "$BUILD/work" "$APP"
mkdir -p "$BUILD" "$DIST"

say "clean venv in $VENV"
"$PYTHON" -m venv "$VENV"
VPY="$VENV/bin/python"
# Only the runtime dependencies (one Qt binding) plus the freezer and its
# community hooks.  On Linux x86-64 TensorFlow comes as tensorflow-cpu, the
# same release built without CUDA: the `tensorflow` wheel carries about 380 MB
# of GPU kernels (libtensorflow_cc's .nv_fatbin section, a bigger
# libtensorflow_framework and profiler plugin) that the bundle could never use,
# since it ships none of the nvidia-* CUDA libraries, and gradviz trains on the
# CPU.  TF_PACKAGE=tensorflow bash packaging/build.sh builds with the full wheel.
case "$(uname -sm)" in
    "Linux x86_64") TF_PACKAGE=${TF_PACKAGE:-tensorflow-cpu} ;;
    *) TF_PACKAGE=${TF_PACKAGE:-tensorflow} ;;
esac
"$VPY" -m pip install --quiet pyinstaller pyinstaller-hooks-contrib
"$VPY" -m pip install --quiet --no-deps "$ROOT"
# gradviz's own requirements (pyproject.toml), with `tensorflow` renamed to
# $TF_PACKAGE and the version range kept; pip evaluates the markers.
"$VPY" - "$TF_PACKAGE" >"$BUILD/requirements.txt" <<'PY'
import re, sys
from importlib.metadata import requires
for req in requires("gradviz") or []:
    if "extra ==" not in req:
        print(re.sub(r"^tensorflow(?=[\s<>=!~;\[]|$)", sys.argv[1], req, flags=re.IGNORECASE))
PY
"$VPY" -m pip install --quiet -r "$BUILD/requirements.txt"
VERSION=$("$VPY" -c 'import gradviz; print(gradviz.__version__)')

say "pyinstaller $("$VPY" -m PyInstaller --version), gradviz $VERSION"
(cd "$BUILD" && "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$BUILD/work" "$ROOT/packaging/gradviz.spec")
# TensorFlow's two libraries ship with full symbol tables (about 220 MB); drop
# them, keeping the dynamic symbols.  Not PyInstaller's strip=True: stripping
# every library breaks numpy's bundled OpenBLAS.  The self-test below checks.
if command -v strip >/dev/null; then
    for lib in "$APP"/_internal/tensorflow/libtensorflow_cc.so.* "$APP"/_internal/tensorflow/libtensorflow_framework.so.*; do
        [ -f "$lib" ] && [ ! -L "$lib" ] && strip --strip-unneeded "$lib"
    done
fi
t_built=$(date +%s)

# Desktop integration next to the executable.
cp "$ROOT/packaging/gradviz.desktop" "$APP/gradviz.desktop"
cp "$ROOT/resources/icons/gradviz.png" "$APP/gradviz.png"

say "self-test of the frozen app"
if ! QT_QPA_PLATFORM=offscreen "$APP/gradviz" --self-test; then
    say "FAILED: the frozen app's self-test"
    exit 1
fi

# Time from launch to a painted window: the frozen app saves a screenshot of
# its first painted frame; poll for the file.  The first launch is cold (files
# not yet in the page cache), the second warm.
say "time to a painted window"
QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen} "$VPY" - "$APP/gradviz" <<'PY'
import os, subprocess, sys, tempfile, time
exe = sys.argv[1]
for label in ("cold", "warm"):
    with tempfile.TemporaryDirectory() as tmp:
        shot = os.path.join(tmp, "window.png")
        start = time.monotonic()
        proc = subprocess.Popen([exe, "--screenshot", shot], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        painted = None
        while time.monotonic() - start < 120:
            if os.path.exists(shot) and os.path.getsize(shot) > 0:
                painted = time.monotonic() - start
                break
            if proc.poll() is not None and not os.path.exists(shot):
                break
            time.sleep(0.02)
        code = proc.wait(timeout=120)
        total = time.monotonic() - start
        if painted is None:
            print(f"[build] time to painted window ({label}): FAILED (exit {code})")
            sys.exit(1)
        print(f"[build] time to painted window ({label}): {painted:.2f} s (process exited after {total:.2f} s)")
PY

SIZE=$(du -sh "$APP" | cut -f1)
ARCHIVE="$DIST/gradviz-$VERSION-linux-$(uname -m).tar.gz"
say "archive $ARCHIVE"
tar -C "$DIST" -czf "$ARCHIVE" gradviz
t_done=$(date +%s)

say "bundle size: $SIZE ($APP)"
say "archive size: $(du -sh "$ARCHIVE" | cut -f1)"
say "build time: $((t_built - t0)) s (venv + pip + pyinstaller); total with checks and archive: $((t_done - t0)) s"
