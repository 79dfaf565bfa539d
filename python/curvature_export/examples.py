"""Small example models the exporter is tested on (tiny sizes; P = parameter count).

`build(name)` returns `(model, example_inputs, loss)` for each name of `EXAMPLES`: float64
models with a fixed seed. Parameter counts (P): nanogpt 744, encoder_mean 559,
encoder_cls_seqfirst 559, encoder_padding_mask 482, decoder_layer 795, mha_seqfirst_kdim 158,
encoder_stack_causal 331, mha_masks 74, sdpa_input_mask 70, decoder_norm_first 234,
conv_groups 147, resnet_tiny 401, resnet18 11,178,051, conv1d 103, units 8 to 68
(python/tests/test_export.py checks them; the fixtures use smaller variants).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- nanoGPT-style decoder ------------------------------------------------------------------
class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 2 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(2 * n_embd, n_embd)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd, bias=False)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT: token + position embeddings, causal attention blocks, final LayerNorm, head
    tied to the token embedding. Returns logits as [N, vocab, T] (class axis 1, for the
    per-token cross-entropy)."""

    def __init__(self, vocab=11, block_size=6, n_embd=8, n_head=2, n_layer=1):
        super().__init__()
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, n_embd), wpe=nn.Embedding(block_size, n_embd),
            h=nn.ModuleList([Block(n_embd, n_head) for _ in range(n_layer)]), ln_f=nn.LayerNorm(n_embd)))
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying, as nanoGPT

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)
        return logits.transpose(1, 2)


# ---- TransformerEncoderLayer classifier --------------------------------------------------------
class EncoderClassifier(nn.Module):
    def __init__(self, d_model=8, nhead=2, ff=12, classes=3, pool="mean", norm_first=False,
                 activation="relu", batch_first=True):
        super().__init__()
        self.batch_first = batch_first
        self.layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.1, batch_first=batch_first,
                                                norm_first=norm_first, activation=activation)
        self.head = nn.Linear(d_model, classes)
        self.pool = pool

    def forward(self, x):
        if not self.batch_first:
            x = x.transpose(0, 1)
        h = self.layer(x)
        if not self.batch_first:
            h = h.transpose(0, 1)
        h = h.mean(dim=1) if self.pool == "mean" else h[:, 0]
        return self.head(h)


class MaskedEncoderClassifier(nn.Module):
    """Two inputs: features [N, T, d] and a key-padding mask [N, T] (True = padding)."""

    def __init__(self, d_model=8, nhead=2, ff=8, classes=2):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True,
                                                norm_first=True, activation="gelu")
        self.head = nn.Linear(d_model, classes)

    def forward(self, x, padding):
        h = self.layer(x, src_key_padding_mask=padding)
        return self.head(h[:, 0])


class DecoderModel(nn.Module):
    def __init__(self, d_model=8, nhead=2, ff=8, T=4):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(T))
        self.head = nn.Linear(d_model, 3)

    def forward(self, tgt, memory):
        T = tgt.shape[1]
        h = self.layer(tgt, memory, tgt_mask=self.causal[:T, :T])
        return self.head(h).transpose(1, 2)


class MHAModel(nn.Module):
    def __init__(self, E=6, heads=2, batch_first=True, kdim=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, heads, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.batch_first = batch_first
        self.head = nn.Linear(E, 2)

    def forward(self, x, memory):
        if not self.batch_first:
            x, memory = x.transpose(0, 1), memory.transpose(0, 1)
        out, _ = self.attn(x, memory, memory)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return self.head(out).sum(dim=1)


class EncoderStack(nn.Module):
    """nn.TransformerEncoder (two layers, final norm) with a causal mask buffer."""

    def __init__(self, d_model=4, nhead=2, ff=6, T=5):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(T))
        self.head = nn.Linear(d_model, 3)

    def forward(self, x):
        h = self.encoder(x, mask=self.causal, is_causal=True)
        return self.head(h).permute(0, 2, 1)


class MHAMasks(nn.Module):
    """nn.MultiheadAttention with a constant boolean attn_mask and a key-padding input."""

    def __init__(self, E=4, heads=2, T=4):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, heads, batch_first=True, bias=False)
        self.register_buffer("band", torch.ones(T, T, dtype=torch.bool).triu(2))  # True = blocked
        self.head = nn.Linear(E, 2)

    def forward(self, x, padding):
        out = self.attn(x, x, x, key_padding_mask=padding, attn_mask=self.band)[0]
        return self.head(out[:, -1])


class SDPAInputMask(nn.Module):
    """F.scaled_dot_product_attention with a boolean mask input (True = attend)."""

    def __init__(self, E=4):
        super().__init__()
        self.qkv = nn.Linear(E, 3 * E)
        self.out = nn.Linear(E, 2)

    def forward(self, x, keep):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        y = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                                           attn_mask=keep[:, None, None, :], scale=0.3)
        return self.out(y.squeeze(1).sum(1))


class DecoderNormFirst(nn.Module):
    def __init__(self, d_model=4, nhead=2, ff=4):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(d_model, nhead, ff, dropout=0.0, batch_first=True, norm_first=True,
                                                activation=nn.GELU(approximate="tanh"))
        self.head = nn.Linear(d_model, 2)

    def forward(self, tgt, memory, memory_padding):
        h = self.layer(tgt, memory, memory_key_padding_mask=memory_padding)
        return self.head(h).mean(1)


class ConvGroups(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2, padding="valid", groups=2)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 2, (1, 3), padding=(0, 1), dilation=(1, 2), bias=False)
        self.fc = nn.Linear(2 * 2 * 3, 3)

    def forward(self, x):
        x = F.leaky_relu(self.bn(self.conv(x)))
        x = F.avg_pool2d(x, 2, stride=1, padding=1, divisor_override=3)
        x = F.adaptive_avg_pool2d(self.conv2(x), (2, 3))
        return self.fc(x.reshape(x.size(0), -1))


# ---- ResNets -------------------------------------------------------------------------------------
def tiny_resnet(widths=(2, 4), classes=3):
    """A torchvision-style ResNet built from torchvision's BasicBlock at tiny widths."""
    from torchvision.models.resnet import BasicBlock

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            w0, w1 = widths
            self.conv1 = nn.Conv2d(3, w0, kernel_size=3, stride=1, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(w0)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(w0, w0))
            down = nn.Sequential(nn.Conv2d(w0, w1, 1, stride=2, bias=False), nn.BatchNorm2d(w1))
            self.layer2 = nn.Sequential(BasicBlock(w0, w1, stride=2, downsample=down))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(w1, classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return TinyResNet()


def randomize_batchnorm(model, generator):
    """Non-trivial running statistics and affine parameters (eval-mode BatchNorm)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=generator))
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=generator))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
    return model


# ---- Conv1d net -------------------------------------------------------------------------------------
class Conv1dNet(nn.Module):
    def __init__(self, channels=2, hidden=4, classes=3):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, hidden, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.pool = nn.MaxPool1d(2)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel_size=3, padding="same", dilation=2)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = torch.tanh(self.conv2(x))
        return self.fc(self.gap(x).flatten(1))


# ---- units: one or a few ops each -----------------------------------------------------------------
class Unit(nn.Module):
    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for k, v in modules.items():
            setattr(self, k, v)

    def forward(self, x):
        return self.fn(self, x)


def _units():
    u = {}
    u["rmsnorm_elu"] = (lambda: Unit(lambda s, x: s.l(F.elu(s.n(x), alpha=0.7)), n=nn.RMSNorm(5), l=nn.Linear(5, 3)),
                        lambda g: torch.randn(4, 5, generator=g), "mse")
    u["leaky_softplus"] = (lambda: Unit(lambda s, x: s.l2(F.softplus(s.l1(x), beta=2.0, threshold=1.0)
                                                          + nn.functional.leaky_relu(x, 0.2)),
                                        l1=nn.Linear(4, 4), l2=nn.Linear(4, 2)),
                           lambda g: torch.randn(5, 4, generator=g), "bce_with_logits")
    u["silu_tanh_sigmoid"] = (lambda: Unit(lambda s, x: s.l(torch.tanh(x) * torch.sigmoid(x) + F.silu(x) - 0.5 * x),
                                           l=nn.Linear(4, 3)),
                              lambda g: torch.randn(3, 4, generator=g), "cross_entropy")
    u["avgpool_ceil"] = (lambda: Unit(lambda s, x: s.l(F.avg_pool2d(s.c(x), 3, 2, 1, ceil_mode=True,
                                                                    count_include_pad=False).flatten(1)),
                                      c=nn.Conv2d(1, 2, 3, padding=1, groups=1), l=nn.Linear(2 * 3 * 3, 2)),
                         lambda g: torch.randn(2, 1, 5, 5, generator=g), "cross_entropy")
    u["avgpool1d_chunk"] = (lambda: Unit(lambda s, x: (lambda c: torch.cat([c[1], c[0]], dim=1))(
                                             s.p(s.c(x)).chunk(2, dim=1)).flatten(1) @ s.w,
                                         c=nn.Conv1d(2, 4, 2), p=nn.AvgPool1d(2, 1, 1, ceil_mode=True),
                                         w=nn.Parameter(torch.randn(4 * 6, 2) * 0.3)),
                            lambda g: torch.randn(3, 2, 6, generator=g), "mse")
    u["cls_select_concat"] = (lambda: Unit(lambda s, x: s.l(torch.cat([x[:, 0], x[:, 1:].mean(1)], dim=-1)),
                                           l=nn.Linear(8, 3)),
                              lambda g: torch.randn(4, 5, 4, generator=g), "cross_entropy")
    u["masked_fill_matmul"] = (lambda: Unit(lambda s, x: (s.q(x) @ s.k(x).transpose(-2, -1)).masked_fill(
                                   torch.ones(4, 4, dtype=torch.bool).triu(1), float("-inf")).softmax(-1)
                                   .matmul(x).permute(0, 2, 1).sum(-1), q=nn.Linear(3, 3), k=nn.Linear(3, 3)),
                               lambda g: torch.randn(2, 4, 3, generator=g), "mse")
    u["scalar_ops"] = (lambda: Unit(lambda s, x: s.l((2.0 - x.exp() / 3) * (1 / (1 + x ** 2))
                                                     + torch.sqrt(x * x + 1) - torch.rsqrt(x * x + 2)
                                                     + torch.log(x * x + 1).neg() + (x - 0.25) / (x * x + 1.5)),
                                    l=nn.Linear(3, 2)),
                       lambda g: torch.randn(4, 3, generator=g), "mse")
    u["split_unsqueeze_expand"] = (lambda: Unit(lambda s, x: s.l((x.split([1, 3], dim=1)[1].unsqueeze(1)
                                                                 .expand(-1, 2, -1) * s.scale).reshape(x.shape[0], -1)),
                                                l=nn.Linear(6, 2), scale=nn.Parameter(torch.tensor([[1.5], [0.5]]))),
                                   lambda g: torch.randn(3, 4, generator=g), "cross_entropy")
    u["per_token_ce_ignore"] = (lambda: Unit(lambda s, x: s.e(x).log_softmax(-1).permute(0, 2, 1) * 2,
                                             e=nn.Embedding(5, 4, padding_idx=1)),
                                lambda g: torch.randint(0, 5, (3, 4), generator=g),
                                nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1))
    u["transpose_param_casts"] = (lambda: Unit(lambda s, x: (s.e(x.long()) @ s.w.T).sum(1) * x.to(s.w.dtype).mean(1, keepdim=True),
                                               e=nn.Embedding(6, 3), w=nn.Parameter(torch.randn(4, 3) * 0.5)),
                                  lambda g: torch.randint(0, 6, (3, 5), generator=g), "cross_entropy")
    return u


UNITS = _units()


def build(name, seed=0):
    """(model in float64, example inputs tuple, loss) for example `name`."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    if name in UNITS:
        make_model, make_inputs, loss = UNITS[name]
        model = make_model().double()
        x = make_inputs(g)
        return model, (x.double() if x.is_floating_point() else x,), loss
    if name == "nanogpt":
        return NanoGPT().double(), (torch.randint(0, 11, (3, 6), generator=g),), nn.CrossEntropyLoss()
    if name == "encoder_mean":
        return EncoderClassifier().double(), (torch.randn(3, 5, 8, generator=g, dtype=torch.float64),), \
            nn.CrossEntropyLoss()
    if name == "encoder_cls_seqfirst":
        return EncoderClassifier(pool="cls", norm_first=True, activation="gelu", batch_first=False).double(), \
            (torch.randn(3, 4, 8, generator=g, dtype=torch.float64),), nn.CrossEntropyLoss(reduction="sum")
    if name == "encoder_padding_mask":
        mask = torch.tensor([[False, False, True, True], [False, False, False, False], [False, True, True, True]])
        return MaskedEncoderClassifier().double(), (torch.randn(3, 4, 8, generator=g, dtype=torch.float64), mask), \
            nn.CrossEntropyLoss()
    if name == "decoder_layer":
        return DecoderModel().double(), (torch.randn(2, 4, 8, generator=g, dtype=torch.float64),
                                         torch.randn(2, 3, 8, generator=g, dtype=torch.float64)), nn.CrossEntropyLoss()
    if name == "mha_seqfirst_kdim":
        return MHAModel(batch_first=False, kdim=4).double(), (torch.randn(2, 3, 6, generator=g, dtype=torch.float64),
                                                              torch.randn(2, 5, 4, generator=g, dtype=torch.float64)), \
            nn.MSELoss()
    if name == "encoder_stack_causal":
        return EncoderStack().double(), (torch.randn(2, 5, 4, generator=g, dtype=torch.float64),), \
            nn.CrossEntropyLoss()
    if name == "mha_masks":
        padding = torch.tensor([[False, False, False, True], [False, True, False, False], [False] * 4])
        return MHAMasks().double(), (torch.randn(3, 4, 4, generator=g, dtype=torch.float64), padding), nn.MSELoss()
    if name == "sdpa_input_mask":
        keep = torch.tensor([[True, True, False], [True, False, True]])
        return SDPAInputMask().double(), (torch.randn(2, 3, 4, generator=g, dtype=torch.float64), keep), \
            nn.CrossEntropyLoss()
    if name == "decoder_norm_first":
        padding = torch.tensor([[False, False, True], [False, False, False]])
        return DecoderNormFirst().double(), (torch.randn(2, 3, 4, generator=g, dtype=torch.float64),
                                             torch.randn(2, 3, 4, generator=g, dtype=torch.float64), padding), \
            nn.BCEWithLogitsLoss(reduction="sum")
    if name == "conv_groups":
        model = randomize_batchnorm(ConvGroups(), g).double()
        return model, (torch.randn(2, 4, 9, 9, generator=g, dtype=torch.float64),), nn.CrossEntropyLoss()
    if name == "resnet_tiny":
        model = randomize_batchnorm(tiny_resnet(), g).double()
        return model, (torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64),), nn.CrossEntropyLoss()
    if name == "resnet18":
        from torchvision.models import resnet18
        model = randomize_batchnorm(resnet18(num_classes=3), g).double()
        return model, (torch.randn(2, 3, 32, 32, generator=g, dtype=torch.float64),), nn.CrossEntropyLoss()
    if name == "conv1d":
        model = randomize_batchnorm(Conv1dNet(), g).double()
        return model, (torch.randn(3, 2, 10, generator=g, dtype=torch.float64),), nn.CrossEntropyLoss()
    raise KeyError(name)


EXAMPLES = ["nanogpt", "encoder_mean", "encoder_cls_seqfirst", "encoder_padding_mask", "decoder_layer",
            "mha_seqfirst_kdim", "encoder_stack_causal", "mha_masks", "sdpa_input_mask", "decoder_norm_first",
            "conv_groups", "resnet_tiny", "resnet18", "conv1d", *UNITS]
