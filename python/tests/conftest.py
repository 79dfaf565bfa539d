"""Runs the tests on this checkout's package. Without torch the suite is skipped, unless
CURVATURE_PYTHON_TESTS=1 demands it (then a missing torch is an error)."""
import os
import pathlib
import sys

import pytest

if os.environ.get("CURVATURE_PYTHON_TESTS") == "1":
    import torch  # noqa: F401  (fails loudly when missing)
else:
    pytest.importorskip("torch")
    pytest.importorskip("safetensors")

import torch  # noqa: E402

torch.set_num_threads(1)
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
