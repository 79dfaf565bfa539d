"""Every exported graph keeps the contract of docs/ModelFormat.md: known ops with the
documented attributes and input counts, unique names, topological order, the batch axis
written -1 at axis 0 only, and one weight per parameter and buffer."""
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
from safetensors.torch import load_file  # noqa: E402

import curvature_export as ce  # noqa: E402
from curvature_export import examples  # noqa: E402

POOL = {"kernel_size", "stride", "padding", "ceil_mode"}
# op -> (allowed attributes, minimum inputs, maximum inputs), as the table of the doc
OPS = {
    "linear": (set(), 2, 3), "conv1d": ({"stride", "padding", "dilation", "groups"}, 2, 3),
    "conv2d": ({"stride", "padding", "dilation", "groups"}, 2, 3), "embedding": ({"padding_idx"}, 2, 2),
    "layer_norm": ({"normalized_shape", "eps"}, 1, 3), "rms_norm": ({"normalized_shape", "eps"}, 1, 2),
    "batch_norm": ({"eps"}, 3, 5), "max_pool1d": (POOL | {"dilation"}, 1, 1),
    "max_pool2d": (POOL | {"dilation"}, 1, 1),
    "avg_pool1d": (POOL | {"count_include_pad", "divisor_override"}, 1, 1),
    "avg_pool2d": (POOL | {"count_include_pad", "divisor_override"}, 1, 1),
    "adaptive_avg_pool1d": ({"output_size"}, 1, 1), "adaptive_avg_pool2d": ({"output_size"}, 1, 1),
    **{op: (set(), 2, 2) for op in ("add", "sub", "mul", "div", "matmul")},
    **{op: ({"value"}, 1, 1) for op in ("add_scalar", "sub_scalar", "rsub_scalar", "mul_scalar", "div_scalar",
                                        "rdiv_scalar", "pow_scalar")},
    **{op: (set(), 1, 1) for op in ("neg", "exp", "log", "sqrt", "rsqrt", "relu", "tanh", "sigmoid", "silu",
                                    "identity")},
    "concat": ({"dim"}, 1, 1000), "slice": ({"dim", "start", "end", "step"}, 1, 1),
    "select": ({"dim", "index"}, 1, 1), "reshape": ({"shape"}, 1, 1), "permute": ({"dims"}, 1, 1),
    "expand": ({"shape"}, 1, 1), "mean": ({"dim", "keepdim"}, 1, 1), "sum": ({"dim", "keepdim"}, 1, 1),
    "softmax": ({"dim"}, 1, 1), "log_softmax": ({"dim"}, 1, 1), "masked_fill": ({"value"}, 2, 2),
    "scaled_dot_product_attention": ({"is_causal", "scale", "mask_kind"}, 3, 4),
    "gelu": ({"approximate"}, 1, 1), "softplus": ({"beta", "threshold"}, 1, 1), "elu": ({"alpha"}, 1, 1),
    "leaky_relu": ({"negative_slope"}, 1, 1),
}


@pytest.mark.parametrize("name", examples.EXAMPLES)
def test_graph_keeps_the_format(name, tmp_path):
    if name.startswith("resnet"):
        pytest.importorskip("torchvision")
    model, inputs, loss = examples.build(name)
    graph = ce.export(model, inputs, tmp_path, loss)
    text = (tmp_path / "model.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON number {c}"))
    assert graph["format"] == 2
    assert set(graph) == {"format", "inputs", "parameters", "buffers", "nodes", "output", "loss"}
    seen, batched = set(), set()
    for entry in graph["inputs"]:
        assert entry["shape"][0] == -1 and -1 not in entry["shape"][1:]
        assert entry["dtype"] in ("float", "int64", "bool")
        batched.add(entry["name"])
    for entry in graph["inputs"] + graph["parameters"] + graph["buffers"]:
        assert entry["name"] not in seen
        seen.add(entry["name"])
    for entry in graph["buffers"]:
        assert entry.get("dtype", "float") in ("float", "int64", "bool")
    for node in graph["nodes"]:
        assert set(node) == {"name", "op", "inputs", "attributes", "shape"}
        assert node["name"] not in seen, "names are unique"
        allowed, low, high = OPS[node["op"]]
        assert set(node["attributes"]) <= allowed, node
        assert low <= len(node["inputs"]) <= high, node
        assert all(i in seen for i in node["inputs"]), "inputs name earlier values"
        is_batched = any(i in batched for i in node["inputs"])
        if is_batched:
            batched.add(node["name"])
            assert node["shape"][0] == -1 and -1 not in node["shape"][1:], node
            if node["op"] == "reshape":
                assert node["attributes"]["shape"][0] == -1
            if node["op"] == "permute":
                assert node["attributes"]["dims"][0] == 0
        else:
            assert -1 not in node["shape"], node
        seen.add(node["name"])
    assert graph["output"] in batched
    weights = load_file(str(tmp_path / "weights.safetensors"))
    declared = {e["name"]: e["shape"] for e in graph["parameters"] + graph["buffers"]}
    assert {k: list(v.shape) for k, v in weights.items()} == declared
