"""Export PyTorch modules to Curvature's graph model format (docs/ModelFormat.md, format 2).

    import curvature_export
    curvature_export.export(model, example_inputs, "out", nn.CrossEntropyLoss())

writes `out/model.json`, `out/weights.safetensors` and `out/reference.npz`.
"""
from __future__ import annotations

import copy
import json
import os
import pathlib
import tempfile

import numpy as np
import torch
import torch.nn as nn

from ._errors import BatchAxisError, UnsupportedModelError
from ._translate import translate
from .interpret import GraphInterpreter, evaluate_loss

__all__ = ["export", "UnsupportedModelError", "BatchAxisError", "loss_spec", "GraphInterpreter"]
__version__ = "0.1.0"

_LOSS_NAMES = {"cross_entropy", "mse", "bce_with_logits"}


def loss_spec(loss) -> dict:
    """The `loss` object of model.json for a torch loss module, a name ("cross_entropy",
    "mse", "bce_with_logits"; reduction mean) or such a dict."""
    if isinstance(loss, dict):
        spec = dict(loss)
    elif isinstance(loss, str):
        spec = {"type": loss, "reduction": "mean"}
    elif isinstance(loss, nn.CrossEntropyLoss):
        if loss.weight is not None:
            raise UnsupportedModelError("", "nn.CrossEntropyLoss", "class weights are not supported")
        spec = {"type": "cross_entropy", "reduction": loss.reduction, "ignore_index": int(loss.ignore_index),
                "label_smoothing": float(loss.label_smoothing)}
    elif isinstance(loss, nn.MSELoss):
        spec = {"type": "mse", "reduction": loss.reduction}
    elif isinstance(loss, nn.BCEWithLogitsLoss):
        if loss.weight is not None or loss.pos_weight is not None:
            raise UnsupportedModelError("", "nn.BCEWithLogitsLoss", "weight and pos_weight are not supported")
        spec = {"type": "bce_with_logits", "reduction": loss.reduction}
    else:
        raise UnsupportedModelError("", type(loss).__name__, "the loss must be nn.CrossEntropyLoss, nn.MSELoss, "
                                    "nn.BCEWithLogitsLoss or one of " + ", ".join(sorted(_LOSS_NAMES)))
    if spec.get("type") not in _LOSS_NAMES:
        raise UnsupportedModelError("", str(spec.get("type")), "unknown loss")
    spec.setdefault("reduction", "mean")
    if spec["reduction"] not in ("mean", "sum"):
        raise UnsupportedModelError("", spec["type"], f"reduction {spec['reduction']!r} (mean or sum)")
    if spec["type"] == "cross_entropy":
        spec.setdefault("ignore_index", -100)
        spec.setdefault("label_smoothing", 0.0)
    return spec


def make_targets(spec: dict, output: torch.Tensor, seed: int) -> torch.Tensor:
    """Deterministic targets for `output` (float64 unless class indices)."""
    generator = torch.Generator().manual_seed(seed)
    if spec["type"] == "cross_entropy":
        if output.dim() < 2:
            raise UnsupportedModelError("", "cross_entropy", "outputs must be [N, C] or [N, C, d1, ...]")
        shape = (output.shape[0],) + tuple(output.shape[2:])
        return torch.randint(0, output.shape[1], shape, generator=generator)
    if spec["type"] == "mse":
        return torch.randn(output.shape, generator=generator, dtype=torch.float64)
    return torch.rand(output.shape, generator=generator, dtype=torch.float64)


def export(model: nn.Module, example_inputs, directory, loss, targets=None, seed: int = 0):
    """Writes `model` as a format-2 graph into `directory`.

    - Parameters:
      - model: the module; exported in eval mode (the module itself is not changed).
      - example_inputs: a tensor or a tuple of tensors, the forward's arguments, batch axis first.
      - directory: created if needed; receives model.json, weights.safetensors, reference.npz.
      - loss: nn.CrossEntropyLoss / nn.MSELoss / nn.BCEWithLogitsLoss, or "cross_entropy",
        "mse", "bce_with_logits".
      - targets: the targets of reference.npz; generated from `seed` when None.
    - Returns: the model.json dictionary.
    - Throws: `UnsupportedModelError` (`BatchAxisError` for batch-axis violations) naming the
      module path and op; nothing is written then.
    """
    spec = loss_spec(loss)
    inputs = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    if not inputs or not all(torch.is_tensor(x) for x in inputs):
        raise UnsupportedModelError("", "example_inputs", "must be a tensor or a tuple of tensors")
    n = inputs[0].shape[0] if inputs[0].dim() > 0 else 0
    if n < 1 or any(x.dim() == 0 or x.shape[0] != n for x in inputs):
        raise BatchAxisError("", "example_inputs", "every input needs the batch axis first, with the same size >= 1")

    model64 = _copy(model).to(torch.float64).eval()
    inputs64 = [x.detach().to(torch.float64) if x.is_floating_point() else x.detach() for x in inputs]
    inputs2 = [torch.cat([x, x[:1]]) for x in inputs64]
    (graph, buffers), traced_output = translate(model64, inputs64, inputs2)
    graph["loss"] = spec

    # PyTorch's reference results, float64.
    named = list(model64.named_parameters())
    output = model64(*inputs64)
    if not torch.is_tensor(output):
        raise UnsupportedModelError("", "forward", "the forward must return one tensor")
    if targets is None:
        targets = make_targets(spec, output.detach(), seed)
    targets = torch.as_tensor(targets)
    targets = targets.long() if spec["type"] == "cross_entropy" else targets.to(torch.float64)
    loss_value = evaluate_loss(spec, output, targets)
    grads = torch.autograd.grad(loss_value, [p for _, p in named], allow_unused=True)
    gradient = torch.cat([torch.zeros(p.numel(), dtype=torch.float64) if g is None else g.reshape(-1)
                          for (_, p), g in zip(named, grads)]) if named else torch.zeros(0, dtype=torch.float64)

    weights = {name: p.detach().clone().contiguous() for name, p in model.named_parameters()}
    weights.update({name: b.clone().contiguous() for name, b in buffers.items()})

    # The written graph must reproduce PyTorch (a failure is an exporter bug).
    interpreter = GraphInterpreter(graph, {k: v for k, v in weights.items()})
    replay = interpreter.forward(*inputs64)
    tol = (1e-8, 1e-10) if output.dtype == torch.float64 else (1e-4, 1e-5)
    if replay.shape != output.shape or not torch.allclose(replay, output.detach().double(), rtol=tol[0], atol=tol[1]):
        raise AssertionError("exporter bug: the written graph does not reproduce the module's output")

    reference = {f"input_{i}": x.numpy() if x.is_floating_point() or x.dtype == torch.bool
                 else x.to(torch.int64).numpy() for i, x in enumerate(inputs64)}
    reference.update(targets=targets.numpy(), output=output.detach().to(torch.float64).numpy(),
                     loss=np.asarray(loss_value.item(), dtype=np.float64),
                     gradient=gradient.detach().to(torch.float64).numpy())
    _write(pathlib.Path(directory), graph, weights, reference)
    return graph


def _copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model`. Undoes what some `__setstate__` methods add: e.g.
    nn.TransformerDecoderLayer's sets an instance attribute `activation = F.relu` that
    would shadow an activation submodule (nn.GELU) in the copy."""
    clone = copy.deepcopy(model)
    for module in clone.modules():
        for name in list(module._modules):
            if name in module.__dict__:
                del module.__dict__[name]
    return clone


def _write(directory: pathlib.Path, graph, weights, reference):
    """Writes the three files, each atomically, after everything was computed."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    staged = []
    try:
        for filename in ("model.json", "weights.safetensors", "reference.npz"):
            fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", dir=directory)
            os.close(fd)
            staged.append((tmp, directory / filename))
            if filename == "model.json":
                pathlib.Path(tmp).write_text(json.dumps(graph, indent=1, allow_nan=False) + "\n")
            elif filename == "weights.safetensors":
                save_file(weights, tmp)
            else:
                with open(tmp, "wb") as f:
                    np.savez(f, **reference)
        for tmp, final in staged:
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates files readable by the owner only
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)
