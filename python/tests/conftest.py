"""Runs the tests on this checkout's package (python/), with one torch thread. Without
torch the test modules skip themselves, unless CURVATURE_PYTHON_TESTS=1 demands them."""
import importlib.util
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

try:
    import torch
except ImportError:
    if os.environ.get("CURVATURE_PYTHON_TESTS") == "1":
        raise
else:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def compare():
    """Benchmarks/compare/compare.py as a module (it imports torch only when it times)."""
    path = pathlib.Path(__file__).resolve().parents[2] / "Benchmarks" / "compare" / "compare.py"
    spec = importlib.util.spec_from_file_location("compare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
