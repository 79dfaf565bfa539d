"""Leaf modules (nn.Linear, nn.Conv2d, ...) and the ops they share with the functional
forms."""
from __future__ import annotations

import inspect

import torch.nn as nn

from ._values import BATCHED, Const, Sym, _ints


class ModuleTranslation:
    """Methods of `Translator` (see _translator.py)."""

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
