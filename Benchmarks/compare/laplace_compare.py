#!/usr/bin/env python3
"""Curvature's `curv laplace` vs laplace-torch (curvlinops backend): a kron Laplace
approximation of the benchmark MLP, timed side by side (issue 21).

The MLP 784-256-256-10 (tanh, cross-entropy, N = 512) of compare.py, in the same files.
Three stages, each a median over --repeat runs (after --warmup untimed runs) in one
process per library and run:

    fit        laplace-torch: KronLaplace(backend=CurvlinopsGGN).fit(one batch of N), i.e.
               KFAC type-2 factors and their eigendecompositions;
               Curvature: LaplaceApproximation(structure: .kron) (`fit_seconds` of
               `curv laplace --json`: the same, after the files are read).
    optimize   laplace-torch: optimize_prior_precision(method="marglik") (its default 100
               Adam steps on the log prior precision, scalar);
               Curvature: optimizePriorPrecision() (`optimize_seconds`; a root of the
               evidence's derivative to 1e-9 in log λ).
    predict    the GLM predictive with the probit link on --test-points inputs (Jacobians
               and the functional variance J Σ Jᵀ through the Kronecker factors):
               laplace-torch la(X, pred_type="glm", link_approx="probit"); Curvature
               `--predict X.npy --link-approx probit` (`predict_seconds`).

Both libraries run with --threads threads (torch.set_num_threads, OPENBLAS_NUM_THREADS and
curv --threads) in float32. The log marginal likelihoods at the optimized prior are printed
too (they differ: the optimizers differ; Curvature's is the exact maximum).

    swift build -c release --product curv
    python3 Benchmarks/compare/laplace_compare.py --repeat 5 --threads 1

Needs: torch, curvlinops-for-pytorch, laplace-torch, numpy, safetensors.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from compare import build_problem, write_problem  # noqa: E402


def fail(message: str) -> None:
    print(f"laplace_compare.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def time_laplace_torch(model, X, y, Xtest, warmup: int, repeat: int) -> dict:
    import torch
    from laplace import KronLaplace
    from laplace.curvature import CurvlinopsGGN
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(X, y), batch_size=len(X))
    samples = {"fit": [], "optimize": [], "predict": []}
    lml = None
    for run in range(warmup + repeat):
        la = KronLaplace(model, "classification", backend=CurvlinopsGGN, prior_precision=1.0)
        start = time.perf_counter()
        la.fit(loader)
        fit = time.perf_counter() - start
        start = time.perf_counter()
        la.optimize_prior_precision(method="marglik", pred_type="glm")
        optimize = time.perf_counter() - start
        start = time.perf_counter()
        with torch.no_grad():
            probabilities = la(Xtest, pred_type="glm", link_approx="probit")
        predict = time.perf_counter() - start
        assert probabilities.shape == (len(Xtest), 10)
        if run >= warmup:
            samples["fit"].append(fit)
            samples["optimize"].append(optimize)
            samples["predict"].append(predict)
        lml = float(la.log_marginal_likelihood().detach())
        prior = float(la.prior_precision.detach().reshape(-1)[0])
    return {"median_s": {k: statistics.median(v) for k, v in samples.items()}, "samples_s": samples,
            "log_marginal_likelihood": lml, "prior_precision": prior}


def time_curvature(curv: str, files: dict, test: pathlib.Path, threads: int, warmup: int, repeat: int) -> dict:
    output = test.parent / "laplace-probs.npy"
    command = [curv, "laplace", "--model", str(files["model"]), "--weights", str(files["weights"]),
               "--inputs", str(files["inputs"]), "--targets", str(files["targets"]), "--structure", "kron",
               "--optimize-prior", "marglik", "--predict", str(test), "--link-approx", "probit",
               "--output", str(output), "--threads", str(threads), "--dtype", "float32", "--json"]
    samples = {"fit": [], "optimize": [], "predict": []}
    report = None
    for run in range(warmup + repeat):
        completed = subprocess.run(command, capture_output=True, text=True,
                                   env={**os.environ, "OPENBLAS_NUM_THREADS": str(threads)})
        if completed.returncode != 0:
            fail(f"`{' '.join(command)}` failed: {completed.stderr.strip()}")
        report = json.loads(completed.stdout)
        if run >= warmup:
            for key in samples:
                samples[key].append(report[f"{key}_seconds"])
    return {"median_s": {k: statistics.median(v) for k, v in samples.items()}, "samples_s": samples,
            "log_marginal_likelihood": report["log_marginal_likelihood"], "prior_precision": report["prior_precision"],
            "command": " ".join(command)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-points", type=int, default=32)
    parser.add_argument("--curv", default=str(REPO / ".build/release/curv"))
    parser.add_argument("--workdir", default=str(REPO / ".build/compare"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not os.access(args.curv, os.X_OK):
        fail(f"the curv binary '{args.curv}' does not exist; build it with `swift build -c release --product curv`")
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    model, X, y = build_problem("mlp", torch.float32)
    directory = pathlib.Path(args.workdir) / "laplace-mlp"
    files = write_problem(directory, model, X, y)
    Xtest = X[: args.test_points].clone()
    test = directory / "Xtest.npy"
    np.save(test, Xtest.numpy())

    print("laplace-torch …", file=sys.stderr, flush=True)
    theirs = time_laplace_torch(model, X, y, Xtest, args.warmup, args.repeat)
    print("curv laplace …", file=sys.stderr, flush=True)
    ours = time_curvature(args.curv, files, test, args.threads, args.warmup, args.repeat)
    if args.json:
        print(json.dumps({"machine": platform.platform(), "threads": args.threads, "repeat": args.repeat,
                          "laplace_torch": theirs, "curvature": ours}, indent=2))
        return
    print(f"kron Laplace, MLP 784-256-256-10 tanh, N = {len(X)}, {args.test_points} test points, float32, "
          f"{args.threads} thread(s), medians of {args.repeat} runs")
    print("| stage | laplace-torch (s) | Curvature (s) | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for key, name in [("fit", "fit (KFAC type-2 + eigendecompositions)"),
                      ("optimize", "optimize prior (marglik)"), ("predict", "GLM predictive, probit")]:
        a, b = theirs["median_s"][key], ours["median_s"][key]
        print(f"| {name} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
    print(f"| log marginal likelihood at the optimized prior | {theirs['log_marginal_likelihood']:.4f} "
          f"(λ = {theirs['prior_precision']:.4g}) | {ours['log_marginal_likelihood']:.4f} "
          f"(λ = {ours['prior_precision']:.4g}) | |")


if __name__ == "__main__":
    main()
