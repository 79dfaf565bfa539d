#!/usr/bin/env python3
"""The `curv demo` problem as files, for timing `curv diag` (issue 17: the exact Hessian
diagonal of the demo MLP in under 0.5 s).

Writes model.json, weights.safetensors, X.npy and y.npy of a 2-32-32-3 tanh MLP
(P = 1,251, PyTorch's initialization with seed 0, untrained) with cross-entropy on a
three-class spiral of 300 points (as the demo's data, drawn with NumPy), under --out:

    python3 Benchmarks/diag/demo_problem.py --out /tmp/demo
    time .build/release/curv diag --model /tmp/demo/model.json \
        --weights /tmp/demo/weights.safetensors --inputs /tmp/demo/X.npy \
        --targets /tmp/demo/y.npy --operator hessian --dtype float64 --threads 1 \
        --output /tmp/demo/d.npy

Needs: torch, numpy, safetensors.
"""
import argparse
import json
import pathlib

import numpy as np
import torch
from safetensors.torch import save_file


def spiral(points_per_class: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, points_per_class) + rng.normal(0, 0.2, points_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(points_per_class, c))
    return np.concatenate(xs), np.concatenate(ys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory to write")
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    h = args.hidden
    model = torch.nn.Sequential(torch.nn.Linear(2, h), torch.nn.Tanh(), torch.nn.Linear(h, h), torch.nn.Tanh(),
                                torch.nn.Linear(h, 3)).double()
    layers = [{"type": "linear", "in_features": 2, "out_features": h, "bias": True}, {"type": "tanh"},
              {"type": "linear", "in_features": h, "out_features": h, "bias": True}, {"type": "tanh"},
              {"type": "linear", "in_features": h, "out_features": 3, "bias": True}]
    description = {"layers": layers, "loss": {"type": "cross_entropy", "reduction": "mean"}}
    (out / "model.json").write_text(json.dumps(description, indent=2) + "\n")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(out / "weights.safetensors"))
    X, y = spiral(100, 3, seed=7)
    np.save(out / "X.npy", X.astype(np.float64))
    np.save(out / "y.npy", y.astype(np.int64))
    print(f"wrote {out} (P = {sum(p.numel() for p in model.parameters())}, N = {len(y)})")


if __name__ == "__main__":
    main()
