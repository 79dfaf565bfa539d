"""nn.MultiheadAttention and the transformer layers, written as primitive ops
exactly as PyTorch computes them (packed in-projection, per-head reshapes, attention,
out_proj, residuals and norms in PyTorch's order)."""
from __future__ import annotations

import torch

from ._values import Const, Sym, Unavailable


class AttentionTranslation:
    """Methods of `Translator` (see _translator.py)."""

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
