"""The exporter against PyTorch: every example exports, and the reference interpreter of
the written graph reproduces the module's output, loss and gradient (float64, rel 1e-10)."""
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
import torch.nn as nn
import torch.nn.functional as F

import curvature_export as ce
from curvature_export import examples
from curvature_export.interpret import GraphInterpreter, evaluate_loss

# Parameter counts of the examples (the fixtures keep P small for dense matrices).
P = {"nanogpt": 744, "encoder_mean": 559, "encoder_cls_seqfirst": 559, "encoder_padding_mask": 482,
     "decoder_layer": 795, "mha_seqfirst_kdim": 158,
     "encoder_stack_causal": 331, "mha_masks": 74, "sdpa_input_mask": 70, "decoder_norm_first": 234, "conv_groups": 147, "resnet_tiny": 401, "resnet18": 11178051, "conv1d": 103,
     "rmsnorm_elu": 23, "leaky_softplus": 30, "silu_tanh_sigmoid": 15, "avgpool_ceil": 58, "avgpool1d_chunk": 68,
     "cls_select_concat": 27, "masked_fill_matmul": 24, "scalar_ops": 8, "split_unsqueeze_expand": 16, "transpose_param_casts": 30,
     "per_token_ce_ignore": 20}


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item() if a.numel() else 0.0


def module_results(model, inputs, spec, targets):
    model = model.double().eval()
    named = list(model.named_parameters())
    out = model(*inputs)
    loss = evaluate_loss(spec, out, targets)
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    flat = torch.cat([torch.zeros(p.numel(), dtype=torch.float64) if g is None else g.reshape(-1)
                      for (_, p), g in zip(named, grads)])
    return out.detach(), loss.detach(), flat


@pytest.mark.parametrize("name", examples.EXAMPLES)
def test_example_exports_and_interprets_equal(name, tmp_path):
    if name.startswith("resnet"):
        pytest.importorskip("torchvision")
    model, inputs, loss = examples.build(name)
    assert sum(p.numel() for p in model.parameters()) == P[name]
    graph = ce.export(model, inputs, tmp_path, loss)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "reference.npz", "weights.safetensors"]
    assert json.loads((tmp_path / "model.json").read_text()) == graph
    reference = np.load(tmp_path / "reference.npz")
    assert reference["loss"].shape == () and reference["gradient"].shape == (P[name],)
    loaded = [torch.from_numpy(reference[f"input_{i}"]) for i in range(len(inputs))]
    for x, y in zip(inputs, loaded):
        assert torch.equal(x.to(y.dtype), y)
    targets = torch.from_numpy(reference["targets"])

    out, loss_value, gradient = module_results(model, inputs, graph["loss"], targets)
    interpreter = GraphInterpreter.load(tmp_path)
    got_out = interpreter.forward(*loaded)
    got_loss, got_gradient = interpreter.loss_and_gradient(loaded, targets)
    assert got_out.shape == out.shape
    assert rel(got_out, out) <= 1e-10
    assert rel(got_loss, loss_value) <= 1e-10
    assert rel(got_gradient, gradient) <= 1e-10
    # reference.npz holds PyTorch's results
    assert rel(reference["output"], out) <= 1e-12
    assert rel(reference["loss"], loss_value) <= 1e-12
    assert rel(reference["gradient"], gradient) <= 1e-12


def test_graph_structure_of_nanogpt(tmp_path):
    model, inputs, loss = examples.build("nanogpt")
    graph = ce.export(model, inputs, tmp_path, loss)
    names = [p["name"] for p in graph["parameters"]]
    assert names == [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names  # tied to the token embedding: listed once
    assert graph["inputs"] == [{"name": "idx", "shape": [-1, 6], "dtype": "int64"}]
    assert [b["name"] for b in graph["buffers"]] == ["_constant.arange"]
    ops = [n["op"] for n in graph["nodes"]]
    assert "scaled_dot_product_attention" in ops and ops[-1] == "permute"
    heads = [n for n in graph["nodes"] if n["op"] == "linear" and "transformer.wte.weight" in n["inputs"]]
    assert len(heads) == 1  # the tied head uses the embedding's name
    for n in graph["nodes"]:
        assert n["shape"][0] == -1 or n["name"] == "transformer.wpe"


def test_loss_objects_and_given_targets(tmp_path):
    model, inputs, _ = examples.build("per_token_ce_ignore")
    targets = torch.tensor([[0, 2, 3, 2], [1, 1, 2, 0], [3, 0, 2, 1]])
    graph = ce.export(model, inputs, tmp_path, nn.CrossEntropyLoss(ignore_index=2, label_smoothing=0.1,
                                                                     reduction="sum"), targets=targets)
    assert graph["loss"] == {"type": "cross_entropy", "reduction": "sum", "ignore_index": 2, "label_smoothing": 0.1}
    assert np.array_equal(np.load(tmp_path / "reference.npz")["targets"], targets.numpy())
    assert ce.loss_spec("mse") == {"type": "mse", "reduction": "mean"}
    assert ce.loss_spec(nn.BCEWithLogitsLoss(reduction="sum")) == {"type": "bce_with_logits", "reduction": "sum"}
    with pytest.raises(ce.UnsupportedModelError):
        ce.loss_spec(nn.NLLLoss())
    with pytest.raises(ce.UnsupportedModelError):
        ce.loss_spec(nn.CrossEntropyLoss(weight=torch.ones(3)))


def test_targets_are_deterministic(tmp_path):
    model, inputs, loss = examples.build("conv1d")
    ce.export(model, inputs, tmp_path / "a", loss)
    ce.export(model, inputs, tmp_path / "b", loss)
    a, b = np.load(tmp_path / "a/reference.npz"), np.load(tmp_path / "b/reference.npz")
    assert np.array_equal(a["targets"], b["targets"]) and a["targets"].dtype == np.int64
    assert (tmp_path / "a/weights.safetensors").read_bytes() == (tmp_path / "b/weights.safetensors").read_bytes()


# ---- unsupported models -----------------------------------------------------------------------
class Sorter(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=-1).values


class WithSort(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 3), Sorter())

    def forward(self, x):
        return self.body(x)


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


class TrainDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(3, 2)

    def forward(self, x):
        return F.dropout(self.l(x), 0.5, training=True)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(3, 2)

    def forward(self, x):
        y = self.l(x)
        return y * 2 if y.sum() > 0 else y


class Wrap(nn.Module):
    def __init__(self, fn, width=3):
        super().__init__()
        self.l = nn.Linear(width, width)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.l(x))


@pytest.mark.parametrize("model,path,op", [
    (WithSort(), "body.1", "torch.sort"),
    (WithLSTM(), "rnn", "nn.LSTM"),
    (TrainDropout(), "", "F.dropout"),
    (DataDependent(), "", "torch.fx trace"),
    (Wrap(lambda y: y.abs()), "", "Tensor.abs"),
    (Wrap(lambda y: y.cumsum(-1)), "", "Tensor.cumsum"),
])
def test_unsupported_names_module_and_op_and_writes_nothing(model, path, op, tmp_path):
    x = torch.randn(2, 4, 3)
    with pytest.raises(ce.UnsupportedModelError) as info:
        ce.export(model, x, tmp_path / "out", "mse")
    assert info.value.module_path == path
    assert info.value.op == op
    assert f"'{path or '<root>'}'" in str(info.value) and op in str(info.value)
    assert not (tmp_path / "out").exists()


def test_failure_leaves_an_existing_export_untouched(tmp_path):
    model, inputs, loss = examples.build("conv1d")
    ce.export(model, inputs, tmp_path, loss)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ce.UnsupportedModelError):
        ce.export(WithSort(), torch.randn(2, 3), tmp_path, "mse")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("fn", [
    lambda y: y.sum(0),                       # reduces the batch axis
    lambda y: y.mean(),                       # reduces everything
    lambda y: y.reshape(-1),                  # merges the batch axis
    lambda y: y.transpose(0, 1),              # moves the batch axis (output)
    lambda y: y.permute(1, 2, 0),             # moves the batch axis
    lambda y: torch.softmax(y, dim=0),        # normalizes over the batch
    lambda y: y[1:],                          # slices the batch axis
    lambda y: y[0],                           # selects a data point
    lambda y: y + torch.arange(y.shape[0]).reshape(-1, 1, 1),  # a constant sized by the batch
    lambda y: torch.cat([y, y], dim=0),       # concatenates along the batch axis
    lambda y: y.view(y.shape[0] * 2, -1),     # reshape mixing data points
    lambda y: y.unsqueeze(0),                 # new leading axis
    lambda y: y @ y.transpose(0, 2),          # contracts over the batch axis
    lambda y: y[:, :y.shape[0]],              # a slice sized by the batch
    lambda y: y.sum(1).T,                     # transposes the batch axis away
])
def test_batch_axis_violations_raise(fn, tmp_path):
    with pytest.raises(ce.BatchAxisError):
        ce.export(Wrap(fn), torch.randn(2, 4, 3), tmp_path / "out", "mse")
    assert not (tmp_path / "out").exists()


def test_batchnorm_without_running_statistics_raises(tmp_path):
    model = nn.Sequential(nn.Conv1d(2, 2, 1), nn.BatchNorm1d(2, track_running_stats=False))
    with pytest.raises(ce.BatchAxisError) as info:
        ce.export(model, torch.randn(3, 2, 4), tmp_path / "out", "mse")
    assert info.value.module_path == "1"


def test_bad_example_inputs_raise(tmp_path):
    with pytest.raises(ce.BatchAxisError):
        ce.export(examples.MHAModel(), (torch.randn(2, 3, 6), torch.randn(3, 5, 6)), tmp_path / "out", "mse")
    assert not (tmp_path / "out").exists()


def test_model_is_not_changed(tmp_path):
    pytest.importorskip("torchvision")
    model, inputs, loss = examples.build("resnet_tiny")
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ce.export(model, inputs, tmp_path, loss)
    assert model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_float32_model_writes_float32_weights(tmp_path):
    from safetensors.torch import load_file

    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    ce.export(model, torch.randn(5, 3), tmp_path, "cross_entropy")
    weights = load_file(str(tmp_path / "weights.safetensors"))
    assert set(weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert all(w.dtype == torch.float32 for w in weights.values())
    reference = np.load(tmp_path / "reference.npz")
    assert reference["output"].dtype == np.float64 and reference["input_0"].dtype == np.float64
    umask = os.umask(0)
    os.umask(umask)
    for f in tmp_path.iterdir():  # written through temporary files, with the usual permissions
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask
