"""Functions and tensor methods (torch.*, F.*, Tensor.*, operators, indexing)."""
from __future__ import annotations

import torch

from ._values import BATCHED, Const, Sym, _ints
from ._trace import RESHAPE_LIKE


class CallTranslation:
    """Methods of `Translator` (see _translator.py)."""

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
