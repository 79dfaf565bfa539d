"""Runs the tests on this checkout's package (python/), with one torch thread. Without
torch the test modules skip themselves, unless CURVATURE_PYTHON_TESTS=1 demands them."""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

try:
    import torch
except ImportError:
    if os.environ.get("CURVATURE_PYTHON_TESTS") == "1":
        raise
else:
    torch.set_num_threads(1)
