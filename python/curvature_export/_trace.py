"""Tracing with torch.fx: the tracer (which modules stay whole), names of ops and module
paths for error messages, and the canonical names of the functions and methods."""
from __future__ import annotations

import inspect
import operator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ._errors import UnsupportedModelError

LEAF_TYPES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding, nn.LayerNorm, nn.RMSNorm, nn.BatchNorm1d,
    nn.BatchNorm2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity, nn.Flatten, nn.Unflatten, nn.ReLU, nn.Tanh,
    nn.Sigmoid, nn.SiLU, nn.GELU, nn.Softplus, nn.ELU, nn.LeakyReLU, nn.Softmax, nn.LogSoftmax,
    nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
)


class _Tracer(fx.Tracer):
    def __init__(self):
        super().__init__()
        self.stack = []
        self.proxy_buffer_attributes = True  # buffers become get_attr nodes (constants)

    def is_leaf_module(self, m, qualname):
        if isinstance(m, LEAF_TYPES):
            return True
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        # Other torch.nn modules (LSTM, ...) stay whole so that the error can name them.
        return type(m).__module__.startswith("torch.nn")

    def call_module(self, m, forward, args, kwargs):
        self.stack.append(self.path_of_module(m))
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as error:
            if not hasattr(error, "_curvature_path"):
                error._curvature_path = self.stack[-1]
            raise
        finally:
            self.stack.pop()


def _node_path(node):
    if node.op == "call_module":
        return node.target
    stack = node.meta.get("nn_module_stack")
    if stack:
        return list(stack.values())[-1][0]
    return ""


def _op_name(node):
    if node.op == "call_module":
        return node.target
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    if module.startswith("torch") or getattr(torch, name, None) is target:
        return f"torch.{name}"
    return name


SHAPE_METHODS = {"size", "dim", "numel", "ndimension", "is_floating_point", "nelement", "get_device"}
SHAPE_ATTRS = {"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad"}
RESHAPE_LIKE = {"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "expand",
                "expand_as", "view_as", "reshape_as"}


def _functions():
    table = {
        operator.add: "add", operator.iadd: "add", torch.add: "add",
        operator.sub: "sub", operator.isub: "sub", torch.sub: "sub", torch.subtract: "sub",
        operator.mul: "mul", operator.imul: "mul", torch.mul: "mul", torch.multiply: "mul",
        operator.truediv: "div", operator.itruediv: "div", torch.div: "div", torch.true_divide: "div",
        operator.pow: "pow", torch.pow: "pow", operator.neg: "neg", torch.neg: "neg", torch.exp: "exp",
        torch.log: "log", torch.sqrt: "sqrt", torch.rsqrt: "rsqrt",
        operator.matmul: "matmul", torch.matmul: "matmul", torch.bmm: "matmul", torch.mm: "matmul",
        torch.cat: "cat", torch.concat: "cat", torch.concatenate: "cat", operator.getitem: "getitem",
        torch.reshape: "reshape", torch.flatten: "flatten", torch.squeeze: "squeeze",
        torch.unsqueeze: "unsqueeze", torch.permute: "permute", torch.transpose: "transpose",
        torch.swapaxes: "transpose", torch.t: "t", torch.mean: "mean", torch.sum: "sum",
        torch.softmax: "softmax", F.softmax: "softmax", torch.log_softmax: "log_softmax",
        F.log_softmax: "log_softmax", torch.masked_fill: "masked_fill",
        F.scaled_dot_product_attention: "sdpa", F.relu: "relu", torch.relu: "relu", F.gelu: "gelu",
        torch.tanh: "tanh", F.tanh: "tanh", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
        F.silu: "silu", F.softplus: "softplus", F.elu: "elu", F.leaky_relu: "leaky_relu",
        F.dropout: "dropout", F.linear: "linear", F.conv1d: "conv1d", F.conv2d: "conv2d",
        F.embedding: "embedding", F.layer_norm: "layer_norm", F.rms_norm: "rms_norm",
        F.batch_norm: "batch_norm", F.max_pool1d: "max_pool1d", F.max_pool2d: "max_pool2d",
        F.avg_pool1d: "avg_pool1d", F.avg_pool2d: "avg_pool2d",
        F.adaptive_avg_pool1d: "adaptive_avg_pool1d", F.adaptive_avg_pool2d: "adaptive_avg_pool2d",
        torch.split: "split", torch.chunk: "chunk", torch.clone: "clone",
    }
    return {id(k): v for k, v in table.items()}


FUNCTIONS = _functions()
METHODS = {
    "add": "add", "sub": "sub", "mul": "mul", "div": "div", "truediv": "div", "pow": "pow", "neg": "neg",
    "exp": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "matmul": "matmul", "bmm": "matmul",
    "mm": "matmul", "view": "view", "reshape": "reshape", "flatten": "flatten", "unflatten": "unflatten",
    "squeeze": "squeeze", "unsqueeze": "unsqueeze", "view_as": "view_as", "reshape_as": "reshape_as",
    "expand": "expand", "expand_as": "expand_as", "permute": "permute", "transpose": "transpose",
    "swapaxes": "transpose", "t": "t", "contiguous": "contiguous", "clone": "clone", "mean": "mean",
    "sum": "sum", "softmax": "softmax", "log_softmax": "log_softmax", "masked_fill": "masked_fill",
    "relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "split": "split", "chunk": "chunk",
    "float": "to", "double": "to", "to": "to", "type_as": "to", "long": "to", "int": "to", "bool": "to",
    "type": "to",
}


def _key(node):
    if node.op == "call_function":
        if node.target is getattr and node.args[1] in ("T", "mT"):
            return node.args[1]
        return FUNCTIONS.get(id(node.target))
    name = node.target
    if name.endswith("_") and not name.endswith("__") and name[:-1] in METHODS:
        name = name[:-1]  # in-place variants compute the same values
    return METHODS.get(name)


def _is_shape_query(node):
    if node.op == "call_method":
        return node.target in SHAPE_METHODS
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in SHAPE_ATTRS
    return False


def trace(model: nn.Module, n_inputs: int):
    """The fx graph of `model`'s forward, the parameters after the first `n_inputs` fixed to
    their defaults."""
    signature = inspect.signature(model.forward)
    params = list(signature.parameters.values())
    concrete = {}
    for p in params[n_inputs:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise UnsupportedModelError("", "forward", f"argument {p.name!r} has no example input")
        concrete[p.name] = p.default
    tracer = _Tracer()
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except UnsupportedModelError:
        raise
    except Exception as error:
        path = getattr(error, "_curvature_path", "")
        raise UnsupportedModelError(path, "torch.fx trace", f"{type(error).__name__}: {error}") from None
    return fx.GraphModule(tracer.root, graph)
