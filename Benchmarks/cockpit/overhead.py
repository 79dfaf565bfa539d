#!/usr/bin/env python3
"""Per-step overhead of cockpit's instruments: `curv train` against cockpit-for-pytorch.

For each reference problem of Benchmarks/compare (the MLP 784-256-256-10 tanh and the CNN
3x32x32 -> conv16 -> conv32/2 -> linear 10, cross-entropy, float32; the first --points
points of its data) this script

1. writes the model, its initial weights and the data in Curvature's interchange format
   (compare.py's write_problem) under --workdir;
2. runs `curv train --json` on them with plain SGD over one epoch in data order, without
   instruments and with each preset (--cockpit economy|business|full), and reads the mean
   time per step: `plain_step_ms` (the step itself: forward, backward, update) and
   `step_ms` (with the instruments), wall-clock and CPU (`cpu_*`);
3. trains the same PyTorch model on the same data in the same order, plain and with
   cockpit-for-pytorch's configuration of each preset (BackPACK-extended model and loss,
   tracking every step, as cockpit's examples), timing every step the same way: the
   step's wall-clock and process CPU time (time.perf_counter, time.process_time), the
   first step left out (both sides: it also warms caches and allocators);
4. prints one table per model (--json: one object).

    python3 Benchmarks/cockpit/overhead.py                   # both models, both sides
    python3 Benchmarks/cockpit/overhead.py --models mlp --points 128 --batch-size 32
    python3 Benchmarks/cockpit/overhead.py --json > overhead.json

Needs: torch, backpack-for-pytorch, cockpit-for-pytorch (set up by
scripts/fixtures/cockpit_reference.py, as the fixtures' runs), safetensors, numpy; a release `curv`.
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

warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated")
# create_graph=True (HessMaxEV) and BackPACK's hooks warn on every tracked step; harmless here.
warnings.filterwarnings("ignore", category=UserWarning)
REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Benchmarks/compare"))
sys.path.insert(0, str(REPO / "scripts/fixtures"))
from compare import build_problem, write_problem  # noqa: E402

PRESETS = ["economy", "business", "full"]


def mean_ms(times: list[float]) -> float:
    """Mean of the per-step seconds in ms, without the first step."""
    steps = times[1:] if len(times) > 1 else times
    return 1e3 * statistics.fmean(steps)


def time_pytorch(model0, X, y, batch_size: int, lr: float, preset: str | None) -> dict:
    """One epoch of plain SGD in data order, with cockpit's `preset` tracking every step
    (None: no cockpit, no BackPACK); mean wall and CPU ms per step."""
    from cockpit_reference import SGDRun, import_cockpit

    classes = None if preset is None else import_cockpit()[3](preset)
    run = SGDRun(model0, lr, classes)
    wall, cpu, losses = [], [], []
    for step, start in enumerate(range(0, len(X), batch_size)):
        inputs, targets = X[start:start + batch_size], y[start:start + batch_size]
        w0, c0 = time.perf_counter(), time.process_time()
        loss = run.step(step, inputs, targets)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        losses.append(float(loss))
    return {"step_ms": mean_ms(wall), "cpu_step_ms": mean_ms(cpu), "steps": len(wall), "loss_first": losses[0],
            "loss_last": losses[-1]}


def run_curv(curv: str, files: dict, batch_size: int, lr: float, threads: int, preset: str | None) -> dict:
    command = [curv, "train", "--model", str(files["model"]), "--weights", str(files["weights"]), "--inputs",
               str(files["inputs"]), "--targets", str(files["targets"]), "--batch-size", str(batch_size), "--lr", str(lr),
               "--epochs", "1", "--no-shuffle", "--threads", str(threads), "--json"]
    if preset is not None:
        command += ["--cockpit", preset]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"overhead.py: {' '.join(command)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curv", default=str(REPO / ".build/release/curv"))
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--points", type=int, default=None,
                        help="data points per model (default: 256 for the MLP, 128 for the CNN)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", default="/tmp/curvature-cockpit-overhead")
    parser.add_argument("--skip-pytorch", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    report = {"machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg(), "torch": torch.__version__, "threads": args.threads},
              "batch_size": args.batch_size, "models": {}}
    for name in args.models.split(","):
        model, X, y = build_problem(name, torch.float32)
        points = args.points or (256 if name == "mlp" else 128)
        X, y = X[:points], y[:points]
        files = write_problem(pathlib.Path(args.workdir) / name, model, X, y)
        rows = {}
        for preset in [None] + PRESETS:
            label = preset or "plain"
            ours = run_curv(args.curv, files, args.batch_size, args.lr, args.threads, preset)
            row = {"curv_plain_step_ms": ours["plain_step_ms"], "curv_step_ms": ours["step_ms"],
                   "curv_cpu_plain_step_ms": ours["cpu_plain_step_ms"], "curv_cpu_step_ms": ours["cpu_step_ms"],
                   "curv_loss_last": ours["loss_last"], "P": ours["P"], "N": ours["N"], "steps": ours["steps"]}
            if not args.skip_pytorch:
                theirs = time_pytorch(model, X, y, args.batch_size, args.lr, preset)
                row.update({"torch_step_ms": theirs["step_ms"], "torch_cpu_step_ms": theirs["cpu_step_ms"],
                            "torch_loss_last": theirs["loss_last"]})
            rows[label] = row
            print(f"{name} {label}: {row}", file=sys.stderr)
        report["models"][name] = rows
    report["machine"]["load_average_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for name, rows in report["models"].items():
        plain = rows["plain"]
        print(f"\n{name}: P = {plain['P']}, N = {plain['N']}, batch size {args.batch_size}, {plain['steps']} steps, "
              f"{args.threads} thread(s)")
        print("| run | curv ms/step | curv CPU ms/step | × plain (CPU) | cockpit-for-pytorch ms/step | CPU ms/step | × plain (CPU) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, row in rows.items():
            ours = f"{row['curv_step_ms']:.2f} | {row['curv_cpu_step_ms']:.2f} | {row['curv_cpu_step_ms'] / plain['curv_cpu_step_ms']:.1f}"
            theirs = "- | - | -"
            if "torch_step_ms" in row:
                theirs = (f"{row['torch_step_ms']:.2f} | {row['torch_cpu_step_ms']:.2f} | "
                          f"{row['torch_cpu_step_ms'] / plain['torch_cpu_step_ms']:.1f}")
            print(f"| {label} | {ours} | {theirs} |")


if __name__ == "__main__":
    main()
