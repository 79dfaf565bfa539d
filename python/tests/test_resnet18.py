"""torchvision's resnet18 (P = 11,178,051): Curvature's Hessian- and GGN-vector products on
the exported graph equal curvlinops' in float64 (max relative difference <= 1e-9), with
nothing P x P formed on either side.

The export is written once per module run to a temporary directory (model.json,
weights.safetensors, reference.npz, inputs.npy, targets.npy, vector.npy [P] and curvlinops'
products hessian_vector.npy, ggn_vector.npy; about 540 MB, removed afterwards). Two
consumers check it:

- the Swift test `GraphResNet18ProductTests` (Tests/CurvatureTests/Graph), run with
  `swift test -c release --skip-build` and CURVATURE_RESNET18_DIR set to the directory;
  it needs the release build of the tests (`swift build -c release --build-tests`, which
  scripts/test.sh runs before pytest);
- `curv apply --operator hessian|ggn --vectors vector.npy --output ...` (.build/release/curv),
  once curv takes graph models.

Each is skipped, with the reason, when its binary is missing. About a minute on 2 cores.
"""
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("safetensors")
curvlinops = pytest.importorskip("curvlinops")

import torch.nn as nn  # noqa: E402

import curvature_export  # noqa: E402
from curvature_export import examples  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".build" / "release"
TOLERANCE = 1e-9


def _test_bundle():
    """The release test binary of the package, or None."""
    if not RELEASE.is_dir():
        return None
    bundles = [p for p in RELEASE.iterdir() if p.name.endswith("PackageTests.xctest")]
    return bundles[0] if bundles else None


def _relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


@pytest.fixture(scope="module")
def resnet18(tmp_path_factory):
    """The exported resnet18 and curvlinops' products with one random vector (float64)."""
    directory = tmp_path_factory.mktemp("resnet18")
    model, inputs, loss = examples.build("resnet18", seed=0)  # 3 classes, 2 images 3x32x32, eval-mode BatchNorm
    graph = curvature_export.export(model, inputs, directory, loss)
    reference = np.load(directory / "reference.npz")
    X = torch.from_numpy(reference["input_0"])
    y = torch.from_numpy(reference["targets"])
    np.save(directory / "inputs.npy", reference["input_0"])
    np.save(directory / "targets.npy", reference["targets"])

    params = list(model.parameters())
    P = sum(p.numel() for p in params)
    assert [p["name"] for p in graph["parameters"]] == [name for name, _ in model.named_parameters()]
    vector = torch.randn(P, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    np.save(directory / "vector.npy", vector.numpy())
    assert graph["loss"]["type"] == "cross_entropy" and graph["loss"]["reduction"] == "mean"
    for key, operator in (("hessian", curvlinops.HessianLinearOperator), ("ggn", curvlinops.GGNLinearOperator)):
        op = operator(model.eval(), nn.CrossEntropyLoss(), params, [(X, y)])
        np.save(directory / f"{key}_vector.npy", (op @ vector).detach().numpy())
    yield directory, P
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(_test_bundle() is None or shutil.which("swift") is None,
                    reason="needs the release test build (swift build -c release --build-tests) and swift")
def test_resnet18_products_swift(resnet18):
    directory, P = resnet18
    env = dict(os.environ, CURVATURE_RESNET18_DIR=str(directory))
    run = subprocess.run(["swift", "test", "-c", "release", "--skip-build", "--filter", "GraphResNet18ProductTests"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    # The Swift test prints one line per operator; a skipped test prints none.
    found = dict(re.findall(r"resnet18 (hessian|ggn)-vector product \(P = \d+\): max relative difference (\S+)", output))
    assert set(found) == {"hessian", "ggn"}, "the Swift test did not run:\n" + output[-4000:]
    for key, value in found.items():
        assert float(value) <= TOLERANCE, f"{key}: {value}"


def _curv_apply_available():
    curv = RELEASE / "curv"
    if not curv.exists():
        return False
    # An unknown subcommand may still print the root help with status 0: look for apply's options.
    help_text = subprocess.run([str(curv), "apply", "--help"], capture_output=True, text=True)
    return help_text.returncode == 0 and "--vectors" in help_text.stdout


@pytest.mark.skipif(not _curv_apply_available(),
                    reason="needs .build/release/curv with the apply subcommand (swift build -c release --product curv)")
def test_resnet18_products_curv_apply(resnet18):
    directory, P = resnet18
    for key in ("hessian", "ggn"):
        output = directory / f"curv_{key}_vector.npy"
        run = subprocess.run(
            [str(RELEASE / "curv"), "apply", "--model", str(directory / "model.json"),
             "--weights", str(directory / "weights.safetensors"), "--inputs", str(directory / "inputs.npy"),
             "--targets", str(directory / "targets.npy"), "--operator", key, "--dtype", "float64",
             "--vectors", str(directory / "vector.npy"), "--output", str(output)],
            capture_output=True, text=True, timeout=1200)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        product = np.load(output)
        expected = np.load(directory / f"{key}_vector.npy")
        assert product.shape == expected.shape == (P,)
        assert _relative(product, expected) <= TOLERANCE, f"{key}: {_relative(product, expected)}"
