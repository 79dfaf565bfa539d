"""A pure-PyTorch reference interpreter of `model.json` format 2 (docs/ModelFormat.md).

It reads `model.json` and `weights.safetensors`, runs the graph with PyTorch ops in
float64 and computes the loss, so a translation can be checked against the original
module without the Swift library. Every value is carried as float64 (integer and boolean
inputs and buffers as exact numbers, as the format says); `embedding` indices and boolean
masks are converted back where an op needs them.

    from curvature_export.interpret import GraphInterpreter
    graph = GraphInterpreter.load("out")           # model.json + weights.safetensors
    output = graph.forward(*inputs)                 # float64
    loss, gradient = graph.loss_and_gradient(inputs, targets)
"""
from __future__ import annotations

import json
import math
import pathlib

import torch
import torch.nn.functional as F

__all__ = ["GraphInterpreter", "OPS", "number", "evaluate_loss"]


def number(value):
    """A JSON attribute number: the strings "-inf", "inf" and "nan" become floats."""
    if isinstance(value, str):
        return float(value)
    return value


def _bool_mask(mask):
    return mask != 0


def _sdpa(inputs, a):
    q, k, v = inputs[:3]
    mask = inputs[3] if len(inputs) > 3 else None
    scale = a.get("scale")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else number(scale)
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if a.get("is_causal", False):
        L, S = q.shape[-2], k.shape[-2]
        allowed = torch.ones(L, S, dtype=torch.bool, device=q.device).tril(diagonal=0)
        scores = scores.masked_fill(~allowed, float("-inf"))
    if mask is not None:
        if a.get("mask_kind", "bool") == "bool":
            scores = scores.masked_fill(~_bool_mask(mask), float("-inf"))
        else:
            scores = scores + mask
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _opt(inputs, i):
    return inputs[i] if len(inputs) > i else None


def _slice(x, a):
    index = [slice(None)] * x.dim()
    index[a["dim"]] = slice(a.get("start"), a.get("end"), a.get("step", 1))
    return x[tuple(index)]


OPS = {
    "linear": lambda i, a: F.linear(i[0], i[1], _opt(i, 2)),
    "conv1d": lambda i, a: F.conv1d(i[0], i[1], _opt(i, 2), a.get("stride", 1), a.get("padding", 0),
                                    a.get("dilation", 1), a.get("groups", 1)),
    "conv2d": lambda i, a: F.conv2d(i[0], i[1], _opt(i, 2), a.get("stride", 1), a.get("padding", 0),
                                    a.get("dilation", 1), a.get("groups", 1)),
    "embedding": lambda i, a: F.embedding(i[0].long(), i[1], a.get("padding_idx")),
    "layer_norm": lambda i, a: F.layer_norm(i[0], a["normalized_shape"], _opt(i, 1), _opt(i, 2),
                                            a.get("eps", 1e-5)),
    "rms_norm": lambda i, a: F.rms_norm(i[0], a["normalized_shape"], _opt(i, 1), a.get("eps")),
    "batch_norm": lambda i, a: F.batch_norm(i[0], i[1], i[2], _opt(i, 3), _opt(i, 4), False, 0.0,
                                            a.get("eps", 1e-5)),
    "max_pool1d": lambda i, a: F.max_pool1d(i[0], a["kernel_size"], a.get("stride"), a.get("padding", 0),
                                            a.get("dilation", 1), a.get("ceil_mode", False)),
    "max_pool2d": lambda i, a: F.max_pool2d(i[0], a["kernel_size"], a.get("stride"), a.get("padding", 0),
                                            a.get("dilation", 1), a.get("ceil_mode", False)),
    "avg_pool1d": lambda i, a: F.avg_pool1d(i[0], a["kernel_size"], a.get("stride"), a.get("padding", 0),
                                            a.get("ceil_mode", False), a.get("count_include_pad", True)),
    "avg_pool2d": lambda i, a: F.avg_pool2d(i[0], a["kernel_size"], a.get("stride"), a.get("padding", 0),
                                            a.get("ceil_mode", False), a.get("count_include_pad", True),
                                            a.get("divisor_override")),
    "adaptive_avg_pool1d": lambda i, a: F.adaptive_avg_pool1d(i[0], a["output_size"]),
    "adaptive_avg_pool2d": lambda i, a: F.adaptive_avg_pool2d(i[0], a["output_size"]),
    "add": lambda i, a: i[0] + i[1],
    "sub": lambda i, a: i[0] - i[1],
    "mul": lambda i, a: i[0] * i[1],
    "div": lambda i, a: i[0] / i[1],
    "add_scalar": lambda i, a: i[0] + number(a["value"]),
    "sub_scalar": lambda i, a: i[0] - number(a["value"]),
    "rsub_scalar": lambda i, a: number(a["value"]) - i[0],
    "mul_scalar": lambda i, a: i[0] * number(a["value"]),
    "div_scalar": lambda i, a: i[0] / number(a["value"]),
    "rdiv_scalar": lambda i, a: number(a["value"]) / i[0],
    "pow_scalar": lambda i, a: i[0] ** number(a["value"]),
    "neg": lambda i, a: -i[0],
    "exp": lambda i, a: torch.exp(i[0]),
    "log": lambda i, a: torch.log(i[0]),
    "sqrt": lambda i, a: torch.sqrt(i[0]),
    "rsqrt": lambda i, a: torch.rsqrt(i[0]),
    "matmul": lambda i, a: torch.matmul(i[0], i[1]),
    "concat": lambda i, a: torch.cat(list(i), dim=a["dim"]),
    "slice": lambda i, a: _slice(i[0], a),
    "select": lambda i, a: i[0].select(a["dim"], a["index"]),
    "reshape": lambda i, a: i[0].reshape([-1 if s == -1 else s for s in a["shape"]]),
    "permute": lambda i, a: i[0].permute(a["dims"]),
    "expand": lambda i, a: i[0].expand(a["shape"]),
    "mean": lambda i, a: torch.mean(i[0], dim=a["dim"], keepdim=a.get("keepdim", False)),
    "sum": lambda i, a: torch.sum(i[0], dim=a["dim"], keepdim=a.get("keepdim", False)),
    "softmax": lambda i, a: torch.softmax(i[0], dim=a["dim"]),
    "log_softmax": lambda i, a: torch.log_softmax(i[0], dim=a["dim"]),
    "masked_fill": lambda i, a: i[0].masked_fill(_bool_mask(i[1]), number(a["value"])),
    "scaled_dot_product_attention": _sdpa,
    "relu": lambda i, a: torch.relu(i[0]),
    "tanh": lambda i, a: torch.tanh(i[0]),
    "sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "silu": lambda i, a: F.silu(i[0]),
    "gelu": lambda i, a: F.gelu(i[0], approximate=a.get("approximate", "none")),
    "softplus": lambda i, a: F.softplus(i[0], a.get("beta", 1.0), a.get("threshold", 20.0)),
    "elu": lambda i, a: F.elu(i[0], a.get("alpha", 1.0)),
    "leaky_relu": lambda i, a: F.leaky_relu(i[0], a.get("negative_slope", 0.01)),
    "identity": lambda i, a: i[0],
}


def evaluate_loss(loss: dict, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss of `model.json`'s `loss` object, as PyTorch computes it."""
    kind, reduction = loss["type"], loss.get("reduction", "mean")
    if kind == "cross_entropy":
        return F.cross_entropy(output, targets.long(), ignore_index=loss.get("ignore_index", -100),
                               label_smoothing=loss.get("label_smoothing", 0.0), reduction=reduction)
    if kind == "mse":
        return F.mse_loss(output, targets.to(output.dtype), reduction=reduction)
    if kind == "bce_with_logits":
        return F.binary_cross_entropy_with_logits(output, targets.to(output.dtype), reduction=reduction)
    raise ValueError(f"unknown loss type {kind!r}")


class GraphInterpreter:
    """Runs a format-2 graph with PyTorch ops (float64)."""

    def __init__(self, model: dict, weights: dict[str, torch.Tensor]):
        if model.get("format") != 2:
            raise ValueError("not a format-2 model")
        self.model = model
        self.parameters = [weights[p["name"]].to(torch.float64).clone() for p in model["parameters"]]
        self.buffers = {b["name"]: weights[b["name"]].to(torch.float64) for b in model.get("buffers", [])}
        for entry, tensor in zip(model["parameters"], self.parameters):
            if list(tensor.shape) != entry["shape"]:
                raise ValueError(f"parameter {entry['name']}: shape {list(tensor.shape)} != {entry['shape']}")

    @classmethod
    def load(cls, directory) -> "GraphInterpreter":
        from safetensors.torch import load_file

        directory = pathlib.Path(directory)
        model = json.loads((directory / "model.json").read_text())
        return cls(model, load_file(str(directory / "weights.safetensors")))

    def forward(self, *inputs, parameters=None):
        """The graph output for `inputs` (the graph inputs in order), float64."""
        parameters = self.parameters if parameters is None else parameters
        graph_inputs = self.model["inputs"]
        if len(inputs) != len(graph_inputs):
            raise ValueError(f"{len(graph_inputs)} inputs expected, got {len(inputs)}")
        env = {}
        for entry, x in zip(graph_inputs, inputs):
            env[entry["name"]] = torch.as_tensor(x).to(torch.float64)
        for entry, p in zip(self.model["parameters"], parameters):
            env[entry["name"]] = p
        env.update(self.buffers)
        for node in self.model["nodes"]:
            args = [env[name] for name in node["inputs"]]
            value = OPS[node["op"]](args, node.get("attributes", {}))
            declared = node["shape"]
            observed = list(value.shape)
            if len(declared) != len(observed) or any(d not in (-1, o) for d, o in zip(declared, observed)):
                raise ValueError(f"node {node['name']}: shape {observed} does not match {declared}")
            env[node["name"]] = value
        return env[self.model["output"]]

    __call__ = forward

    def loss_and_gradient(self, inputs, targets):
        """(loss, flat gradient in `parameters` order), both float64."""
        parameters = [p.detach().clone().requires_grad_(True) for p in self.parameters]
        output = self.forward(*inputs, parameters=parameters)
        loss = evaluate_loss(self.model["loss"], output, torch.as_tensor(targets))
        grads = torch.autograd.grad(loss, parameters, allow_unused=True)
        flat = [torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1) for p, g in zip(parameters, grads)]
        return loss.detach(), (torch.cat(flat) if flat else torch.zeros(0, dtype=torch.float64))
