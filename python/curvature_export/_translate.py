"""Translation of a traced `nn.Module` into a format-2 graph (docs/ModelFormat.md).

The module (a float64 copy in eval mode) is traced with torch.fx and run twice, on the
example inputs (batch N) and on them with their first data point appended (batch N + 1).
Every fx node is translated while it runs: each emitted graph node is evaluated with the
reference interpreter's op on both runs, so that

* its shape (batch axis first, written -1) is known, including nodes inside expanded
  modules such as `nn.MultiheadAttention`;
* the batch-axis rule is checked: a batched value has the batch size on axis 0 in both runs
  and equal sizes elsewhere; constants have the same shape and value in both runs; numbers
  taken from shapes are used as attributes only when they do not depend on the batch size;
* the translation of every fx node reproduces the value PyTorch computed (a mismatch is a
  bug of the exporter and raises `AssertionError`).
"""
from __future__ import annotations

import inspect
import math
import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ._errors import BatchAxisError, UnsupportedModelError
from .interpret import OPS, number

BATCHED, PARAM, CONST = "batched", "param", "const"

LEAF_TYPES = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding, nn.LayerNorm, nn.RMSNorm, nn.BatchNorm1d,
    nn.BatchNorm2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity, nn.Flatten, nn.Unflatten, nn.ReLU, nn.Tanh,
    nn.Sigmoid, nn.SiLU, nn.GELU, nn.Softplus, nn.ELU, nn.LeakyReLU, nn.Softmax, nn.LogSoftmax,
    nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
    nn.TransformerEncoder,
)


@dataclass
class Sym:
    """A translated tensor: the graph value `name`. `seq_first`: PyTorch's tensor is the
    emitted one with axes 0 and 1 swapped (a `batch_first=False` transformer layout)."""
    name: str
    seq_first: bool = False


@dataclass
class Unavailable:
    """A result the graph cannot provide (an error when used)."""
    what: str


@dataclass
class Const:
    """A tensor computed from neither inputs nor parameters (folded on use)."""
    v1: torch.Tensor
    v2: torch.Tensor
    buffer: str | None  # the state_dict name when it is a module buffer as is
    hint: str


def _is_float(t):
    return torch.is_tensor(t) and t.is_floating_point()


def _flat_tensors(value):
    out = []
    fx.node.map_aggregate(value, lambda v: out.append(v) if torch.is_tensor(v) else None)
    return out


def _flat_numbers(value):
    out = []
    fx.node.map_aggregate(value, lambda v: None if torch.is_tensor(v) else out.append(v))
    return out


def _same(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        return bool(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True))
    return bool(torch.equal(a, b))


def _json_number(value):
    value = float(value) if isinstance(value, float) else value
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _ints(value, n=None):
    if isinstance(value, (tuple, list, torch.Size)):
        return [int(v) for v in value]
    return [int(value)] * n if n else int(value)


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


class Translator:
    def __init__(self, model: nn.Module, inputs1, inputs2):
        self.model = model
        self.inputs1, self.inputs2 = inputs1, inputs2
        self.N1, self.N2 = inputs1[0].shape[0], inputs2[0].shape[0]
        self.values = {}  # name -> (v1, v2, kind)
        self.nodes = []
        self.names = set()
        self.graph_inputs = []
        self.buffers = {}  # name -> tensor to store (in order of first use)
        self.path = ""
        self.opname = ""
        self.param_names = {}
        for name, p in model.named_parameters():
            self.param_names[id(p)] = name
            self.names.add(name)
            self.values[name] = (p.detach(), p.detach(), PARAM)
        self.buffer_names = {}
        for name, b in model.named_buffers():
            self.buffer_names.setdefault(id(b), name)
            self.names.add(name)

        self.dtypes = {}

    # ---- errors -------------------------------------------------------------------------
    def unsupported(self, reason, op=None):
        return UnsupportedModelError(self.path, op or self.opname, reason)

    def batch_error(self, reason, op=None):
        return BatchAxisError(self.path, op or self.opname, reason)

    # ---- names and values ---------------------------------------------------------------
    def fresh(self, hint):
        hint = hint or "node"
        name, k = hint, 1
        while name in self.names:
            name = f"{hint}_{k}"
            k += 1
        self.names.add(name)
        return name

    def kind(self, name):
        return self.values[name][2]

    def plain(self, sym):
        """The graph value of a translated tensor (materializing constants)."""
        if isinstance(sym, Const):
            return self.materialize(sym)
        if isinstance(sym, Unavailable):
            raise self.unsupported(f"uses {sym.what}")
        if isinstance(sym, Sym):
            if sym.seq_first:
                raise self.batch_error("this op gets a tensor whose batch axis is axis 1 "
                                       "(batch_first=False layout); only transformer layers "
                                       "and elementwise ops accept it")
            return sym.name
        raise self.unsupported(f"expected a tensor, got {type(sym).__name__}")

    def materialize(self, const: Const):
        if const.buffer is not None and const.buffer in self.buffers:
            return const.buffer
        if const.buffer is not None and const.buffer not in self.values:
            name = const.buffer
        else:
            name = self.fresh(f"_constant.{const.hint}")
            const.buffer = name
        value = const.v1
        if value.is_floating_point():
            stored = value.to(torch.float64)
        elif value.dtype == torch.bool:
            stored = value
        else:
            stored = value.to(torch.int64)
        self.buffers[name] = stored.contiguous()
        self.values[name] = (value.to(torch.float64), value.to(torch.float64), CONST)
        return name

    def emit(self, op, inputs, attributes=None, hint=None):
        """Appends a graph node, evaluates it on both runs and checks the batch axis."""
        attributes = {k: _json_number(v) if isinstance(v, float) else v
                      for k, v in (attributes or {}).items()}
        inputs = [self.plain(i) if not isinstance(i, str) else i for i in inputs]
        kinds = [self.kind(i) for i in inputs]
        kind = BATCHED if BATCHED in kinds else (PARAM if PARAM in kinds else CONST)
        args1 = [self.values[i][0] for i in inputs]
        args2 = [self.values[i][1] for i in inputs]
        try:
            v1 = OPS[op](args1, attributes)
            v2 = OPS[op](args2, attributes) if kind == BATCHED else v1
        except Exception as error:
            raise self.batch_error(f"{op} fails at batch size {self.N2} ({error})") if kind == BATCHED \
                else self.unsupported(f"{op}: {error}")
        v1, v2 = v1.to(torch.float64), v2.to(torch.float64)
        name = self.fresh(hint)
        if kind == BATCHED:
            self.check_batched(v1, v2, op, inputs, attributes)
            shape = [-1] + list(v1.shape[1:])
        else:
            shape = list(v1.shape)
        self.values[name] = (v1, v2, kind)
        if op in ("reshape", "permute", "slice", "select", "expand", "identity", "concat"):
            # integer and boolean values keep their meaning through shape ops
            dtype = self.dtypes.get(inputs[0], torch.float64)
            if all(self.dtypes.get(i, torch.float64) == dtype for i in inputs):
                self.dtypes[name] = dtype
        self.nodes.append({"name": name, "op": op, "inputs": inputs, "attributes": attributes,
                           "shape": shape})
        return name

    def check_batched(self, v1, v2, op, inputs, attributes):
        if v1.dim() == 0 or v1.shape[0] != self.N1 or v2.shape[0] != self.N2 or v1.shape[1:] != v2.shape[1:]:
            raise self.batch_error(f"{op} gives shape {list(v1.shape)} at batch size {self.N1} and "
                                   f"{list(v2.shape)} at batch size {self.N2}: the batch axis must "
                                   "stay axis 0 with all other sizes fixed")
        first = self.values[inputs[0]]
        axes = []
        if op in ("mean", "sum"):
            axes = attributes["dim"]
        elif op in ("slice", "select", "softmax", "log_softmax", "concat"):
            axes = [attributes["dim"]]
        if first[2] == BATCHED:
            nd = first[0].dim()
            if any(a % nd == 0 for a in axes):
                raise self.batch_error(f"{op} acts on axis 0, the batch axis")
            if op == "permute" and attributes["dims"][0] % nd != 0:
                raise self.batch_error("permute moves the batch axis")
        if op == "matmul":
            a, b = (self.values[i] for i in inputs)
            if (a[2] == BATCHED and a[0].dim() < 2) or (b[2] == BATCHED and b[0].dim() < 3):
                raise self.batch_error("matmul contracts over the batch axis")
        if op in ("add", "sub", "mul", "div", "matmul", "masked_fill", "concat",
                  "scaled_dot_product_attention"):
            for i in inputs:
                v, _, k = self.values[i]
                if k == BATCHED and v.dim() != v1.dim():
                    raise self.batch_error(f"{op} broadcasts a batched operand of rank {v.dim()} "
                                           f"to rank {v1.dim()}, off the batch axis")
                if k != BATCHED and op == "concat":
                    raise self.batch_error("concat of a batched and a constant tensor")

    # ---- checks on fx values ------------------------------------------------------------
    def value_of(self, sym):
        if isinstance(sym, Const):
            return sym.v1
        v = self.values[sym.name][0]
        return v.transpose(0, 1) if sym.seq_first else v

    def value_of2(self, sym):
        if isinstance(sym, Const):
            return sym.v2
        v = self.values[sym.name][1]
        return v.transpose(0, 1) if sym.seq_first else v

    def verify(self, node, result, expected, expected2):
        """The translation reproduces PyTorch's value of the fx node, at both batch sizes
        (at the second one a mismatch means a batch-size dependent attribute)."""
        if isinstance(result, (Sym, Const)) and torch.is_tensor(expected):
            for got, want, second in ((self.value_of(result), expected, False),
                                      (self.value_of2(result), expected2, True)):
                # a cast in the model (x.float()) computes in lower precision than float64
                tol = 1e-9 if want.dtype == torch.float64 or not want.is_floating_point() else 1e-4
                want = want.detach().to(torch.float64)
                if got.shape == want.shape and torch.allclose(got, want, rtol=tol, atol=tol, equal_nan=True):
                    continue
                if second:
                    raise self.batch_error(f"the translation depends on the batch size (shape {list(got.shape)} "
                                           f"instead of {list(want.shape)} at batch size {self.N2})")
                raise AssertionError(f"exporter bug: node {node.name} ({_op_name(node)}) in "
                                     f"'{self.path}' translates to a different value "
                                     f"(shape {list(got.shape)} vs {list(want.shape)})")

    # ---- seq-first aware helpers ----------------------------------------------------------
    def lift(self, x):
        """(graph name, seq_first) of a tensor argument."""
        if isinstance(x, Sym):
            return x.name, x.seq_first
        return self.plain(x), False

    def pointwise(self, op, x, attributes=None, hint=None, extra=()):
        """An op acting on trailing axes only: accepts and keeps the seq-first layout."""
        name, seq_first = self.lift(x)
        return Sym(self.emit(op, [name, *extra], attributes, hint), seq_first)

    def binary(self, op, a, b, hint):
        a_tensor, b_tensor = isinstance(a, (Sym, Const)), isinstance(b, (Sym, Const))
        if a_tensor and b_tensor:
            sa = isinstance(a, Sym) and a.seq_first
            sb = isinstance(b, Sym) and b.seq_first
            if sa and sb:
                return Sym(self.emit(op, [a.name, b.name], None, hint), True)
            return Sym(self.emit(op, [self.plain(a), self.plain(b)], None, hint))
        if a_tensor and isinstance(b, (int, float, bool)):
            return self.pointwise(f"{op}_scalar", a, {"value": float(b)}, hint)
        if b_tensor and isinstance(a, (int, float, bool)):
            scalar = {"add": "add_scalar", "sub": "rsub_scalar", "mul": "mul_scalar", "div": "rdiv_scalar"}[op]
            return self.pointwise(scalar, b, {"value": float(a)}, hint)
        raise self.unsupported(f"operands {type(a).__name__} and {type(b).__name__}")

    def param(self, tensor, what):
        if tensor is None:
            return None
        name = self.param_names.get(id(tensor))
        if name is not None:
            return name
        buffer = self.buffer_names.get(id(tensor))
        if buffer is not None:
            return self.materialize(Const(tensor.detach(), tensor.detach(), buffer, buffer))
        raise self.unsupported(f"{what} is neither a parameter nor a buffer of the model")

    def activation(self, fn, x, hint):
        if isinstance(fn, nn.Module):
            return self.module(fn, hint, [x], {}, None)
        if fn is F.relu or fn is torch.relu:
            return self.pointwise("relu", x, None, hint)
        if fn is F.gelu:
            return self.pointwise("gelu", x, {"approximate": "none"}, hint)
        raise self.unsupported(f"activation {fn!r}")

    def layer_norm_module(self, m, x, hint):
        attrs = {"normalized_shape": list(m.normalized_shape), "eps": float(m.eps)}
        extra = [n for n in (self.param(m.weight, "weight"), self.param(getattr(m, "bias", None), "bias")) if n]
        if m.weight is None and getattr(m, "bias", None) is not None:
            raise self.unsupported("LayerNorm with a bias but no weight")
        return self.pointwise("layer_norm", x, attrs, hint, extra)

    def linear_module(self, m, x, hint):
        extra = [n for n in (self.param(m.weight, "weight"), self.param(m.bias, "bias")) if n]
        return self.pointwise("linear", x, None, hint, extra)

    # ---- attention --------------------------------------------------------------------------
    def mha(self, m, qual, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
            average_attn_weights=True, is_causal=False):
        self.path, self.opname = qual, "nn.MultiheadAttention"
        if m.bias_k is not None or m.add_zero_attn:
            raise self.unsupported("add_bias_kv and add_zero_attn are not supported")
        seq_first = not m.batch_first
        names = []
        for x in (query, key, value):
            if seq_first:
                if not (isinstance(x, Sym) and x.seq_first):
                    raise self.batch_error("batch_first=False attention needs inputs shaped [L, N, E] "
                                           "with the batch axis moved there by transpose(0, 1)")
                names.append(x.name)
            else:
                names.append(self.plain(x))
        E, H = m.embed_dim, m.num_heads
        hd = E // H
        if m._qkv_same_embed_dim:
            W = self.param(m.in_proj_weight, "in_proj_weight")
            weights = [self.emit("slice", [W], {"dim": 0, "start": i * E, "end": (i + 1) * E, "step": 1},
                                 f"{qual}.w_{c}") for i, c in enumerate("qkv")]
        else:
            weights = [self.param(w, "projection weight") for w in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)]
        if m.in_proj_bias is not None:
            B = self.param(m.in_proj_bias, "in_proj_bias")
            biases = [[self.emit("slice", [B], {"dim": 0, "start": i * E, "end": (i + 1) * E, "step": 1},
                                 f"{qual}.b_{c}")] for i, c in enumerate("qkv")]
        else:
            biases = [[], [], []]
        heads = []
        for c, x, w, b in zip("qkv", names, weights, biases):
            p = self.emit("linear", [x, w, *b], None, f"{qual}.{c}")
            T = self.values[p][0].shape[1]
            r = self.emit("reshape", [p], {"shape": [-1, T, H, hd]}, f"{qual}.{c}_heads")
            heads.append(self.emit("permute", [r], {"dims": [0, 2, 1, 3]}, f"{qual}.{c}_t"))
        L, S = self.values[names[0]][0].shape[1], self.values[names[1]][0].shape[1]
        mask = None
        if attn_mask is not None:
            if not isinstance(attn_mask, Const):
                raise self.unsupported("attn_mask must be a constant (depending on no input)")
            am = attn_mask.v1
            if am.dim() != 2:
                raise self.batch_error("a 3-d attn_mask [N*num_heads, L, S] mixes the batch axis; use a 2-d mask")
            if am.dtype == torch.bool:
                am = torch.zeros(am.shape, dtype=torch.float64).masked_fill(am, float("-inf"))
            mask = self.materialize(Const(am.to(torch.float64), am.to(torch.float64), None, f"{qual}.attn_mask"))
        elif is_causal:
            raise self.unsupported("is_causal needs attn_mask in nn.MultiheadAttention")
        if key_padding_mask is not None:
            kpm = self.plain(key_padding_mask)
            if self.dtypes.get(kpm, torch.float64) == torch.bool:
                zero = self.emit("mul_scalar", [kpm], {"value": 0.0}, f"{qual}.kpm_zero")
                kpm = self.emit("masked_fill", [zero, kpm], {"value": "-inf"}, f"{qual}.kpm_additive")
            kpm = self.emit("reshape", [kpm], {"shape": [-1, 1, 1, S]}, f"{qual}.kpm")
            mask = kpm if mask is None else self.emit("add", [kpm, mask], None, f"{qual}.mask")
        attrs = {"is_causal": False, "scale": None, "mask_kind": "additive"}
        o = self.emit("scaled_dot_product_attention", heads + ([mask] if mask else []), attrs, f"{qual}.attention")
        o = self.emit("permute", [o], {"dims": [0, 2, 1, 3]}, f"{qual}.merge_t")
        o = self.emit("reshape", [o], {"shape": [-1, L, E]}, f"{qual}.merge")
        o = self.emit("linear", [o, self.param(m.out_proj.weight, "out_proj.weight"),
                                 *([self.param(m.out_proj.bias, "out_proj.bias")] if m.out_proj.bias is not None else [])],
                      None, f"{qual}.out_proj")
        weights_out = Unavailable("the attention weights of nn.MultiheadAttention (pass need_weights=False)") \
            if need_weights else None
        return Sym(o, seq_first), weights_out

    def encoder_layer(self, m, qual, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        def sa(x):
            return self.mha(m.self_attn, f"{qual}.self_attn", x, x, x, key_padding_mask=src_key_padding_mask,
                            attn_mask=src_mask, need_weights=False, is_causal=is_causal)[0]

        def ff(x):
            h = self.linear_module(m.linear1, x, f"{qual}.linear1")
            h = self.activation(m.activation, h, f"{qual}.activation")
            return self.linear_module(m.linear2, h, f"{qual}.linear2")

        return self._residual_blocks(m, qual, src, [sa, ff], [m.norm1, m.norm2])

    def decoder_layer(self, m, qual, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                      memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        def sa(x):
            return self.mha(m.self_attn, f"{qual}.self_attn", x, x, x, key_padding_mask=tgt_key_padding_mask,
                            attn_mask=tgt_mask, need_weights=False, is_causal=tgt_is_causal)[0]

        def ca(x):
            return self.mha(m.multihead_attn, f"{qual}.multihead_attn", x, memory, memory,
                            key_padding_mask=memory_key_padding_mask, attn_mask=memory_mask,
                            need_weights=False, is_causal=memory_is_causal)[0]

        def ff(x):
            h = self.linear_module(m.linear1, x, f"{qual}.linear1")
            h = self.activation(m.activation, h, f"{qual}.activation")
            return self.linear_module(m.linear2, h, f"{qual}.linear2")

        return self._residual_blocks(m, qual, tgt, [sa, ca, ff], [m.norm1, m.norm2, m.norm3])

    def _residual_blocks(self, m, qual, x, blocks, norms):
        for i, (block, norm) in enumerate(zip(blocks, norms)):
            hint = f"{qual}.norm{i + 1}"
            self.path = qual
            if m.norm_first:
                x = self.binary("add", x, block(self.layer_norm_module(norm, x, hint)), f"{qual}.residual{i + 1}")
            else:
                x = self.layer_norm_module(norm, self.binary("add", x, block(x), f"{qual}.residual{i + 1}"), hint)
        return x

    # ---- leaf modules -----------------------------------------------------------------------
    def module(self, m, qual, args, kwargs, out):
        """Translates a call of the leaf module `m` (qualified name `qual`)."""
        self.path, self.opname = qual, f"nn.{type(m).__name__}"
        if isinstance(m, nn.MultiheadAttention):
            return self.mha(m, qual, *args, **kwargs)
        if isinstance(m, nn.TransformerEncoderLayer):
            return self.encoder_layer(m, qual, *args, **kwargs)
        if isinstance(m, nn.TransformerDecoderLayer):
            return self.decoder_layer(m, qual, *args, **kwargs)
        if isinstance(m, nn.TransformerEncoder):
            bound = inspect.signature(nn.TransformerEncoder.forward).bind(None, *args, **kwargs).arguments
            x = bound["src"]
            for i, layer in enumerate(m.layers):
                x = self.encoder_layer(layer, f"{qual}.layers.{i}", x, bound.get("mask"),
                                       bound.get("src_key_padding_mask"), bool(bound.get("is_causal")))
            if m.norm is not None:
                x = self.layer_norm_module(m.norm, x, f"{qual}.norm")
            return x
        x = args[0] if args else next(iter(kwargs.values()))
        if len(args) + len(kwargs) != 1:
            raise self.unsupported("extra arguments to the module")
        if isinstance(m, nn.Linear):
            return self.linear_module(m, x, qual)
        if isinstance(m, nn.LayerNorm):
            return self.layer_norm_module(m, x, qual)
        if isinstance(m, nn.RMSNorm):
            extra = [self.param(m.weight, "weight")] if m.weight is not None else []
            return self.pointwise("rms_norm", x, {"normalized_shape": list(m.normalized_shape),
                                                  "eps": None if m.eps is None else float(m.eps)}, qual, extra)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            if m.padding_mode != "zeros":
                raise self.unsupported(f"padding_mode={m.padding_mode!r} (only zero padding)")
            return self.conv("conv1d" if isinstance(m, nn.Conv1d) else "conv2d", x, m.weight, m.bias,
                             m.stride, m.padding, m.dilation, m.groups, qual)
        if isinstance(m, nn.Embedding):
            if m.max_norm is not None or m.scale_grad_by_freq:
                raise self.unsupported("max_norm and scale_grad_by_freq are not supported")
            return self.embedding(x, m.weight, m.padding_idx, qual)
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.running_mean is None:
                raise self.batch_error("BatchNorm without running statistics normalizes over the batch")
            return self.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, m.eps, qual)
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            if m.return_indices:
                raise self.unsupported("return_indices=True")
            return self.pool("max_pool1d" if isinstance(m, nn.MaxPool1d) else "max_pool2d", x, qual,
                             kernel_size=m.kernel_size, stride=m.stride, padding=m.padding,
                             dilation=m.dilation, ceil_mode=m.ceil_mode)
        if isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            extra = {} if isinstance(m, nn.AvgPool1d) else {"divisor_override": m.divisor_override}
            return self.pool("avg_pool1d" if isinstance(m, nn.AvgPool1d) else "avg_pool2d", x, qual,
                             kernel_size=m.kernel_size, stride=m.stride, padding=m.padding,
                             ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad, **extra)
        if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self.adaptive("adaptive_avg_pool1d" if isinstance(m, nn.AdaptiveAvgPool1d)
                                 else "adaptive_avg_pool2d", x, out, qual)
        if isinstance(m, (nn.Dropout, nn.Identity)):
            return x
        if isinstance(m, (nn.Flatten, nn.Unflatten)):
            return self.reshape(x, out, qual)
        if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
            if m.dim is None:
                raise self.unsupported("softmax without dim")
            return self.emit("softmax" if isinstance(m, nn.Softmax) else "log_softmax", [self.plain(x)],
                             {"dim": m.dim}, qual)
        simple = {nn.ReLU: ("relu", {}), nn.Tanh: ("tanh", {}), nn.Sigmoid: ("sigmoid", {}), nn.SiLU: ("silu", {})}
        if type(m) in simple:
            op, attrs = simple[type(m)]
            return self.pointwise(op, x, attrs, qual)
        if isinstance(m, nn.GELU):
            return self.pointwise("gelu", x, {"approximate": m.approximate}, qual)
        if isinstance(m, nn.Softplus):
            return self.pointwise("softplus", x, {"beta": float(m.beta), "threshold": float(m.threshold)}, qual)
        if isinstance(m, nn.ELU):
            return self.pointwise("elu", x, {"alpha": float(m.alpha)}, qual)
        if isinstance(m, nn.LeakyReLU):
            return self.pointwise("leaky_relu", x, {"negative_slope": float(m.negative_slope)}, qual)
        raise self.unsupported(f"module type {type(m).__module__}.{type(m).__name__} has no translation")

    def conv(self, op, x, weight, bias, stride, padding, dilation, groups, hint):
        k = 1 if op == "conv1d" else 2
        extra = [self.param_or_value(weight, "weight")] + ([self.param_or_value(bias, "bias")] if bias is not None else [])
        attrs = {"stride": _ints(stride, k), "padding": padding if isinstance(padding, str) else _ints(padding, k),
                 "dilation": _ints(dilation, k), "groups": int(groups)}
        return Sym(self.emit(op, [self.plain(x), *extra], attrs, hint))

    def param_or_value(self, t, what):
        if isinstance(t, (Sym, Const)):
            return self.plain(t)
        return self.param(t, what)

    def embedding(self, x, weight, padding_idx, hint):
        w = self.param_or_value(weight, "weight")
        if padding_idx is not None and padding_idx < 0:
            padding_idx += self.values[w][0].shape[0]
        name, seq_first = self.lift(x)
        return Sym(self.emit("embedding", [name, w], {"padding_idx": padding_idx}, hint), seq_first)

    def batch_norm(self, x, rm, rv, weight, bias, eps, hint):
        inputs = [self.plain(x), self.param_or_value(rm, "running_mean"), self.param_or_value(rv, "running_var")]
        if (weight is None) != (bias is None):
            raise self.unsupported("batch_norm with only one of weight and bias")
        if weight is not None:
            inputs += [self.param_or_value(weight, "weight"), self.param_or_value(bias, "bias")]
        return Sym(self.emit("batch_norm", inputs, {"eps": float(eps)}, hint))

    def pool(self, op, x, hint, kernel_size, stride=None, padding=0, dilation=None, ceil_mode=False,
             count_include_pad=None, divisor_override="absent"):
        k = 1 if op.endswith("1d") else 2
        attrs = {"kernel_size": _ints(kernel_size, k),
                 "stride": _ints(stride, k) if stride not in (None, [], ()) else _ints(kernel_size, k),
                 "padding": _ints(padding, k)}
        if op.startswith("max"):
            attrs["dilation"] = _ints(1 if dilation is None else dilation, k)
        attrs["ceil_mode"] = bool(ceil_mode)
        if op.startswith("avg"):
            attrs["count_include_pad"] = True if count_include_pad is None else bool(count_include_pad)
            if k == 2:
                attrs["divisor_override"] = None if divisor_override == "absent" else divisor_override
        return Sym(self.emit(op, [self.plain(x)], attrs, hint))

    def adaptive(self, op, x, out, hint):
        size = list(out.shape[2:])
        return Sym(self.emit(op, [self.plain(x)], {"output_size": size}, hint))

    def reshape(self, x, out, hint):
        name = self.plain(x)
        batched = self.kind(name) == BATCHED
        shape = ([-1] + list(out.shape[1:])) if batched else list(out.shape)
        if list(self.values[name][0].shape) == list(out.shape):
            return Sym(name)
        return Sym(self.emit("reshape", [name], {"shape": shape}, hint))

    # ---- functions and methods --------------------------------------------------------------
    def call(self, key, node, args, kwargs, raw1, out):
        """Translates the function or method `key` (a canonical name) applied to `args`."""
        hint = node.name

        def arg(i, name, default=None):
            if len(args) > i:
                return args[i]
            return kwargs.get(name, default)

        if key in ("add", "sub", "mul", "div"):
            if key in ("add", "sub") and arg(2, "alpha", 1) != 1:
                raise self.unsupported("alpha != 1")
            if key == "div" and kwargs.get("rounding_mode") is not None:
                raise self.unsupported("rounding_mode")
            return self.binary(key, arg(0, "input"), arg(1, "other"), hint)
        if key == "pow":
            base, exponent = arg(0, "input"), arg(1, "exponent")
            if isinstance(base, (Sym, Const)) and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
                return self.pointwise("pow_scalar", base, {"value": float(exponent)}, hint)
            raise self.unsupported("only tensor ** number is supported")
        if key in ("neg", "exp", "log", "sqrt", "rsqrt", "relu", "tanh", "sigmoid", "silu"):
            return self.pointwise(key, arg(0, "input"), None, hint)
        if key == "gelu":
            return self.pointwise("gelu", arg(0, "input"), {"approximate": arg(1, "approximate", "none")}, hint)
        if key == "softplus":
            return self.pointwise("softplus", arg(0, "input"), {"beta": float(arg(1, "beta", 1.0)),
                                                                "threshold": float(arg(2, "threshold", 20.0))}, hint)
        if key == "elu":
            return self.pointwise("elu", arg(0, "input"), {"alpha": float(arg(1, "alpha", 1.0))}, hint)
        if key == "leaky_relu":
            return self.pointwise("leaky_relu", arg(0, "input"),
                                  {"negative_slope": float(arg(1, "negative_slope", 0.01))}, hint)
        if key == "dropout":
            if arg(2, "training", True) and arg(1, "p", 0.5) != 0:
                raise self.unsupported("dropout in training mode (pass training=self.training)")
            return arg(0, "input")
        if key in ("identity", "contiguous", "clone"):
            return args[0]
        if key == "to":
            source = raw1[0].dtype
            if out.is_floating_point() and source.is_floating_point:
                return args[0]
            if out.is_floating_point() and not source.is_complex:
                # integers and booleans are exact numbers already; a float copy of a boolean
                # is no longer a boolean mask
                return Sym(self.emit("identity", [self.plain(args[0])], None, hint))
            if out.dtype == source or (out.dtype != torch.bool and source != torch.bool and
                                       not out.is_floating_point() and not source.is_floating_point):
                return args[0]
            raise self.unsupported(f"conversion of a computed {source} tensor to {out.dtype}")
        if key in ("T", "mT"):
            nd = raw1[0].dim()
            dims = list(reversed(range(nd))) if key == "T" else list(range(nd - 2)) + [nd - 1, nd - 2]
            return Sym(self.emit("permute", [self.plain(args[0])], {"dims": dims}, hint))
        if key == "matmul":
            return Sym(self.emit("matmul", [self.plain(args[0]), self.plain(args[1])], None, hint))
        if key == "cat":
            tensors = arg(0, "tensors")
            dim = arg(1, "dim", 0)
            return Sym(self.emit("concat", [self.plain(t) for t in tensors], {"dim": self.axis(dim, out.dim())}, hint))
        if key == "getitem":
            return self.getitem(args[0], args[1], hint)
        if key in RESHAPE_LIKE and key not in ("expand", "expand_as"):
            return self.reshape(args[0], out, hint)
        if key in ("expand", "expand_as"):
            name = self.plain(args[0])
            batched = self.kind(name) == BATCHED
            if list(self.values[name][0].shape) == list(out.shape):
                return Sym(name)
            shape = ([-1] + list(out.shape[1:])) if batched else list(out.shape)
            return Sym(self.emit("expand", [name], {"shape": shape}, hint))
        if key in ("permute", "transpose", "t"):
            x = args[0]
            nd = raw1[0].dim()
            if key == "permute":
                dims = args[1:] if len(args) > 2 or not isinstance(arg(1, "dims"), (list, tuple)) else arg(1, "dims")
                dims = [self.axis(d, nd) for d in dims]
            else:
                a, b = (0, 1) if key == "t" else (self.axis(arg(1, "dim0"), nd), self.axis(arg(2, "dim1"), nd))
                dims = list(range(nd))
                dims[a], dims[b] = dims[b], dims[a]
            if dims == list(range(nd)):
                return x
            if isinstance(x, Sym) and self.kind(x.name) == BATCHED and nd >= 2 and \
                    dims == [1, 0] + list(range(2, nd)):
                return Sym(x.name, not x.seq_first)
            return Sym(self.emit("permute", [self.plain(x)], {"dims": dims}, hint))
        if key in ("mean", "sum"):
            x = args[0]
            nd = raw1[0].dim()
            dim = arg(1, "dim", None)
            keepdim = bool(arg(2, "keepdim", False))
            if kwargs.get("dtype") is not None:
                raise self.unsupported("dtype argument")
            dims = list(range(nd)) if dim is None else ([dim] if isinstance(dim, int) else list(dim))
            return Sym(self.emit(key, [self.plain(x)], {"dim": [self.axis(d, nd) for d in dims], "keepdim": keepdim}, hint))
        if key in ("softmax", "log_softmax"):
            dim = arg(1, "dim", None)
            if dim is None or kwargs.get("dtype") is not None or (len(args) > 2 and args[2] is not None):
                raise self.unsupported("softmax needs dim and no dtype")
            return Sym(self.emit(key, [self.plain(args[0])], {"dim": self.axis(dim, raw1[0].dim())}, hint))
        if key == "masked_fill":
            value = arg(2, "value")
            if isinstance(value, Const):
                value = value.v1.item()
            if not isinstance(value, (int, float)):
                raise self.unsupported("masked_fill with a computed value")
            return Sym(self.emit("masked_fill", [self.plain(args[0]), self.plain(arg(1, "mask"))],
                                 {"value": float(value)}, hint))
        if key == "sdpa":
            q, k, v = arg(0, "query"), arg(1, "key"), arg(2, "value")
            mask = arg(3, "attn_mask")
            if arg(4, "dropout_p", 0.0) != 0.0:
                raise self.unsupported("dropout_p != 0 (pass dropout_p=0 in eval mode)")
            if kwargs.get("enable_gqa", False):
                raise self.unsupported("enable_gqa")
            attrs = {"is_causal": bool(arg(5, "is_causal", False)), "scale": arg(6, "scale", None)}
            inputs = [self.plain(q), self.plain(k), self.plain(v)]
            if mask is not None:
                dtype = mask.v1.dtype if isinstance(mask, Const) else self.dtypes.get(self.plain(mask), torch.float64)
                attrs["mask_kind"] = "bool" if dtype == torch.bool else "additive"
                inputs.append(self.plain(mask))
            if attrs["scale"] is not None:
                attrs["scale"] = float(attrs["scale"])
            return Sym(self.emit("scaled_dot_product_attention", inputs, attrs, hint))
        if key in ("split", "chunk"):
            x = args[0]
            dim = self.axis(arg(2, "dim", 0) if key == "split" else arg(2, "dim", 0), raw1[0].dim())
            name = self.plain(x)
            pieces, start = [], 0
            for i, piece in enumerate(out):
                size = piece.shape[dim]
                pieces.append(Sym(self.emit("slice", [name], {"dim": dim, "start": start, "end": start + size,
                                                               "step": 1}, f"{hint}_{i}")))
                start += size
            return tuple(pieces)
        if key == "linear":
            x, w, b = arg(0, "input"), arg(1, "weight"), arg(2, "bias")
            name, seq_first = self.lift(x)
            extra = [self.plain(w)] + ([self.plain(b)] if b is not None else [])
            return Sym(self.emit("linear", [name, *extra], None, hint), seq_first)
        if key in ("conv1d", "conv2d"):
            return self.conv(key, arg(0, "input"), arg(1, "weight"), arg(2, "bias"), arg(3, "stride", 1),
                             arg(4, "padding", 0), arg(5, "dilation", 1), arg(6, "groups", 1), hint)
        if key == "embedding":
            if arg(3, "max_norm") is not None or arg(5, "scale_grad_by_freq", False):
                raise self.unsupported("max_norm and scale_grad_by_freq are not supported")
            return self.embedding(arg(0, "input"), arg(1, "weight"), arg(2, "padding_idx"), hint)
        if key == "layer_norm":
            w, b = arg(2, "weight"), arg(3, "bias")
            if w is None and b is not None:
                raise self.unsupported("layer_norm with a bias but no weight")
            extra = [self.plain(t) for t in (w, b) if t is not None]
            return self.pointwise("layer_norm", arg(0, "input"), {"normalized_shape": _ints(arg(1, "normalized_shape"), 1),
                                                                  "eps": float(arg(4, "eps", 1e-5))}, hint, extra)
        if key == "rms_norm":
            w = arg(2, "weight")
            eps = arg(3, "eps")
            return self.pointwise("rms_norm", arg(0, "input"), {"normalized_shape": _ints(arg(1, "normalized_shape"), 1),
                                                                "eps": None if eps is None else float(eps)}, hint,
                                  [self.plain(w)] if w is not None else [])
        if key == "batch_norm":
            if arg(5, "training", False):
                raise self.batch_error("batch_norm with training=True normalizes over the batch")
            return self.batch_norm(arg(0, "input"), arg(1, "running_mean"), arg(2, "running_var"),
                                   arg(3, "weight"), arg(4, "bias"), arg(7, "eps", 1e-5), hint)
        if key in ("max_pool1d", "max_pool2d"):
            if arg(6, "return_indices", False):
                raise self.unsupported("return_indices=True")
            return self.pool(key, arg(0, "input"), hint, arg(1, "kernel_size"), arg(2, "stride"), arg(3, "padding", 0),
                             arg(4, "dilation", 1), arg(5, "ceil_mode", False))
        if key in ("avg_pool1d", "avg_pool2d"):
            extra = {} if key == "avg_pool1d" else {"divisor_override": arg(6, "divisor_override")}
            return self.pool(key, arg(0, "input"), hint, arg(1, "kernel_size"), arg(2, "stride"), arg(3, "padding", 0),
                             None, arg(4, "ceil_mode", False), arg(5, "count_include_pad", True), **extra)
        if key in ("adaptive_avg_pool1d", "adaptive_avg_pool2d"):
            return self.adaptive(key, arg(0, "input"), out, hint)
        raise self.unsupported("no translation for this op")

    def axis(self, d, nd):
        d = int(d)
        return d + nd if d < 0 else d

    def getitem(self, x, index, hint):
        if isinstance(x, (tuple, list)):
            return x[index]
        name = self.plain(x)
        value = self.values[name][0]
        index = index if isinstance(index, tuple) else (index,)
        if any(isinstance(i, (Sym, Const, list)) or torch.is_tensor(i) for i in index):
            raise self.unsupported("indexing with tensors or lists (advanced indexing)")
        consumed = sum(1 for i in index if isinstance(i, (int, slice)))
        expanded = []
        for i in index:
            if i is Ellipsis:
                expanded += [slice(None)] * (value.dim() - consumed)
            else:
                expanded.append(i)
        d, cur = 0, name
        for i in expanded:
            shape = self.values[cur][0].shape
            if i is None:
                new = list(shape[:d]) + [1] + list(shape[d:])
                if self.kind(cur) == BATCHED:
                    new[0] = -1
                cur = self.emit("reshape", [cur], {"shape": new}, f"{hint}_unsqueeze")
                d += 1
            elif isinstance(i, bool):
                raise self.unsupported("boolean index")
            elif isinstance(i, int):
                cur = self.emit("select", [cur], {"dim": d, "index": i + shape[d] if i < 0 else i}, f"{hint}_select")
            elif isinstance(i, slice):
                start, end, step = i.indices(shape[d])
                if step <= 0:
                    raise self.unsupported("negative slice step")
                if (start, end, step) != (0, shape[d], 1):
                    end = max(end, start)
                    cur = self.emit("slice", [cur], {"dim": d, "start": start, "end": end, "step": step},
                                    f"{hint}_slice")
                d += 1
            else:
                raise self.unsupported(f"index {i!r}")
        return Sym(cur)


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


def translate(model: nn.Module, inputs1, inputs2):
    """Translates `model` (float64, eval mode); returns (json dict without loss, buffers,
    output value on inputs1)."""
    gm = trace(model, len(inputs1))
    t = Translator(model, inputs1, inputs2)
    env1, env2, sym = {}, {}, {}
    placeholder_index = 0
    graph_inputs = []
    output = None
    for node in gm.graph.nodes:
        t.path, t.opname = _node_path(node), _op_name(node)
        if node.op == "placeholder":
            if placeholder_index < len(inputs1):
                v1, v2 = inputs1[placeholder_index], inputs2[placeholder_index]
                dtype = v1.dtype
                if dtype.is_floating_point:
                    kind = "float"
                elif dtype == torch.bool:
                    kind = "bool"
                elif not dtype.is_complex:
                    kind = "int64"
                else:
                    raise t.unsupported(f"complex input {node.target!r}", "input")
                name = t.fresh(str(node.target))
                t.values[name] = (v1.to(torch.float64), v2.to(torch.float64), BATCHED)
                t.dtypes[name] = torch.bool if kind == "bool" else (torch.int64 if kind == "int64" else torch.float64)
                graph_inputs.append({"name": name, "shape": [-1] + list(v1.shape[1:]), "dtype": kind})
                env1[node], env2[node], sym[node] = v1, v2, Sym(name)
            else:
                default = node.args[0] if node.args else None
                env1[node] = env2[node] = sym[node] = default
            placeholder_index += 1
            continue
        if node.op == "get_attr":
            obj = gm
            for part in node.target.split("."):
                obj = getattr(obj, part)
            env1[node] = env2[node] = obj
            if torch.is_tensor(obj):
                if id(obj) in t.param_names:
                    sym[node] = Sym(t.param_names[id(obj)])
                else:
                    sym[node] = Const(obj.detach(), obj.detach(), t.buffer_names.get(id(obj)), node.name)
            else:
                sym[node] = obj
            continue
        if node.op == "output":
            output = fx.node.map_arg(node.args[0], lambda n: sym[n])
            out_value = fx.node.map_arg(node.args[0], lambda n: env1[n])
            break
        if node.op == "call_function" and getattr(node.target, "__name__", "") == "_assert_is_none":
            env1[node] = env2[node] = sym[node] = None
            continue

        a1 = fx.node.map_arg(node.args, lambda n: env1[n])
        k1 = fx.node.map_arg(node.kwargs, lambda n: env1[n])
        a2 = fx.node.map_arg(node.args, lambda n: env2[n])
        k2 = fx.node.map_arg(node.kwargs, lambda n: env2[n])
        sa = fx.node.map_arg(node.args, lambda n: sym[n])
        sk = fx.node.map_arg(node.kwargs, lambda n: sym[n])

        def run(a, k):
            if node.op == "call_function":
                return node.target(*a, **k)
            if node.op == "call_method":
                return getattr(a[0], node.target)(*a[1:], **k)
            return gm.get_submodule(node.target)(*a, **k)

        module = gm.get_submodule(node.target) if node.op == "call_module" else None
        try:
            with torch.enable_grad():
                out1 = run(a1, k1)
        except Exception as error:
            raise t.unsupported(f"fails on the example inputs: {type(error).__name__}: {error}") from None
        try:
            with torch.enable_grad():
                out2 = run(a2, k2)
        except Exception as error:
            raise t.batch_error(f"fails at batch size {t.N2}: {type(error).__name__}: {error}") from None
        out1 = fx.node.map_aggregate(out1, lambda v: v.detach() if torch.is_tensor(v) else v)
        out2 = fx.node.map_aggregate(out2, lambda v: v.detach() if torch.is_tensor(v) else v)
        env1[node], env2[node] = out1, out2

        arg_syms = [s for s in _flat_syms((sa, sk))]
        kinds = set()
        for s in arg_syms:
            if isinstance(s, Sym):
                kinds.add(t.kind(s.name))
            elif isinstance(s, Const):
                kinds.add(CONST)
        has_state = module is not None and (any(True for _ in module.parameters()) or any(True for _ in module.buffers()))
        result_tensors = _flat_tensors(out1)

        if not result_tensors:
            # A Python value (a size, a dtype, arithmetic on sizes).
            if (BATCHED in kinds or PARAM in kinds) and not _is_shape_query(node) and \
                    not (node.op == "call_function" and node.target is operator.getitem and
                         not isinstance(sa[0], (Sym, Const))):
                raise t.unsupported("reads tensor values into Python (data-dependent control flow)")
            sym[node] = out1
            continue
        if not (BATCHED in kinds or PARAM in kinds or has_state):
            # A constant: folded, checked to be independent of the batch size.
            if not torch.is_tensor(out1):
                if isinstance(sa[0], (tuple, list)) and node.target is operator.getitem:
                    sym[node] = sa[0][sa[1]]
                    continue
                raise t.unsupported("a constant that is not one tensor")
            if not _same(out1, out2):
                raise t.batch_error("a constant computed from the batch size")
            sym[node] = Const(out1, out2, None, node.name)
            continue

        key = "module" if module is not None else _key(node)
        if key is None:
            raise t.unsupported("no translation for this op")
        if key not in RESHAPE_LIKE and key not in ("getitem",):
            if _flat_numbers((a1, k1)) != _flat_numbers((a2, k2)):
                raise t.batch_error("an argument depends on the batch size")
        raw1 = [v for v in a1]
        if module is not None:
            result = t.module(module, node.target, list(sa), dict(sk), out1)
        else:
            result = t.call(key, node, list(sa), dict(sk), raw1, out1)
        sym[node] = result
        if isinstance(result, (tuple, list)):
            for r, o, o2 in zip(result, out1, out2):
                t.verify(node, r, o, o2)
        else:
            t.verify(node, result, out1, out2)

    t.path, t.opname = "", "output"
    if not isinstance(output, Sym):
        raise t.unsupported("the forward must return one tensor computed from the inputs")
    name = t.plain(output)
    if t.kind(name) != BATCHED:
        raise t.unsupported("the output does not depend on the inputs")
    if name in {g["name"] for g in graph_inputs}:
        name = t.emit("identity", [name], None, "output")
    return _finish(t, graph_inputs, name), out_value


def _flat_syms(value):
    out = []

    def visit(v):
        if isinstance(v, (Sym, Const)):
            out.append(v)
        elif isinstance(v, (tuple, list)):
            for x in v:
                visit(x)
        elif isinstance(v, dict):
            for x in v.values():
                visit(x)
        elif isinstance(v, slice):
            visit((v.start, v.stop, v.step))
    visit(value)
    return out


def _finish(t: Translator, graph_inputs, output):
    """Drops nodes the output does not need and assembles the JSON and the buffers."""
    needed = {output}
    kept = []
    for node in reversed(t.nodes):
        if node["name"] in needed:
            kept.append(node)
            needed.update(node["inputs"])
    kept.reverse()
    buffers = {name: value for name, value in t.buffers.items() if name in needed}
    parameters = [{"name": name, "shape": list(p.shape)} for name, p in t.model.named_parameters()]
    buffer_entries = []
    for name, value in buffers.items():
        entry = {"name": name, "shape": list(value.shape)}
        if value.dtype == torch.bool:
            entry["dtype"] = "bool"
        elif not value.is_floating_point():
            entry["dtype"] = "int64"
        buffer_entries.append(entry)
    graph = {"format": 2, "inputs": graph_inputs, "parameters": parameters, "buffers": buffer_entries,
             "nodes": kept, "output": output}
    return graph, buffers
