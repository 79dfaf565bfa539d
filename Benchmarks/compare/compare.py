#!/usr/bin/env python3
"""Curvature vs curvlinops: the same models, weights and data, timed side by side.

For each reference problem (the benchmark MLP 784-256-256-10 tanh with cross-entropy on
N = 512, and the CNN 3x32x32 -> conv16 -> conv32/2 -> linear 10 on N = 128) this script

1. builds the model in PyTorch with fixed seeds and writes it in Curvature's interchange
   format (model.json, weights.safetensors, X.npy, y.npy) under --workdir;
2. times curvlinops on it with ``torch.set_num_threads(--threads)``: one gradient
   (``gradient_and_loss``), one matvec with the Hessian, GGN, empirical Fisher and MC
   Fisher, the KFAC factor builds (type-2 and mc, ``compute_kronecker_factors``) and one
   KFAC matvec, as medians over --repeat runs after --warmup runs;
3. runs ``curv bench --repeat R --json`` (issue 9) on the same files with the same thread
   count, or reads its output from a file (--curvature-json);
4. prints one table: metric, curvlinops ms, Curvature ms, ratio (Curvature / curvlinops),
   and whether the target of issue 10 is met (every matvec and KFAC build <= 0.5x);
5. times torch.mm on 2048^2 matrices before and after each model (the best rate is the
   machine's gemm peak) and, for the products whose flops it knows, prints both rates,
   their share of the peak and the ratio floor (curvlinops' rate / peak): a goal below
   its floor cannot be met on this machine by the same flops.

With --rounds R, steps 2 and 3 alternate R times per model and each side's number is the
median of its R round medians: on a shared machine a burst of load then falls on both
libraries' rounds instead of on one library's whole half.

    python3 Benchmarks/compare/compare.py                       # both halves
    python3 Benchmarks/compare/compare.py --curvlinops-only     # no curv binary needed
    python3 Benchmarks/compare/compare.py --curvature-json mlp=mlp.json --curvature-json cnn=cnn.json
    python3 Benchmarks/compare/compare.py --json > comparison.json
    python3 Benchmarks/compare/compare.py --rounds 3 --repeat 5  # interleaved, noisy machines

Needs: torch, curvlinops-for-pytorch, numpy, safetensors.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings

# Importing torch 2.15 warns that torch.jit.script is deprecated; nothing here uses it.
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")

REPO = pathlib.Path(__file__).resolve().parents[2]

# The keys of `curv bench --json` (issue 9) that are timings, in table order. Keys not in
# the contract (fisher_mc_matvec_ms) are compared when both sides report them.
TIMINGS = [
    "gradient_ms",
    "hessian_matvec_ms",
    "ggn_matvec_ms",
    "ef_matvec_ms",
    "fisher_mc_matvec_ms",
    "kfac_type-2_build_ms",
    "kfac_mc_build_ms",
    "kfac_empirical_build_ms",
    "kfac_matvec_ms",
]
# Issue 10: every matvec and every KFAC build at most 0.5x curvlinops' time.
TARGET_VS_CURVLINOPS = 0.5
# Issue 17: products with 32 columns, time per column <= 0.25x curvlinops' per column (the
# same as the ratio of the times of one product with [P, K], K equal on both sides).
TARGET_MATMAT_VS_CURVLINOPS = 0.25
# Issue 10: matvec time / own gradient time.
TARGET_VS_GRADIENT = {"hessian_matvec_ms": 3.0, "ggn_matvec_ms": 2.5, "ef_matvec_ms": 2.5}


def fail(message: str, status: int = 2) -> None:
    print(f"compare.py: error: {message}", file=sys.stderr)
    sys.exit(status)


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Models and files


def build_problem(name: str, dtype):
    """The model (fixed seed) and one batch of data of a reference problem."""
    import torch
    from torch import nn

    if name == "gpt":
        # A GPT-style graph model (Tutorials/TransformerCurvature.md's NanoGPT, larger):
        # vocabulary 64, context 32, width 64, 4 heads, 2 blocks; 32 sequences, a
        # cross-entropy term per token (logits [N, V, T]).
        sys.path.insert(0, str(REPO / "python"))
        from curvature_export.examples import NanoGPT

        torch.manual_seed(1)
        model = NanoGPT(vocab=64, block_size=32, n_embd=64, n_head=4, n_layer=2).eval()
        generator = torch.Generator().manual_seed(4)
        X = torch.randint(0, 64, (32, 32), generator=generator)
        y = torch.randint(0, 64, (32, 32), generator=generator)
        return model.to(dtype), X, y
    if name == "mlp":
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(784, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(),
                              nn.Linear(256, 10))
        generator = torch.Generator().manual_seed(2)
        X = torch.randn(512, 784, generator=generator)
        y = torch.randint(0, 10, (512,), generator=generator)
    elif name == "cnn":
        torch.manual_seed(1)
        model = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 16 * 16, 10))
        generator = torch.Generator().manual_seed(3)
        X = torch.randn(128, 3, 32, 32, generator=generator)
        y = torch.randint(0, 10, (128,), generator=generator)
    else:
        raise ValueError(name)
    return model.to(dtype), X.to(dtype), y


def layer_json(module):
    from torch import nn

    if isinstance(module, nn.Linear):
        return {"type": "linear", "in_features": module.in_features,
                "out_features": module.out_features, "bias": module.bias is not None}
    if isinstance(module, nn.Conv2d):
        return {"type": "conv2d", "in_channels": module.in_channels,
                "out_channels": module.out_channels, "kernel_size": list(module.kernel_size),
                "stride": list(module.stride), "padding": list(module.padding),
                "dilation": list(module.dilation), "groups": module.groups,
                "bias": module.bias is not None}
    names = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Flatten: "flatten"}
    return {"type": names[type(module)]}


def write_problem(directory: pathlib.Path, model, X, y) -> dict:
    """Writes model.json, weights.safetensors, X.npy, y.npy (the layers issue's format); a
    graph model (gpt) through the exporter: model.json, weights.safetensors, reference.npz."""
    import numpy as np
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    if not isinstance(model, __import__("torch").nn.Sequential):
        import torch
        import curvature_export

        curvature_export.export(model, (X,), directory, torch.nn.CrossEntropyLoss(), targets=y)
        return {"model": directory / "model.json", "weights": directory / "weights.safetensors",
                "data": directory / "reference.npz"}
    description = {"layers": [layer_json(m) for m in model],
                   "loss": {"type": "cross_entropy", "reduction": "mean"}}
    (directory / "model.json").write_text(json.dumps(description, indent=2) + "\n")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              str(directory / "weights.safetensors"))
    np.save(directory / "X.npy", X.numpy())
    np.save(directory / "y.npy", y.numpy())
    return {"model": directory / "model.json", "weights": directory / "weights.safetensors",
            "inputs": directory / "X.npy", "targets": directory / "y.npy"}


# ---------------------------------------------------------------------------------------
# Timing


def measure(fn, warmup: int, repeat: int) -> dict:
    """Median and minimum wall time of `fn()` in milliseconds, and the median process CPU
    time (all threads; on a busy machine the steadier measure for one thread)."""
    for _ in range(warmup):
        fn()
    samples, cpu = [], []
    for _ in range(repeat):
        cpu_start = time.process_time()
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - cpu_start) * 1e3)
    return {"median": statistics.median(samples), "min": min(samples),
            "cpu_median": statistics.median(cpu), "samples": samples}


def merge_curvlinops_rounds(rounds: list[dict]) -> dict:
    """One curvlinops result from several rounds: each timing's median and CPU median are
    the medians of the rounds' (its minimum the least, its samples all of them), the
    other entries the first round's (peak memory the largest)."""
    merged = dict(rounds[0])
    timings = {}
    for key in rounds[0]["timings"]:
        per_round = [r["timings"][key] for r in rounds]
        timings[key] = {"median": statistics.median(t["median"] for t in per_round),
                        "min": min(t["min"] for t in per_round),
                        "cpu_median": statistics.median(t["cpu_median"] for t in per_round),
                        "samples": [x for t in per_round for x in t["samples"]],
                        "round_medians": [t["median"] for t in per_round]}
    merged["timings"] = timings
    merged["peak_rss_mib"] = max(r["peak_rss_mib"] for r in rounds)
    return merged


def merge_curv_rounds(rounds: list[dict]) -> dict:
    """One `curv bench --json` result from several rounds: every timing (`*_ms`) the median
    of the rounds' values (null where a round has none), the peak memory the largest, the
    other keys the first round's."""
    merged = dict(rounds[0])
    for key, value in rounds[0].items():
        if key.endswith("_ms"):
            values = [r[key] for r in rounds if r.get(key) is not None]
            merged[key] = statistics.median(values) if values else None
        elif key == "peak_rss_bytes" and value is not None:
            merged[key] = max(r[key] for r in rounds if r.get(key) is not None)
    return merged


def kfac_supported(model) -> bool:
    """Whether curvlinops' KFAC covers every parameter (a Sequential of Linear and Conv2d
    layers; not the GPT's embeddings and LayerNorms)."""
    from torch import nn

    return isinstance(model, nn.Sequential)


def math_attention(model):
    """A context in which scaled_dot_product_attention runs PyTorch's math kernel: the
    flash kernel on CPU has no forward-mode derivative, which curvlinops' products use."""
    import contextlib

    if kfac_supported(model):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def kfac_matvec_flops(model) -> float:
    """Flops of one KFAC matvec with separate weight and bias blocks: per layer
    G V A (2 o^2 i + 2 o i^2, with i = in_channels * kernel area for a convolution) and
    G b (2 o^2)."""
    from torch import nn

    flops = 0.0
    for m in model:
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            o = m.weight.shape[0]
            i = m.weight[0].numel()
            flops += 2 * o * o * i + 2 * o * i * i
            if m.bias is not None:
                flops += 2 * o * o
    return flops


def ggn_matmat_flops(model, n: int, k: int) -> float | None:
    """The fewest flops of one GGN product with [P, k] on a stack of Linear layers (the MLP),
    the forward pass cached: per column and layer the tangent's Wdot a and the weight
    cotangent's G^T a, and after the first layer also W adot and the input cotangent
    G W, 2 N in out flops each (biases, activations and the loss Hessian left out, so the
    true count is higher). None for other models."""
    from torch import nn

    layers = [m for m in model if any(True for _ in m.parameters(recurse=False))] \
        if isinstance(model, nn.Sequential) else []
    if not layers or not all(isinstance(m, nn.Linear) for m in layers):
        return None
    per_column = sum((2 if index == 0 else 4) * 2 * n * m.in_features * m.out_features
                     for index, m in enumerate(layers))
    return float(per_column * k)


def gemm_peak_gflops(dtype, n: int = 2048, repeat: int = 5) -> float:
    """The machine's gemm rate with the torch threads set: the median time of torch.mm on
    n x n matrices of the run's dtype, as GFLOP/s (2 n^3 flops). No product of the table
    can run faster than this."""
    import torch

    generator = torch.Generator().manual_seed(11)
    a = torch.randn(n, n, generator=generator, dtype=dtype)
    b = torch.randn(n, n, generator=generator, dtype=dtype)
    timing = measure(lambda: torch.mm(a, b), warmup=2, repeat=repeat)
    return 2 * n ** 3 / timing["median"] / 1e6


def peak_floors(name: str, lin: dict, ours: dict | None, peak: float | None) -> list[dict]:
    """For the products whose flops are known (KFAC matvec; GGN [P, k] on the MLP): both
    libraries' rates in GFLOP/s, their shares of the gemm peak, and the floor of the ratio,
    curvlinops' rate / peak: the lowest ratio any implementation of the same flops could
    reach on this machine. A goal below its floor cannot be met here."""
    rows = []
    known = [("kfac_matvec_ms", lin.get("kfac_matvec_flops"), TARGET_VS_CURVLINOPS)]
    known += [(f"ggn_matmat_k{k}_ms", flops, TARGET_MATMAT_VS_CURVLINOPS)
              for k, flops in sorted((lin.get("ggn_matmat_flops") or {}).items(), key=lambda kv: int(kv[0]))]
    for key, flops, goal in known:
        theirs = lin["timings"].get(key, {}).get("median")
        if not flops or not theirs:
            continue
        mine = (ours or {}).get(key)
        rate = flops / theirs / 1e6
        our_rate = flops / mine / 1e6 if mine else None
        floor = rate / peak if peak else None
        rows.append({"model": name, "metric": key, "flops": flops,
                     "curvlinops_gflops": rate, "curvature_gflops": our_rate,
                     "curvlinops_share_of_peak": floor,
                     "curvature_share_of_peak": our_rate / peak if (peak and our_rate) else None,
                     "ratio_floor": floor, "goal": goal,
                     "goal_reachable": None if floor is None else floor <= goal})
    return rows


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_curvlinops(model, X, y, warmup: int, repeat: int, columns: list[int]) -> dict:
    with math_attention(model):
        return _time_curvlinops(model, X, y, warmup, repeat, columns)


def _time_curvlinops(model, X, y, warmup: int, repeat: int, columns: list[int]) -> dict:
    import torch
    from curvlinops import (EFLinearOperator, FisherMCLinearOperator, GGNLinearOperator,
                            HessianLinearOperator, KFACLinearOperator)

    loss = torch.nn.CrossEntropyLoss(reduction="mean")
    params = [p for p in model.parameters() if p.requires_grad]
    data = [(X, y)]
    n = X.shape[0]
    common = dict(check_deterministic=False, num_data=n)
    P = sum(p.numel() for p in params)
    generator = torch.Generator().manual_seed(7)
    dtype = params[0].dtype
    v = torch.randn(P, generator=generator, dtype=dtype)

    results: dict = {"P": P, "N": n}
    timings = {}

    def record(key, fn):
        note(f"  curvlinops {key} …")
        timings[key] = measure(fn, warmup, repeat)

    hessian = HessianLinearOperator(model, loss, params, data, **common)
    record("gradient_ms", lambda: hessian.gradient_and_loss())
    record("hessian_matvec_ms", lambda: hessian @ v)
    ggn = GGNLinearOperator(model, loss, params, data, **common)
    record("ggn_matvec_ms", lambda: ggn @ v)
    ef = EFLinearOperator(model, loss, params, data, **common)
    record("ef_matvec_ms", lambda: ef @ v)
    fisher = FisherMCLinearOperator(model, loss, params, data, mc_samples=1, **common)
    record("fisher_mc_matvec_ms", lambda: fisher @ v)

    # Products with [P, k] (curvlinops vmaps over the columns), beside `curv bench --columns k`.
    for k in columns:
        V = torch.randn(P, k, generator=generator, dtype=dtype)
        for name, op in [("hessian", hessian), ("ggn", ggn), ("ef", ef), ("fisher_mc", fisher)]:
            record(f"{name}_matmat_k{k}_ms", lambda op=op, V=V: op @ V)

    results["timings"] = timings
    results["peak_rss_mib"] = peak_rss_mib()
    matmat_flops = {str(k): ggn_matmat_flops(model, n, k) for k in columns}
    if any(flops is not None for flops in matmat_flops.values()):
        results["ggn_matmat_flops"] = matmat_flops
    if not kfac_supported(model):
        return results
    kfacs = {}
    for fisher_type in ("type-2", "mc", "empirical"):
        kfac = KFACLinearOperator(model, loss, params, data, fisher_type=fisher_type, **common)
        record(f"kfac_{fisher_type}_build_ms", kfac.compute_kronecker_factors)
        kfacs[fisher_type] = kfac
    kfac = kfacs["mc"]  # factors computed by the build timing above
    record("kfac_matvec_ms", lambda: kfac @ v)

    results["kfac_matvec_flops"] = kfac_matvec_flops(model)
    results["peak_rss_mib"] = peak_rss_mib()
    return results


# ---------------------------------------------------------------------------------------
# curv bench


def check_curv(curv: str) -> None:
    """Fails with a clear message unless `curv` exists and has a `bench` subcommand."""
    path = shutil.which(curv) if os.sep not in curv else curv
    if path is None or not os.path.isfile(path) or not os.access(path, os.X_OK):
        fail(f"the curv binary '{curv}' does not exist or is not executable; build it with "
             "`swift build -c release --product curv`, pass --curv PATH, or use "
             "--curvature-json MODEL=FILE / --curvlinops-only")
    # For an unknown subcommand, swift-argument-parser answers `--help` with the root
    # command's help and status 0, so look for the subcommand's own usage line.
    probe = subprocess.run([path, "bench", "--help"], capture_output=True, text=True)
    usage = re.search(r"USAGE:\s*\S*curv\s+bench\b", probe.stdout + probe.stderr)
    # Newer binaries also report CPU times, the empirical KFAC build and the MC Fisher
    # products (issue 17).
    CURV_EXTRA[:] = [flag for flag in ("--cpu", "--kfac-empirical", "--fisher-mc") if flag in probe.stdout]
    if probe.returncode != 0 or usage is None:
        first = (probe.stderr or probe.stdout).strip().splitlines()
        detail = f" (`curv bench --help` printed: {first[0]!r})" if first else ""
        fail(f"'{path}' has no `bench` subcommand{detail}. `curv bench --repeat R --json` "
             "comes with the command-line issue (#9); until it is merged, use "
             "--curvlinops-only, or --curvature-json MODEL=FILE with saved results")


def run_curv_columns(curv: str, files: dict, dtype: str, threads: int, repeat: int, columns: list[int]) -> dict:
    """`curv bench` once per column count K (`--columns K`, issue 17), its matmat keys
    renamed `<op>_matmat_k<K>_ms` as curvlinops' here; the other keys from the first run."""
    if not columns:
        return run_curv(curv, files, dtype, threads, repeat)
    merged: dict = {}
    for k in columns:
        result = run_curv(curv, files, dtype, threads, repeat, ["--columns", str(k)])
        for key, value in result.items():
            match = re.fullmatch(r"(\w+)_matmat(_cpu)?_ms", key)
            if match:
                merged[f"{match.group(1)}_matmat_k{k}{match.group(2) or ''}_ms"] = value
            elif key not in merged:
                merged[key] = value
    return merged


# Flags of `curv bench` this binary has beyond the contract (check_curv finds them).
CURV_EXTRA: list[str] = []


def run_curv(curv: str, files: dict, dtype: str, threads: int, repeat: int, extra: list[str] | None = None) -> dict:
    data = (["--data", str(files["data"])] if "data" in files
            else ["--inputs", str(files["inputs"]), "--targets", str(files["targets"])])
    command = [curv, "bench", "--model", str(files["model"]), "--weights", str(files["weights"])] + data + [
               "--dtype", dtype, "--threads", str(threads), "--repeat", str(repeat), "--json"] + CURV_EXTRA + (extra or [])
    note("  " + " ".join(command))
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        fail(f"`{' '.join(command)}` exited with status {completed.returncode}: "
             f"{completed.stderr.strip()}")
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        fail(f"`curv bench --json` printed invalid JSON ({error}): {completed.stdout[:200]!r}")


def load_curvature_json(specs: list[str], models: list[str]) -> dict:
    """`--curvature-json` arguments: MODEL=FILE with one `curv bench --json` object, or FILE
    holding either {"mlp": {...}, "cnn": {...}} or (with one model selected) one object."""
    loaded = {}
    for spec in specs:
        model, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        try:
            content = json.loads(pathlib.Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            fail(f"cannot read Curvature results from '{path}': {error}")
        if model:
            loaded[model] = content
        elif isinstance(content, dict) and any(m in content for m in models):
            loaded.update({m: content[m] for m in models if m in content})
        elif len(models) == 1:
            loaded[models[0]] = content
        else:
            fail(f"'{path}' is one `curv bench` object; name its model: --curvature-json mlp={path}")
    return loaded


def curvature_peak_mib(result: dict):
    """The peak resident memory of a `curv bench` object in MiB, whatever its key."""
    for key, value in result.items():
        if key.startswith("peak") and isinstance(value, (int, float)):
            if key.endswith("_bytes"):
                return value / 2**20
            if key.endswith(("_kib", "_kb")):
                return value / 1024
            if key.endswith(("_gib", "_gb")):
                return value * 1024
            return value  # _mib, _mb, or unitless: MiB
    return None


# ---------------------------------------------------------------------------------------
# Report


def fmt(value, digits=2) -> str:
    """A time or ratio: `digits` decimals below 100, one above; `—` when missing."""
    if value is None:
        return "—"
    value = float(value)
    return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.1f}"


def fmt_count(value) -> str:
    return "—" if value is None else str(int(value))


def cpu_columns(key: str, lin: dict, ours: dict | None) -> dict:
    """The median process CPU times of a metric (curvlinops' and, from `curv bench --cpu`,
    Curvature's `<name>_cpu_ms`) and their ratio: on a shared machine with one thread the
    steadier comparison."""
    theirs = lin["timings"].get(key, {}).get("cpu_median")
    mine = (ours or {}).get(key.replace("_ms", "_cpu_ms"))
    return {"curvlinops_cpu_ms": theirs, "curvature_cpu_ms": mine,
            "cpu_ratio": mine / theirs if (mine is not None and theirs) else None}


def comparison_rows(name: str, lin: dict, ours: dict | None) -> list[dict]:
    rows = []
    for key in TIMINGS:
        theirs = lin["timings"].get(key, {}).get("median")
        mine = ours.get(key) if ours else None
        if theirs is None and mine is None:
            continue
        ratio = mine / theirs if (mine is not None and theirs) else None
        target = None
        if key != "gradient_ms" and ratio is not None:
            target = ratio <= TARGET_VS_CURVLINOPS
        rows.append({"model": name, "metric": key, "curvlinops_ms": theirs,
                     "curvlinops_min_ms": lin["timings"].get(key, {}).get("min"),
                     "curvature_ms": mine, "ratio": ratio, "target_met": target,
                     **cpu_columns(key, lin, ours)})
    for key, value in lin["timings"].items():
        if key not in TIMINGS:  # matmats `<op>_matmat_k<K>_ms` (curv bench --columns K)
            mine = ours.get(key) if ours else None
            ratio = mine / value["median"] if (mine is not None and value["median"]) else None
            rows.append({"model": name, "metric": key, "curvlinops_ms": value["median"],
                         "curvlinops_min_ms": value["min"], "curvature_ms": mine,
                         "ratio": ratio,
                         "target_met": None if ratio is None else ratio <= TARGET_MATMAT_VS_CURVLINOPS,
                         **cpu_columns(key, lin, ours)})
    return rows


def gradient_ratios(timings: dict) -> dict:
    """Matvec time / gradient time of one library (timings in ms)."""
    gradient = timings.get("gradient_ms")
    if not gradient:
        return {}
    return {key.replace("_ms", "") + "/gradient": timings[key] / gradient
            for key in ("hessian_matvec_ms", "ggn_matvec_ms", "ef_matvec_ms", "fisher_mc_matvec_ms")
            if timings.get(key) is not None}


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"Curvature vs curvlinops — {m['cpu']}, {m['cores']} cores, {report['settings']['threads']} "
          f"threads, {report['settings']['dtype']}, medians of {report['settings']['repeat']} runs"
          + (f", median of {report['settings']['rounds']} alternating rounds" if report['settings'].get('rounds', 1) > 1 else ""))
    print(f"torch {m['torch']}, curvlinops {m['curvlinops']}; ratio = Curvature / curvlinops "
          f"(target ≤ {TARGET_VS_CURVLINOPS} for matvecs and KFAC builds)")
    if m.get("gemm_peak_gflops"):
        print(f"gemm peak (torch.mm 2048², same threads and dtype, the best of {len(m['gemm_peak_samples_gflops'])}): "
              f"{m['gemm_peak_gflops']:.1f} GFLOP/s; "
              "ratio floor = curvlinops' rate / peak, the lowest ratio the same flops allow here")
    print()
    header = (f"{'model':5}  {'metric':26}  {'curvlinops ms':>13}  {'Curvature ms':>12}  {'ratio':>7}  "
              f"{'lin cpu ms':>10}  {'our cpu ms':>10}  {'cpu ratio':>9}  target")
    print(header)
    print("-" * len(header))
    for name, entry in report["models"].items():
        for row in entry["rows"]:
            target = {None: "", True: "met", False: "NOT met"}[row["target_met"]]
            print(f"{name:5}  {row['metric']:26}  {fmt(row['curvlinops_ms']):>13}  "
                  f"{fmt(row['curvature_ms']):>12}  {fmt(row['ratio'], 2):>7}  "
                  f"{fmt(row['curvlinops_cpu_ms']):>10}  {fmt(row['curvature_cpu_ms']):>10}  "
                  f"{fmt(row['cpu_ratio'], 2):>9}  {target}")
        lin, ours = entry["curvlinops"], entry.get("curvature") or {}
        print(f"{name:5}  {'P':26}  {lin['P']:>13}  {fmt_count(ours.get('P')):>12}")
        print(f"{name:5}  {'N':26}  {lin['N']:>13}  {fmt_count(ours.get('N')):>12}")
        print(f"{name:5}  {'peak RSS MiB (process)':26}  {fmt(lin['peak_rss_mib'], 1):>13}  "
              f"{fmt(curvature_peak_mib(ours), 1):>12}")
        for floor in entry.get("peak_floors") or []:
            label = floor["metric"].replace("_ms", "")
            print(f"{name:5}  {label + ' GFLOP/s':26}  {floor['curvlinops_gflops']:>13.2f}  "
                  f"{fmt(floor['curvature_gflops'], 2):>12}")
            if floor["ratio_floor"] is not None:
                print(f"{name:5}  {label + ' % of peak':26}  {100 * floor['curvlinops_share_of_peak']:>13.0f}  "
                      f"{fmt(None if floor['curvature_share_of_peak'] is None else 100 * floor['curvature_share_of_peak'], 0):>12}")
                verdict = "reachable" if floor["goal_reachable"] else "NOT reachable on this machine"
                print(f"{name:5}  {label + ' ratio floor':26}  {floor['ratio_floor']:>13.2f}  "
                      f"{'':>12}  goal ≤ {floor['goal']}: {verdict}")
        for side, ratios in (("curvlinops", entry["curvlinops_gradient_ratios"]),
                             ("Curvature", entry.get("curvature_gradient_ratios") or {})):
            for key, value in ratios.items():
                limit = TARGET_VS_GRADIENT.get(key.replace("/gradient", "_ms"))
                target = "" if side != "Curvature" or limit is None else (
                    f"{'met' if value <= limit else 'NOT met'} (≤ {limit})")
                print(f"{name:5}  {side + ' ' + key:40}  {value:>8.2f}  {target}")
        print()


def machine() -> dict:
    import curvlinops
    import torch

    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version
        curvlinops_version = version("curvlinops-for-pytorch")
    except Exception:  # noqa: BLE001 - informational only
        curvlinops_version = getattr(curvlinops, "__version__", "unknown")
    return {"cpu": cpu, "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "curvlinops": curvlinops_version,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mlp,cnn",
                        help="comma-separated: mlp, cnn, gpt (an exported NanoGPT graph model)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per metric (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per metric")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate curvlinops and curv bench this many times per model and "
                             "take the median of the rounds' medians (default 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="torch threads and `curv --threads` (default: all cores)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--workdir", type=pathlib.Path, default=REPO / ".build/compare",
                        help="where the interchange files go (default .build/compare)")
    parser.add_argument("--curv", default=str(REPO / ".build/release/curv"),
                        help="the curv binary (default .build/release/curv)")
    parser.add_argument("--curvature-json", action="append", default=[], metavar="[MODEL=]FILE",
                        help="read Curvature's numbers from saved `curv bench --json` output "
                             "instead of running curv (repeatable, one per model)")
    parser.add_argument("--curvlinops-only", action="store_true",
                        help="time curvlinops only (no curv binary needed)")
    parser.add_argument("--matmat-columns", default="",
                        help="also time products with [P, K] for these column counts K, e.g. 8,32: "
                             "curvlinops' `op @ V` and `curv bench --columns K` (target: ratio <= "
                             f"{TARGET_MATMAT_VS_CURVLINOPS})")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()

    models = [m for m in args.models.split(",") if m]
    for m in models:
        if m not in ("mlp", "cnn", "gpt"):
            fail(f"unknown model '{m}' (use mlp, cnn, gpt)")
    if args.repeat < 1 or args.warmup < 0 or args.threads < 1 or args.rounds < 1:
        fail("--repeat, --rounds and --threads must be positive and --warmup non-negative")
    columns = [int(c) for c in args.matmat_columns.split(",") if c]

    saved = load_curvature_json(args.curvature_json, models) if args.curvature_json else {}
    run_binary = not args.curvlinops_only and any(m not in saved for m in models)
    if run_binary:
        check_curv(args.curv)  # before spending minutes on curvlinops

    import torch

    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.dtype]

    # The peak is taken before and after each model, and the largest rate counts: a burst
    # of load during one measurement would otherwise lower it and raise every floor.
    note(f"gemm peak: torch.mm 2048² ({args.threads} threads, {args.dtype})")
    peaks = [gemm_peak_gflops(dtype)]
    report = {"machine": machine(),
              "settings": {"threads": args.threads, "dtype": args.dtype, "repeat": args.repeat,
                           "warmup": args.warmup, "rounds": args.rounds,
                           "curv": None if not run_binary else args.curv},
              "models": {}}
    for name in models:
        note(f"{name}: writing files to {args.workdir / name}")
        model, X, y = build_problem(name, dtype)
        files = write_problem(args.workdir / name, model, X, y)
        lin_rounds, our_rounds = [], []
        for round_index in range(args.rounds):
            of = f" (round {round_index + 1} of {args.rounds})" if args.rounds > 1 else ""
            note(f"{name}: timing curvlinops ({args.threads} threads){of}")
            lin_rounds.append(time_curvlinops(model, X, y, args.warmup, args.repeat, columns))
            if saved.get(name) is None and run_binary:
                note(f"{name}: running curv bench{of}")
                our_rounds.append(run_curv_columns(args.curv, files, args.dtype, args.threads, args.repeat, columns))
        lin = merge_curvlinops_rounds(lin_rounds)
        ours = saved.get(name) or (merge_curv_rounds(our_rounds) if our_rounds else None)
        entry = {"files": {k: str(v) for k, v in files.items()}, "curvlinops": lin,
                 "curvature": ours, "rows": comparison_rows(name, lin, ours),
                 "curvlinops_gradient_ratios": gradient_ratios(
                     {k: v["median"] for k, v in lin["timings"].items()}),
                 "curvature_gradient_ratios": gradient_ratios(ours) if ours else None}
        report["models"][name] = entry
        peaks.append(gemm_peak_gflops(dtype))
    report["machine"]["gemm_peak_gflops"] = max(peaks)
    report["machine"]["gemm_peak_samples_gflops"] = peaks
    for name, entry in report["models"].items():
        entry["peak_floors"] = peak_floors(name, entry["curvlinops"], entry["curvature"], max(peaks))

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)


if __name__ == "__main__":
    main()
