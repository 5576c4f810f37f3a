"""Test-wide set-up: offscreen Qt, quiet single-threaded TensorFlow."""

from __future__ import annotations

import os

# Before any Qt or TensorFlow import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
