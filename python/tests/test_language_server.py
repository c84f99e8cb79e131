"""The argument-count check the language server adds to pyflakes (deepforge.language_server)."""

import os

import pytest

import deepforge
from deepforge.language_server import arity_diagnostics

# python3-pylsp brings Jedi (scripts/setup.mjs installs it).
jedi = pytest.importorskip("jedi")

UTIL = '''def scale(x, factor, *, bias=0):
    return x * factor + bias


def spread(*values, **named):
    return values, named


class Box:
    def __init__(self, size, label=""):
        self.size = size
'''

CODE = '''from utils.shapes import scale, spread, Box
import deepforge
import torch

scale(1)
scale(1, 2, 3)
scale(1, 2, bias=3)
scale(1, 2, nope=1)
scale(*[1, 2])
spread(1, 2, 3, a=1)
Box()
Box(3, label="x")
deepforge.log(1, 2)
deepforge.log(step=1, loss=0.5)
torch.nn.Linear(3)
len(1, 2)
'''


def lint(tmp_path):
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "shapes.py").write_text(UTIL)
    runtime = os.path.dirname(os.path.abspath(list(deepforge.__path__)[0]))
    script = jedi.Script(
        CODE,
        path=str(tmp_path / "operations" / "Probe.py"),
        project=jedi.Project(str(tmp_path), added_sys_path=[runtime]),
    )
    roots = [os.path.realpath(tmp_path), os.path.join(runtime, "deepforge")]
    return {d["range"]["start"]["line"] + 1: d["message"] for d in arity_diagnostics(script, roots)}


def test_wrong_argument_counts_of_project_and_runtime_code_are_flagged(tmp_path):
    assert lint(tmp_path) == {
        5: "scale() missing 1 required argument: 'factor'",
        6: "scale() takes 2 positional arguments but 3 were given",
        8: "scale() got an unexpected keyword argument 'nope'",
        11: "Box() missing 1 required argument: 'size'",
        13: "log() takes 1 positional argument but 2 were given",
    }


def test_kinds_of_installed_names_are_asked_once_and_stay_right(tmp_path):
    from types import SimpleNamespace

    from deepforge.language_server import _remember_kinds

    seen = []

    def format_completion(completion, markup_kind, include_params=False):
        return {"label": completion.name, "kind": completion.type}

    module = SimpleNamespace(_format_completion=format_completion)
    _remember_kinds(module)

    class Installed:
        name = "Linear"
        full_name = "torch.nn.Linear"
        module_path = "/usr/lib/python3/dist-packages/torch/nn/modules/linear.py"

        @property
        def type(self):
            seen.append(self.full_name)
            return "class"

    class Project(Installed):
        full_name = "utils.shapes.scale"
        module_path = str(tmp_path / "utils" / "shapes.py")

    for _ in range(3):
        assert module._format_completion(Installed(), "markdown") == {"label": "Linear", "kind": "class"}
        assert module._format_completion(Project(), "markdown")["kind"] == "class"
    # torch's name was inferred once; the project's every time (it may change under the server).
    assert seen.count("torch.nn.Linear") == 1
    assert seen.count("utils.shapes.scale") == 3
