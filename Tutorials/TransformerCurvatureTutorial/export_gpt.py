"""Trains and exports the small GPT of Tutorials/TransformerCurvature.md.

    python3 Tutorials/TransformerCurvatureTutorial/export_gpt.py            # writes Tutorials/TransformerCurvatureTutorial/gpt/
    python3 Tutorials/TransformerCurvatureTutorial/export_gpt.py OUT_DIR    # writes OUT_DIR/ instead

The model is `curvature_export.examples.NanoGPT` (token and position embeddings, causal
`F.scaled_dot_product_attention`, GELU-tanh MLPs, residuals, final LayerNorm, head tied to
the token embedding): vocabulary 10, context 8, width 8, 2 heads, 1 block, P = 752.
It is trained (Adam, float64, one thread, fixed seeds) to continue repeating patterns
`a b a b …` of two random tokens — the next token is the one two positions back, which
takes attention; only the first target, `b`, cannot be predicted, so the best possible loss
is ln(10)/8 = 0.288 — and exported with the 32 sequences the curvature is computed on:

    gpt/model.json, gpt/weights.safetensors, gpt/reference.npz   (curvature_export.export)
    gpt/tokens.npy   int64 [32, 8]   the input sequences
    gpt/targets.npy  int64 [32, 8]   the next tokens (per-token cross-entropy, mean)

The tutorial reads the committed files, so CI needs no Python; this script is how they
were made. Needs torch, numpy, safetensors and the exporter (`pip install ./python`).
"""
import pathlib
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
import curvature_export  # noqa: E402
from curvature_export.examples import NanoGPT  # noqa: E402

VOCAB, CONTEXT, WIDTH, HEADS, BLOCKS = 10, 8, 8, 2, 1
SEQUENCES, STEPS = 32, 1000


def patterns(count, generator):
    """`count` sequences `a b a b …` of CONTEXT + 1 tokens, a and b uniform: (inputs, next tokens)."""
    pair = torch.randint(0, VOCAB, (count, 2), generator=generator)
    tokens = pair[:, torch.arange(CONTEXT + 1) % 2]
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent / "gpt"
    torch.set_num_threads(1)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = NanoGPT(vocab=VOCAB, block_size=CONTEXT, n_embd=WIDTH, n_head=HEADS, n_layer=BLOCKS).double()
    tokens, targets = patterns(SEQUENCES, generator)
    loss = nn.CrossEntropyLoss()

    # Fresh sequences every step; the curvature is computed on the fixed batch `tokens`.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(STEPS):
        x, y = patterns(64, generator)
        optimizer.zero_grad()
        value = loss(model(x), y)
        value.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        final = loss(model(tokens), targets).item()

    # The two lines of the tutorial: the model, its example inputs, a directory, the loss.
    curvature_export.export(model, (tokens,), out, loss, targets=targets)
    np.save(out / "tokens.npy", tokens.numpy())
    np.save(out / "targets.npy", targets.numpy())

    P = sum(p.numel() for p in model.parameters())
    print(f"GPT: P = {P}, {STEPS} Adam steps, loss on the {SEQUENCES} sequences {final:.4f}; written to {out}")


if __name__ == "__main__":
    main()
