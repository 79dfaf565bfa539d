"""The values of a translation: graph tensors (`Sym`), folded constants (`Const`) and
small helpers on nested arguments."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.fx as fx

BATCHED, PARAM, CONST = "batched", "param", "const"


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
