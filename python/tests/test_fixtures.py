"""The committed graph fixtures (Tests/CurvatureTests/Fixtures/Graph): the reference
interpreter of each exported graph reproduces reference.npz and curvlinops' Hessian, GGN and
empirical Fisher (float64), which pins down the conventions the Swift side must follow
(see the README in that folder)."""
import json
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from curvature_export.interpret import GraphInterpreter, evaluate_loss

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "Tests/CurvatureTests/Fixtures/Graph"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "model.json").exists()) if FIXTURES.exists() else []


def rel(a, b):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


@pytest.mark.parametrize("name", CASES)
def test_fixture_matches_interpreter(name):
    directory = FIXTURES / name
    graph = GraphInterpreter.load(directory)
    spec = json.loads((directory / "model.json").read_text())["loss"]
    reference = np.load(directory / "reference.npz")
    inputs = [torch.from_numpy(reference[f"input_{i}"]) for i in range(len(graph.model["inputs"]))]
    targets = torch.from_numpy(reference["targets"])
    shapes = [p.shape for p in graph.parameters]
    theta = torch.cat([p.reshape(-1) for p in graph.parameters])

    def unflatten(flat):
        out, i = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(flat[i:i + n].reshape(s))
            i += n
        return out

    def output_of(flat):
        return graph.forward(*inputs, parameters=unflatten(flat))

    def loss_of(flat):
        return evaluate_loss(spec, output_of(flat), targets)

    loss, gradient = graph.loss_and_gradient(inputs, targets)
    assert rel(loss, torch.from_numpy(reference["loss"])) <= 1e-12
    assert rel(gradient, torch.from_numpy(reference["gradient"])) <= 1e-10

    hessian = torch.autograd.functional.hessian(loss_of, theta)
    assert rel(hessian, torch.from_numpy(np.load(directory / "hessian.npy"))) <= 1e-9

    output = output_of(theta).detach()
    J = torch.autograd.functional.jacobian(output_of, theta).reshape(output.numel(), -1)
    H = torch.autograd.functional.hessian(lambda o: evaluate_loss(spec, o.reshape(output.shape), targets),
                                          output.reshape(-1))
    assert rel(J.T @ H @ J, torch.from_numpy(np.load(directory / "ggn.npy"))) <= 1e-9

    # EF: curvlinops sums outer products of per-term gradients (a term is a token/pixel for
    # cross-entropy, a row of the last axis otherwise), scaled as in the README.
    params = [p.detach().clone().requires_grad_(True) for p in graph.parameters]
    out = graph.forward(*inputs, parameters=params)
    if spec["type"] == "cross_entropy":
        C = out.shape[1]
        logits = out.movedim(1, -1).reshape(-1, C)
        flat_targets = targets.reshape(-1)
        per_term = torch.nn.functional.cross_entropy(logits, flat_targets.long(), reduction="none",
                                                     ignore_index=spec["ignore_index"],
                                                     label_smoothing=spec["label_smoothing"])
        counted = int((flat_targets != spec["ignore_index"]).sum())
        R = per_term.numel()
        factor = R / counted ** 2 if spec["reduction"] == "mean" else 1.0
    else:
        C = out.shape[-1]
        elementwise = (torch.nn.functional.mse_loss(out, targets, reduction="none") if spec["type"] == "mse"
                       else torch.nn.functional.binary_cross_entropy_with_logits(out, targets, reduction="none"))
        per_term = elementwise.reshape(-1, C).sum(-1)
        R = per_term.numel()
        factor = 1.0 / (R * C) if spec["reduction"] == "mean" else 1.0
    rows = []
    for term in per_term:
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([torch.zeros(p.numel(), dtype=torch.float64) if g is None else g.reshape(-1)
                               for p, g in zip(params, grads)]))
    G = torch.stack(rows)
    assert rel(factor * G.T @ G, torch.from_numpy(np.load(directory / "ef.npy"))) <= 1e-9
