"""The translator: emits graph nodes, evaluates each on both runs with the reference
interpreter's ops and checks the batch-axis rule."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._attention import AttentionTranslation
from ._calls import CallTranslation
from ._errors import BatchAxisError, UnsupportedModelError
from ._modules import ModuleTranslation
from ._trace import _op_name
from ._values import BATCHED, CONST, PARAM, Const, Sym, Unavailable, _json_number
from .interpret import OPS


class Translator(AttentionTranslation, ModuleTranslation, CallTranslation):
    """The state of one translation: the emitted nodes, the values of both runs, names."""

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
