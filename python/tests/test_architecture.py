"""Architectures: the layer catalog, shape inference on the meta device, and the modules core generates.

python/tests/architectures/<Name>.json are architectures as in a project's resources/; <Name>.py beside each is
the module core's generator makes of it (packages/core/src/architecture.codegen.test.ts checks they are
current). Here they are compared with hand-written PyTorch for fixed weights, and with the interpreter.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from deepforge.architecture import ArchitectureModule, catalog, custom_layers, infer, torch_layers  # noqa: E402
from deepforge.architecture.catalog import install_code_dir  # noqa: E402

from conftest import PYTHON_DIR  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "architectures")
NAMES = ("Chain", "Residual", "Nested", "Sequence")


def load(name):
    with open(os.path.join(FIXTURES, name + ".json")) as f:
        return json.load(f)


def all_resources():
    return {name: load(name) for name in NAMES}


@pytest.fixture
def code_dir(tmp_path):
    """A job's code dir: the generated modules as resources/<Name>.py, importable like in the harness."""
    os.makedirs(tmp_path / "resources")
    os.makedirs(tmp_path / "utils")
    for name in NAMES:
        shutil.copy(os.path.join(FIXTURES, name + ".py"), tmp_path / "resources" / (name + ".py"))
    saved = dict(sys.modules)
    path = list(sys.path)
    install_code_dir(str(tmp_path))
    yield tmp_path
    for key in list(sys.modules):
        if key not in saved:
            del sys.modules[key]
    sys.modules.update(saved)
    sys.path[:] = path


def generated(name):
    import importlib

    return getattr(importlib.import_module("resources." + name), name)


# Hand-written equivalents, with the same attribute names, so state dicts carry over.
class HandChain(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d((2, 2))
        self.flat = nn.Flatten()
        self.fc = nn.Linear(676, 10)

    def forward(self, image):
        return self.fc(self.flat(self.pool(self.relu(self.bn(self.conv(image))))))


class HandResidual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(8)
        self.relu_a = nn.ReLU()
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(8)
        self.relu_out = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()

    def forward(self, x):
        out = self.relu_out(self.bn_b(self.conv_b(self.relu_a(self.bn_a(self.conv_a(x))))) + x)
        return self.flat(self.pool(torch.cat([out, x], dim=1))), out


class HandNested(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = HandChain()
        self.probs = nn.Softmax(dim=1)

    def forward(self, image):
        return self.probs(self.backbone(image))


class HandSequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, tokens):
        out, _ = self.lstm(tokens)
        return self.head(out)


HAND: dict[str, type[nn.Module]] = {"Chain": HandChain, "Residual": HandResidual, "Nested": HandNested, "Sequence": HandSequence}
INPUTS = {"Chain": (3, 1, 28, 28), "Residual": (3, 8, 16, 16), "Nested": (3, 1, 28, 28), "Sequence": (3, 5, 8)}


def _randomise(module):
    """Fixed, non-trivial weights and batch-norm statistics."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for tensor in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
            tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.1)


def _same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        return all(_same(x, y) for x, y in zip(a, b))
    assert a.shape == b.shape
    return torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_generated_module_computes_what_the_hand_written_one_does(code_dir, name):
    hand = HAND[name]()
    _randomise(hand)
    gen = generated(name)()
    gen.load_state_dict(hand.state_dict(), strict=True)
    x = torch.rand(INPUTS[name], generator=torch.Generator().manual_seed(2))
    for mode in ("train", "eval"):
        getattr(hand, mode)()
        getattr(gen, mode)()
        assert _same(gen(x), hand(x)), (name, mode)
    assert gen.get_config() == {}
    assert gen.input_shapes  # the declared shapes travel with the class


@pytest.mark.parametrize("name", NAMES)
def test_the_interpreter_computes_what_the_generated_module_does(code_dir, name):
    gen = generated(name)()
    _randomise(gen)
    interpreted = ArchitectureModule(load(name), all_resources())
    interpreted.load_state_dict(gen.state_dict(), strict=True)
    gen.eval()
    interpreted.eval()
    x = torch.rand(INPUTS[name])
    assert _same(interpreted(x), gen(x))


@pytest.mark.parametrize("name", NAMES)
def test_inferred_shapes_are_those_of_real_tensors(code_dir, name):
    report = infer(load(name), all_resources())
    assert report["ok"], report
    gen = generated(name)()
    seen: dict[str, object] = {}
    for child_name, child in gen.named_children():
        # Layers returning tuples (LSTM) are compared through the Select after them.
        child.register_forward_hook(
            lambda m, i, o, n=child_name: seen.__setitem__(n, list(o.shape)) if isinstance(o, torch.Tensor) else None
        )
    batch = INPUTS[name][0]
    gen(torch.rand(INPUTS[name]))
    by_id = {layer["id"]: layer for layer in report["layers"]}
    for layer_id, shape in seen.items():
        inferred = [batch if d == "N" else INPUTS[name][1] if d == "T" else d for d in by_id[layer_id]["outputShape"]]
        assert inferred == shape, layer_id
        assert by_id[layer_id]["outputShape"][0] == "N"
    assert report["total"]["parameters"] == sum(p.numel() for p in gen.parameters())
    for layer_id, child in gen.named_children():
        assert by_id[layer_id]["parameters"] == sum(p.numel() for p in child.parameters())
    edges = {(e["from"], e["to"]): e["shape"] for e in report["edges"]}
    if name == "Residual":
        assert edges[("x", "add")] == ["N", 8, 16, 16]
        assert by_id["cat"]["outputShape"] == ["N", 16, 16, 16]
        assert [o["shape"] for o in report["outputs"]] == [["N", 16], ["N", 8, 16, 16]]


def test_inference_uses_no_real_memory_for_weights():
    big = {
        "name": "Big",
        "layers": [
            {"id": "x", "layer": "Input", "shape": ["N", 100000]},
            # 100,000 × 100,000 floats: 40 GB if it were allocated.
            {"id": "fc", "layer": "Linear", "attributes": {"in_features": 100000, "out_features": 100000}},
        ],
        "edges": [{"from": "x", "to": "fc"}],
        "outputs": ["fc"],
    }
    report = infer(big, {"Big": big})
    assert report["ok"]
    assert report["total"]["parameters"] == 100000 * 100000 + 100000


def test_a_shape_mismatch_is_on_the_layer_with_pytorchs_message_and_the_fix():
    chain = load("Chain")
    for layer in chain["layers"]:
        if layer["id"] == "fc":
            layer["attributes"]["in_features"] = 600
    report = infer(chain, {"Chain": chain})
    assert not report["ok"]
    assert report["firstError"] == "fc"
    fc = report["layers"][-1]
    assert "mat1 and mat2 shapes cannot be multiplied (Nx676 and 600x10)" in fc["error"]
    assert fc["fix"] == {"argument": "in_features", "value": 676}
    assert fc["outputShape"] is None
    assert fc["inputShapes"] == [["N", 676]]


def test_wrong_in_channels_gets_the_fix_and_what_follows_is_not_run():
    chain = load("Chain")
    chain["layers"][1]["attributes"]["in_channels"] = 3
    report = infer(chain, {"Chain": chain})
    by_id = {layer["id"]: layer for layer in report["layers"]}
    assert report["firstError"] == "conv"
    assert "expected input[N, 1, 28, 28] to have 3 channels" in by_id["conv"]["error"]
    assert by_id["conv"]["fix"] == {"argument": "in_channels", "value": 1}
    assert by_id["fc"].get("skipped") is True and "error" not in by_id["fc"]


def test_an_incompatible_concatenation_is_on_the_concat_layer():
    arch = {
        "name": "Cat",
        "layers": [
            {"id": "a", "layer": "Input", "shape": ["N", 8, 16, 16]},
            {"id": "b", "layer": "Input", "shape": ["N", 8, 8, 8]},
            {"id": "cat", "layer": "Concat", "attributes": {"dim": 1}},
        ],
        "edges": [{"from": "a", "to": "cat"}, {"from": "b", "to": "cat"}],
        "outputs": ["cat"],
    }
    report = infer(arch, {"Cat": arch})
    assert report["firstError"] == "cat"
    assert "Sizes of tensors must match" in report["layers"][-1]["error"]


def test_a_symbolic_dimension_that_is_not_the_batch_follows_through():
    arch = {
        "name": "Seq",
        "layers": [
            {"id": "tokens", "layer": "Input", "shape": ["N", "T", 16]},
            {"id": "proj", "layer": "Linear", "attributes": {"in_features": 16, "out_features": 4}},
        ],
        "edges": [{"from": "tokens", "to": "proj"}],
        "outputs": ["proj"],
    }
    assert infer(arch, {"Seq": arch})["outputs"][0]["shape"] == ["N", "T", 4]


CUSTOM = """
import torch.nn as nn


class Scale(nn.Module):
    \"\"\"Multiplies by a constant factor.\"\"\"

    def __init__(self, factor: float, channels=4):
        super().__init__()
        self.factor = factor
        self.weight = nn.Parameter(nn.init.ones_(nn.Linear(channels, 1).weight))

    def forward(self, x):
        return x * self.factor


class Broken(nn.Module):
    def __init__(self, size=3):
        super().__init__()
        raise ValueError("size %d is not supported" % size)

    def forward(self, x):
        return x


def helper():
    return 1
"""


def test_custom_layers_of_the_project_are_in_the_catalog_with_their_arguments(tmp_path):
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "blocks.py").write_text(CUSTOM)
    (tmp_path / "utils" / "bad.py").write_text("class Oops(:\n    pass\n")
    (tmp_path / "utils" / "raises.py").write_text("raise RuntimeError('no GPU here')\n")
    saved = dict(sys.modules)
    try:
        layers, errors = custom_layers(str(tmp_path))
    finally:
        for key in list(sys.modules):
            if key not in saved:
                del sys.modules[key]
    assert sorted(layers) == ["utils.blocks.Broken", "utils.blocks.Scale"]
    scale = layers["utils.blocks.Scale"]
    assert scale["source"] == "custom"
    assert scale["doc"] == "Multiplies by a constant factor."
    assert scale["arguments"][0] == {"name": "factor", "required": True, "annotation": "float", "types": ["float"]}
    assert scale["arguments"][1]["default"] == 4 and scale["arguments"][1]["types"] == ["int"]
    assert scale["inputs"] == {"min": 1, "max": 1}
    by_file = {e["file"]: e for e in errors}
    assert by_file["utils/bad.py"]["line"] == 1 and "syntax error" in by_file["utils/bad.py"]["message"]
    assert "RuntimeError: no GPU here" in by_file["utils/raises.py"]["message"]


def test_a_custom_layer_whose_constructor_raises_is_reported_on_its_layer(tmp_path):
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "blocks.py").write_text(CUSTOM)
    arch = {
        "name": "UsesCustom",
        "layers": [
            {"id": "x", "layer": "Input", "shape": ["N", 4]},
            {"id": "scale", "layer": "utils.blocks.Scale", "attributes": {"factor": 2.0}},
            {"id": "broken", "layer": "utils.blocks.Broken", "attributes": {"size": 5}},
        ],
        "edges": [{"from": "x", "to": "scale"}, {"from": "scale", "to": "broken"}],
        "outputs": ["broken"],
    }
    saved = dict(sys.modules)
    try:
        install_code_dir(str(tmp_path))
        report = infer(arch, {"UsesCustom": arch})
    finally:
        for key in list(sys.modules):
            if key not in saved:
                del sys.modules[key]
    by_id = {layer["id"]: layer for layer in report["layers"]}
    assert by_id["scale"]["outputShape"] == ["N", 4] and by_id["scale"]["parameters"] == 4
    assert report["firstError"] == "broken"
    assert by_id["broken"]["error"] == "utils.blocks.Broken(...) raised ValueError: size 5 is not supported"


def test_the_torch_catalog_has_every_layer_with_arguments_types_and_docs():
    layers = torch_layers()
    assert "Sequential" not in layers and "Module" not in layers
    conv = layers["Conv2d"]
    args = {a["name"]: a for a in conv["arguments"]}
    assert list(args)[:3] == ["in_channels", "out_channels", "kernel_size"]
    assert args["in_channels"]["required"] and args["in_channels"]["types"] == ["int"]
    assert args["kernel_size"]["types"] == ["int", "tuple"]
    assert args["padding"]["default"] == 0 and "str" in args["padding"]["types"]
    assert args["bias"] == {
        "name": "bias",
        "required": False,
        "default": True,
        "defaultSource": "True",
        "annotation": "bool",
        "types": ["bool"],
    }
    assert "device" not in args and "dtype" not in args
    assert conv["doc"].startswith("Applies a 2D convolution")
    assert layers["Bilinear"]["inputs"] == {"min": 2, "max": 2}
    assert layers["Linear"]["inputs"] == {"min": 1, "max": 1}
    for name in ("ReLU", "BatchNorm2d", "MaxPool2d", "Flatten", "Dropout", "LSTM", "TransformerEncoderLayer"):
        assert name in layers


def test_the_catalog_is_cached_per_interpreter_and_torch_version(tmp_path):
    first = catalog(str(tmp_path))
    (cached,) = os.listdir(tmp_path)
    assert cached.startswith("torch-layers-")
    # The cached file is what the next reading uses: change it and see.
    path = tmp_path / cached
    data = json.loads(path.read_text())
    data["layers"]["Conv2d"]["doc"] = "from the cache"
    path.write_text(json.dumps(data))
    assert catalog(str(tmp_path))["layers"]["Conv2d"]["doc"] == "from the cache"
    assert first["torchVersion"] == torch.__version__
    path.write_text("{broken")
    assert catalog(str(tmp_path))["layers"]["Conv2d"]["doc"].startswith("Applies")


def test_the_command_answers_json_on_stdout_whatever_the_project_prints(tmp_path):
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "noisy.py").write_text("print('hello from utils')\n" + CUSTOM)
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR)
    request = {"command": "catalog", "cacheDir": None, "codeDir": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "deepforge.architecture"],
        input=json.dumps(request).encode(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert "utils.noisy.Scale" in answer["layers"]
    assert b"hello from utils" in proc.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "deepforge.architecture"],
        input=b'{"command": "check", "resources": {}, "name": "Ghost"}',
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 1
    assert "there is no architecture 'Ghost'" in json.loads(bad.stdout)["error"]


def test_the_harness_gives_the_operation_a_fresh_module_of_the_architecture(run_job):
    from conftest import write_files  # noqa: F401 - the job's files are passed as files=

    with open(os.path.join(FIXTURES, "Chain.py")) as f:
        chain_code = f.read()
    op = textwrap.dedent(
        """
        import torch

        class UseNet():
            def __init__(self, net, batch=2):
                self.net = net
                self.batch = batch

            def execute(self):
                before = torch.rand(1).item()
                out = self.net(torch.zeros(self.batch, 1, 28, 28))
                return type(self.net).__module__ + "." + type(self.net).__name__, list(out.shape), self.net.training
        """
    )
    result = run_job(
        op,
        files={"resources/Chain.py": chain_code},
        spec_overrides={"architectures": {"net": {"module": "resources.Chain", "className": "Chain"}}},
        outputs=["cls", "shape", "training"],
    )
    assert result.returncode == 0, result
    assert result.load_output("cls") == "resources.Chain.Chain"
    assert result.load_output("shape") == [2, 10]
    assert result.load_output("training") is True


def test_an_architecture_that_cannot_be_built_fails_the_job_as_an_input_error(run_job):
    result = run_job(
        "class UseNet():\n    def __init__(self, net):\n        self.net = net\n\n    def execute(self):\n        return 1\n",
        files={"resources/Chain.py": "import torch.nn as nn\n\nclass Chain(nn.Module):\n    def __init__(self):\n        raise ValueError('bad layer')\n"},
        spec_overrides={"architectures": {"net": {"module": "resources.Chain", "className": "Chain"}}},
        outputs=["x"],
    )
    assert result.returncode == 1
    assert result.error["kind"] == "input"
    assert "could not build architecture Chain for reference 'net': ValueError: bad layer" in result.error["message"]


# ---------------------------------------------------------------------------------------------------------
# import of plain nn.Module classes (torch.fx)

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "fashion-mnist")

TRACEABLE = """
import torch
import torch.nn as nn


class Block(nn.Module):
    \"\"\"A residual block with a concatenated skip.\"\"\"

    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x))) + x
        return torch.flatten(torch.cat([y, x], dim=1), 1)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


class Sigmoidal(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))
"""


@pytest.fixture
def utils_dir(tmp_path):
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "nets.py").write_text(TRACEABLE)
    shutil.copy(os.path.join(EXAMPLE, "utils", "models.py"), tmp_path / "utils" / "models.py")
    saved = dict(sys.modules)
    install_code_dir(str(tmp_path))
    yield tmp_path
    for key in list(sys.modules):
        if key not in saved:
            del sys.modules[key]


def test_the_examples_cnn_imports_as_the_architecture_drawn_in_resources(utils_dir):
    from deepforge.architecture.fx_import import import_module
    from utils.models import FashionCNN

    arch = import_module(FashionCNN, "Imported", {"x": ["N", 1, 28, 28]})
    drawn = json.load(open(os.path.join(EXAMPLE, "resources", "FashionCNN.json")))
    # The same layers with the same arguments, in the same order (ids and MaxPool's explicit stride aside).
    def strip(layer):
        return (layer["layer"], {k: v for k, v in layer.get("attributes", {}).items() if k != "stride"})

    assert [strip(layer) for layer in arch["layers"]] == [strip(layer) for layer in drawn["layers"]]
    assert arch["description"].startswith("Imported from utils.models.FashionCNN: conv 3×3")
    assert infer(arch, {"Imported": arch})["outputs"][0]["shape"] == ["N", 10]


def test_merges_and_functions_become_add_concat_relu_flatten(utils_dir):
    from deepforge.architecture.fx_import import import_module
    from utils.nets import Block  # type: ignore[import]  # the utils_dir fixture writes utils/nets.py

    arch = import_module(Block, "Block", {"0": ["N", 8, 4, 4]})
    assert [(layer["id"], layer["layer"]) for layer in arch["layers"]] == [
        ("x", "Input"),
        ("conv", "Conv2d"),
        ("bn", "BatchNorm2d"),
        ("relu", "ReLU"),
        ("add", "Add"),
        ("cat", "Concat"),
        ("flatten", "Flatten"),
    ]
    assert {"from": "x", "to": "add"} in arch["edges"] and arch["outputs"] == ["flatten"]
    assert arch["layers"][1]["attributes"] == {"in_channels": 8, "out_channels": 8, "kernel_size": 3, "padding": 1}


def test_what_cannot_be_traced_or_has_no_layer_is_refused_with_the_reason(utils_dir):
    from deepforge.architecture.fx_import import ImportRefused, import_module
    from utils.nets import Branchy, Sigmoidal

    with pytest.raises(ImportRefused, match=r"torch.fx cannot trace Branchy: symbolically traced variables cannot be used as inputs to control flow"):
        import_module(Branchy, "Branchy", {"x": ["N", 4]})
    with pytest.raises(ImportRefused, match=r"call function sigmoid has no layer to stand for it"):
        import_module(Sigmoidal, "Sigmoidal", {"x": ["N", 4]})
    with pytest.raises(ImportRefused, match=r"no shape for forward's argument x"):
        import_module(Sigmoidal, "Sigmoidal", {})


SEQUENCE = {
    "name": "Seq",
    "layers": [
        {"id": "tokens", "layer": "Input", "shape": ["N", "T", 8]},
        {"id": "lstm", "layer": "LSTM", "attributes": {"input_size": 8, "hidden_size": 16, "batch_first": True}},
        {"id": "outputs", "layer": "Select", "attributes": {"index": 0}},
        {"id": "head", "layer": "Linear", "attributes": {"in_features": 16, "out_features": 3}},
    ],
    "edges": [{"from": "tokens", "to": "lstm"}, {"from": "lstm", "to": "outputs"}, {"from": "outputs", "to": "head"}],
    "outputs": ["head"],
}


def test_select_picks_one_result_of_a_layer_that_returns_several():
    report = infer(SEQUENCE, {"Seq": SEQUENCE})
    assert report["ok"], report
    by_id = {layer["id"]: layer for layer in report["layers"]}
    assert by_id["lstm"]["outputShape"] == [["N", "T", 16], [[1, "N", 16], [1, "N", 16]]]
    assert by_id["head"]["outputShape"] == ["N", "T", 3]
    module = ArchitectureModule(SEQUENCE, {"Seq": SEQUENCE})
    assert list(module(torch.rand(2, 5, 8)).shape) == [2, 5, 3]
    broken = json.loads(json.dumps(SEQUENCE))
    broken["layers"][2]["attributes"]["index"] = 5
    report = infer(broken, {"Seq": broken})
    assert report["firstError"] == "outputs" and "index" in report["layers"][2]["error"]


def _fresh_infer(arch, resources):
    """infer() with nothing remembered from earlier requests."""
    from deepforge.architecture import graph

    graph._COUNTS.clear()
    graph._FORWARDS.clear()
    return infer(arch, resources)


@pytest.mark.parametrize("name", NAMES)
def test_what_is_remembered_across_requests_gives_the_report_a_fresh_inference_gives(code_dir, name):
    from deepforge.architecture import graph

    resources = all_resources()
    first = _fresh_infer(resources[name], resources)
    assert graph._FORWARDS, "torch.nn layers' results are remembered"
    # The same graph again, then one whose layers take other shapes: equal to inferring from nothing.
    assert infer(resources[name], resources) == first
    edited = json.loads(json.dumps(resources[name]))
    for layer in edited["layers"]:
        if layer["layer"] == "Input":
            layer["shape"] = [d * 2 if isinstance(d, int) and d > 1 else d for d in layer["shape"]]
    again = {**resources, name: edited}
    assert infer(edited, again) == _fresh_infer(edited, again)


def test_an_edit_runs_only_the_edited_layer_and_what_follows_it(monkeypatch):
    chain: dict = {
        "name": "Mlp",
        "layers": [{"id": "x", "layer": "Input", "shape": ["N", 16]}]
        + [{"id": "fc%d" % i, "layer": "Linear", "attributes": {"in_features": 16, "out_features": 16}} for i in range(6)],
        "edges": [{"from": "x", "to": "fc0"}] + [{"from": "fc%d" % i, "to": "fc%d" % (i + 1)} for i in range(5)],
        "outputs": ["fc5"],
    }
    _fresh_infer(chain, {"Mlp": chain})
    built: list[str] = []
    real_build = graph_module().build_layer

    def counting_build(layer, *args, **kwargs):
        built.append(layer["id"])
        return real_build(layer, *args, **kwargs)

    monkeypatch.setattr(graph_module(), "build_layer", counting_build)
    chain["layers"][5]["attributes"]["out_features"] = 8
    chain["layers"][6]["attributes"]["in_features"] = 8
    report = infer(chain, {"Mlp": chain})
    assert report["ok"], report
    assert [layer["outputShape"] for layer in report["layers"]][-2:] == [["N", 8], ["N", 16]]
    assert report["layers"][-1]["parameters"] == 8 * 16 + 16
    assert sorted(built) == ["fc4", "fc5"]


def test_custom_layers_are_run_again_on_every_request(tmp_path):
    (tmp_path / "utils").mkdir()
    arch = {
        "name": "UsesCustom",
        "layers": [
            {"id": "x", "layer": "Input", "shape": ["N", 4]},
            {"id": "grow", "layer": "utils.blocks.Grow", "attributes": {}},
        ],
        "edges": [{"from": "x", "to": "grow"}],
        "outputs": ["grow"],
    }
    saved = dict(sys.modules)
    shapes = []
    try:
        for factor in (2, 3):
            (tmp_path / "utils" / "blocks.py").write_text(
                "import torch\n\nclass Grow(torch.nn.Module):\n"
                "    def forward(self, x):\n        return torch.cat([x] * %d, dim=1)\n" % factor
            )
            for key in [k for k in sys.modules if k == "utils" or k.startswith("utils.")]:
                del sys.modules[key]
            install_code_dir(str(tmp_path))
            shapes.append(infer(arch, {"UsesCustom": arch})["layers"][1]["outputShape"])
    finally:
        for key in list(sys.modules):
            if key not in saved:
                del sys.modules[key]
    assert shapes == [["N", 8], ["N", 12]]


def graph_module():
    from deepforge.architecture import graph

    return graph
