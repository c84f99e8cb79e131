"""The layer catalog: every ``torch.nn`` module class of the installed PyTorch, and the ``nn.Module`` subclasses
of a project's ``utils/``, with their constructor arguments (name, accepted types, default), the first line of
their docs and how many tensors ``forward`` takes. The shape is core's ``LayerCatalog``
(packages/core/src/layer-catalog.ts).

The torch part depends only on the interpreter and the torch version, so it is cached on disk in a folder the
engine chooses (its data dir), one file per interpreter + Python + torch version.
"""

import hashlib
import inspect
import json
import math
import os
import sys
import typing

#: Bump when the catalog's shape or its reading changes: older cache files are then ignored.
CATALOG_FORMAT = 1

#: Not layers one draws: containers of other modules, and the base class.
_SKIPPED = {
    "Module",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "ParameterList",
    "ParameterDict",
    "Container",
}

#: Factory arguments: where and in which precision to build is the runtime's business, not the drawing's.
_FACTORY_ARGUMENTS = {"device", "dtype"}

_SIMPLE = {int: "int", float: "float", bool: "bool", str: "str", tuple: "tuple", list: "list", dict: "dict"}
_NONE_TYPE = type(None)


def _first_doc_line(obj):
    doc = inspect.getdoc(obj) or ""
    for line in doc.strip().splitlines():
        line = line.strip()
        if line:
            return line[:300]
    return ""


def _types_of_annotation(annotation):
    """The JSON kinds an annotation accepts (a set of names), or None when it says nothing we can use."""
    if annotation is inspect.Parameter.empty:
        return None
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        if text in ("int", "float", "bool", "str"):
            return {text}
        if text.startswith("_size_") or text.startswith("_ratio_"):
            return {"int", "tuple"} if text.startswith("_size_") else {"float", "tuple"}
        if text.startswith("Optional["):
            inner = _types_of_annotation(text[len("Optional[") : -1])
            return None if inner is None else inner | {"none"}
        return None
    if annotation is _NONE_TYPE:
        return {"none"}
    if annotation in _SIMPLE:
        return {_SIMPLE[annotation]}
    origin = getattr(annotation, "__origin__", None)
    if origin is typing.Union:
        kinds = set()
        for arg in annotation.__args__:
            sub = _types_of_annotation(arg)
            if sub is None:
                return None
            kinds |= sub
        return kinds
    if origin in (tuple, typing.Tuple):
        return {"tuple"}
    if origin in (list, typing.List):
        return {"list"}
    if origin in (dict, typing.Dict):
        return {"dict"}
    return None


def _json_default(value):
    """(True, value as JSON) for defaults JSON can hold, (False, None) otherwise."""
    if value is None or isinstance(value, (bool, str)):
        return True, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float):
        return (True, value) if math.isfinite(value) else (False, None)
    if isinstance(value, (tuple, list)):
        items = []
        for item in value:
            ok, converted = _json_default(item)
            if not ok:
                return False, None
            items.append(converted)
        return True, items
    return False, None


def _describe_argument(param, hints):
    annotation = hints.get(param.name, param.annotation)
    kinds = _types_of_annotation(annotation)
    arg = {"name": param.name, "required": param.default is inspect.Parameter.empty}
    if param.default is not inspect.Parameter.empty:
        ok, value = _json_default(param.default)
        if ok:
            arg["default"] = value
        arg["defaultSource"] = repr(param.default)[:200]
        if kinds is None:
            if param.default is None:
                kinds = {"any"}
            elif isinstance(param.default, bool):
                kinds = {"bool"}
            elif type(param.default) in _SIMPLE:
                kinds = {_SIMPLE[type(param.default)]}
        elif param.default is None:
            kinds = kinds | {"none"}
    if annotation is not inspect.Parameter.empty:
        if isinstance(annotation, str):
            text = annotation
        elif isinstance(annotation, type):
            text = annotation.__name__
        else:
            text = str(annotation).replace("typing.", "")
        arg["annotation"] = text[:200]
    arg["types"] = sorted(kinds) if kinds else ["any"]
    return arg


def _forward_inputs(cls):
    import torch.nn as nn

    forward = getattr(cls, "forward", None)
    if forward is None or forward is getattr(nn.Module, "forward", None):
        return {"min": 1, "max": None}
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return {"min": 1, "max": None}
    low: int = 0
    high: int | None = 0
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            high = None
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            if p.default is inspect.Parameter.empty:
                low += 1
            if high is not None:
                high += 1
    return {"min": low, "max": high}


def describe_layer(cls, name, source):
    """One catalog entry (core's LayerClass)."""
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        signature = None
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:
        hints = {}
    arguments = []
    extra = False
    if signature is not None:
        for param in list(signature.parameters.values())[1:]:
            if param.kind == param.VAR_KEYWORD:
                extra = True
                continue
            if param.kind == param.VAR_POSITIONAL or param.name in _FACTORY_ARGUMENTS:
                continue
            arguments.append(_describe_argument(param, hints))
    return {
        "name": name,
        "source": source,
        "doc": _first_doc_line(cls),
        "arguments": arguments,
        "extraArguments": extra,
        "inputs": _forward_inputs(cls),
    }


def torch_layers():
    """Every public torch.nn module class, by name."""
    import torch.nn as nn

    layers = {}
    for name in sorted(dir(nn)):
        if name.startswith("_") or name in _SKIPPED:
            continue
        obj = getattr(nn, name)
        if inspect.isclass(obj) and issubclass(obj, nn.Module):
            layers[name] = describe_layer(obj, name, "torch")
    return layers


def _cache_file(cache_dir):
    import torch

    key = "%s\n%s\n%s\n%d" % (sys.executable, sys.version, torch.__version__, CATALOG_FORMAT)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return os.path.join(cache_dir, "torch-layers-%s.json" % digest)


def cached_torch_layers(cache_dir):
    """torch_layers(), read from (or written to) ``cache_dir`` when one is given. A broken cache file is
    rebuilt, never trusted."""
    if not cache_dir:
        return torch_layers()
    path = _cache_file(cache_dir)
    try:
        with open(path, "r", encoding="utf-8") as file:
            data = json.load(file)
        if isinstance(data, dict) and data.get("format") == CATALOG_FORMAT and isinstance(data.get("layers"), dict):
            return data["layers"]
    except (OSError, ValueError):
        pass
    layers = torch_layers()
    try:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = "%s.tmp-%d" % (path, os.getpid())
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"format": CATALOG_FORMAT, "layers": layers}, file)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only data dir only costs the next reading its time
    return layers


def _utils_modules(code_dir):
    base = os.path.join(code_dir, "utils")
    found = []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for filename in sorted(files):
            if not filename.endswith(".py") or filename.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(root, filename), code_dir)
            parts = rel[:-3].split(os.sep)
            if parts[-1] == "__init__":
                continue
            found.append((rel.replace(os.sep, "/"), ".".join(parts)))
    return found


def custom_layers(code_dir):
    """The nn.Module subclasses defined in ``code_dir``/utils/*.py: (layers by dotted name, errors).

    Each module is imported; one that does not import is an error naming the file (and line, for a syntax
    error), the others still count.
    """
    import importlib

    import torch.nn as nn

    layers: dict[str, dict] = {}
    errors: list[dict] = []
    if not code_dir or not os.path.isdir(os.path.join(code_dir, "utils")):
        return layers, errors
    install_code_dir(code_dir)
    for rel, dotted in _utils_modules(code_dir):
        try:
            module = importlib.import_module(dotted)
        except SyntaxError as exc:
            errors.append({"file": rel, "line": exc.lineno or 0, "message": "syntax error: %s" % (exc.msg,)})
            continue
        except BaseException as exc:  # noqa: B902 - user code may raise anything, SystemExit included
            errors.append({"file": rel, "message": "importing it raised %s: %s" % (type(exc).__name__, exc)})
            continue
        for attr, obj in sorted(vars(module).items()):
            if (
                inspect.isclass(obj)
                and issubclass(obj, nn.Module)
                and obj.__module__ == dotted
                and not attr.startswith("_")
            ):
                name = "%s.%s" % (dotted, attr)
                layers[name] = describe_layer(obj, name, "custom")
    return layers, errors


def install_code_dir(code_dir):
    """Make ``utils`` (and ``resources``) import from ``code_dir``, as the harness does for jobs."""
    import importlib.machinery
    import importlib.util

    code_dir = os.path.abspath(code_dir)
    if code_dir in sys.path:
        sys.path.remove(code_dir)
    sys.path.insert(0, code_dir)
    for name in ("utils", "resources"):
        directory = os.path.join(code_dir, name)
        if not os.path.isdir(directory):
            continue
        if os.path.isfile(os.path.join(directory, "__init__.py")):
            sys.modules.pop(name, None)
            continue
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [directory]
        sys.modules[name] = importlib.util.module_from_spec(spec)


def catalog(cache_dir=None, code_dir=None):
    """The whole catalog (core's LayerCatalog)."""
    import platform

    import torch

    layers = dict(cached_torch_layers(cache_dir))
    custom, errors = custom_layers(code_dir)
    layers.update(custom)
    return {
        "python": "%s %s" % (sys.executable, platform.python_version()),
        "torchVersion": torch.__version__,
        "layers": layers,
        "errors": errors,
    }
