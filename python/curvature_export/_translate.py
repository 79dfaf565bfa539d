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

import operator

import torch
import torch.fx as fx
import torch.nn as nn

from ._trace import _is_shape_query, _key, _node_path, _op_name, RESHAPE_LIKE, trace
from ._translator import Translator
from ._values import BATCHED, CONST, PARAM, Const, Sym, _flat_numbers, _flat_syms, _flat_tensors, _same


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
