"""deepforge.training's import graph: every module imports on its own, and no two modules import each other.

Trainer, distributed and evaluation used to reach into each other for private helpers through imports inside
functions, which hid a cycle (trainer -> evaluation -> trainer, trainer -> distributed -> trainer). What they share
now lives in modules they all import (_reporting, _debug); these tests keep it that way.
"""

import ast
import os
import subprocess
import sys

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "deepforge.training"
PACKAGE_DIR = os.path.join(PYTHON_DIR, "deepforge", "training")
MODULES = sorted(f[:-3] for f in os.listdir(PACKAGE_DIR) if f.endswith(".py") and f != "__init__.py")


def sibling_imports(module):
    """The package's modules that ``module`` imports anywhere in its file (inside functions too), with the names.

    Returns {sibling: [names imported from it]}; ``__init__`` stands for the package itself.
    """
    with open(os.path.join(PACKAGE_DIR, module + ".py"), encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=module + ".py")
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import a, b
                found.setdefault(node.module.split(".")[0], []).extend(a.name for a in node.names)
            elif node.level == 1:  # from . import x: a module if there is one, else a name of the package
                for alias in node.names:
                    target = alias.name if alias.name in MODULES else "__init__"
                    found.setdefault(target, []).append(alias.name)
            elif node.level == 0 and node.module and node.module.startswith(PACKAGE + "."):
                rest = node.module[len(PACKAGE) + 1 :].split(".")[0]
                found.setdefault(rest, []).extend(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.setdefault(alias.name[len(PACKAGE) + 1 :].split(".")[0], []).append(alias.name)
    return found


def find_cycle(graph):
    """A cycle in ``graph`` ({node: [nodes]}) as a list of nodes from and back to one of them, or None."""
    state = {}  # node -> "open" while on the path, "done" after

    def visit(node, path):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, path)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert find_cycle({"trainer": ["evaluation"], "evaluation": ["trainer"]}) == ["evaluation", "trainer", "evaluation"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"], "d": []}) == ["a", "b", "c", "a"]
    assert find_cycle({"trainer": ["evaluation", "_reporting"], "evaluation": ["_reporting"]}) is None


def test_the_training_modules_import_each_other_without_a_cycle():
    graph = {m: sorted(sibling_imports(m)) for m in MODULES}
    # The package's __init__ imports its modules, so a module importing from the package itself closes a loop too.
    graph["__init__"] = MODULES
    assert "trainer" in graph and "evaluation" in graph["trainer"]  # the parse sees what is there
    assert find_cycle(graph) is None, "import cycle in deepforge.training: %s" % " -> ".join(find_cycle(graph))


def test_no_training_module_imports_a_private_name_of_another():
    private = []
    for module in MODULES:
        for sibling, names in sibling_imports(module).items():
            private += ["%s imports %s from %s" % (module, n, sibling) for n in names if n.startswith("_")]
    # A private module (_debug, _reporting) is the place for shared pieces; importing it as a module is fine.
    private = [p for p in private if not p.split(" imports ")[1].split(" from ")[0] in MODULES]
    assert private == []


@pytest.mark.parametrize("module", MODULES)
def test_each_training_module_imports_first_in_a_fresh_interpreter(module):
    # The package's __init__ would import every module in its own order first and hide an order that fails:
    # stand in an empty package so this module is the first of them to run, pulling in only what it imports.
    code = (
        "import importlib, sys, types\n"
        "import deepforge\n"
        "pkg = types.ModuleType(%r)\n"
        "pkg.__path__ = [%r]\n"
        "sys.modules[%r] = pkg\n"
        "mod = importlib.import_module(%r)\n"
        "missing = [n for n in getattr(mod, '__all__', []) if not hasattr(mod, n)]\n"
        "assert not missing, missing\n"
        "print('ok', sorted(m for m in sys.modules if m.startswith(%r)))\n"
    ) % (PACKAGE, PACKAGE_DIR, PACKAGE, PACKAGE + "." + module, PACKAGE + ".")
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok")


def test_the_package_imports_in_a_fresh_interpreter():
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, PYTHONDONTWRITEBYTECODE="1")
    code = "import deepforge.training as t; print(t.Trainer.__module__, t.evaluate.__module__)"
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["deepforge.training.trainer", "deepforge.training.evaluation"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
