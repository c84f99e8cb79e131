"""A plain ``nn.Module`` class turned into an architecture (``resources/<Name>.json``) with torch.fx.

The module is built with the given constructor arguments and traced symbolically. torch.nn layers become layers
(their constructor arguments read back from the instance and checked by building the layer again and comparing
it), additions and concatenations become ``Add`` and ``Concat``, flattening and ReLU written as functions become
their layers, and the traced graph's inputs and outputs become Input layers and outputs. What cannot be traced
(control flow that depends on the data) or has no layer (another function, a parameter used directly, ``view``)
is refused with the reason and the code it comes from. The result is checked: the architecture, run with the
original weights, must compute what the module computes.
"""

import inspect
import operator
import re

from .graph import ArchitectureError

_MERGES = {operator.add: "Add"}
_RESERVED = {"self", "torch", "nn", "utils", "resources", "super", "training", "forward", "input_shapes"}


class ImportRefused(ArchitectureError):
    """The module cannot be an architecture; the message says why."""


def _where(node):
    stack = node.meta.get("stack_trace") if hasattr(node, "meta") else None
    if not stack:
        return ""
    lines = [ln.strip() for ln in stack.strip().splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("File "):
            code = lines[i + 1] if i + 1 < len(lines) else ""
            return " (%s: %s)" % (lines[i], code)
    return ""


def _json_value(value, what):
    import torch

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list, torch.Size)):
        return [_json_value(v, what) for v in value]
    raise ImportRefused("%s is %r, which a layer's attributes cannot hold" % (what, value))


def layer_arguments(module):
    """The constructor arguments a torch.nn layer was built with, read back from the instance (defaults left
    out), checked by building it again: the same class, parameters, buffers and repr."""
    import torch

    cls = type(module)
    signature = inspect.signature(cls.__init__)
    arguments = {}
    for param in list(signature.parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in ("device", "dtype"):
            continue
        name = param.name
        value: object
        if name == "bias" and hasattr(module, "bias") and not isinstance(getattr(module, "bias"), bool):
            value = module.bias is not None
        elif name == "affine" and not hasattr(module, "affine") and hasattr(module, "elementwise_affine"):
            value = module.elementwise_affine
        elif hasattr(module, name):
            value = getattr(module, name)
            if isinstance(value, torch.Tensor):
                raise ImportRefused("%s's argument %s is a tensor" % (cls.__name__, name))
        elif param.default is not inspect.Parameter.empty:
            continue
        else:
            raise ImportRefused("cannot read back the argument %s of %s from the module" % (name, cls.__name__))
        value = _json_value(value, "%s's argument %s" % (cls.__name__, name))
        if isinstance(value, list) and len(value) > 1 and all(v == value[0] for v in value) and isinstance(value[0], int):
            value = value[0]  # (3, 3) as PyTorch keeps it is 3 as one writes it; the rebuild below checks
        default = param.default
        if default is not inspect.Parameter.empty:
            try:
                if value == _json_value(default, name):
                    continue
            except ImportRefused:
                pass
        arguments[name] = value
    rebuilt = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in arguments.items()})
    same = repr(rebuilt) == repr(module) and {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()} == {
        k: tuple(v.shape) for k, v in module.state_dict().items()
    }
    if not same:
        raise ImportRefused(
            "%s cannot be rebuilt from its arguments (%s was built otherwise)" % (cls.__name__, repr(module))
        )
    return arguments


def _layer_id(text, taken):
    base = re.sub(r"\W", "_", text).strip("_") or "layer"
    if base[0].isdigit():
        base = "layer_" + base
    if base in _RESERVED:
        base += "_"
    name, i = base, 2
    while name in taken:
        name = "%s_%d" % (base, i)
        i += 1
    taken.add(name)
    return name


def import_module(cls, name, input_shapes, arguments=None):
    """The architecture of ``cls(**arguments)`` (see the module's doc); ``input_shapes`` gives each of forward's
    tensors its shape (by argument name). Returns ``(architecture, notes)``."""
    import torch
    import torch.fx
    import torch.nn as nn
    import torch.nn.functional as F

    try:
        module = cls(**(arguments or {}))
    except Exception as exc:
        raise ImportRefused("%s(...) raised %s: %s" % (cls.__name__, type(exc).__name__, exc))
    module.eval()
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportRefused("torch.fx cannot trace %s: %s" % (cls.__name__, first))

    functions = {
        torch.cat: "Concat",
        torch.flatten: "Flatten",
        torch.relu: "ReLU",
        F.relu: "ReLU",
        torch.add: "Add",
        operator.add: "Add",
        operator.getitem: "Select",
    }
    methods = {"flatten": "Flatten", "relu": "ReLU"}
    taken: set[str] = set()
    ids: dict[object, str] = {}
    layers: list[dict[str, object]] = []
    edges: list[dict[str, str]] = []
    outputs: list[str] = []
    placeholders = 0

    def inputs_of(node, values):
        out = []
        for v in values:
            if not isinstance(v, torch.fx.Node):
                raise ImportRefused(
                    "%s takes %r besides tensors, which no layer can%s" % (node.name, v, _where(node))
                )
            out.append(ids[v])
        return out

    for node in traced.graph.nodes:
        if node.op == "placeholder":
            # By forward's argument name, or by position ("0", "1", …).
            shape = input_shapes.get(node.target, input_shapes.get(str(placeholders)))
            placeholders += 1
            if shape is None:
                raise ImportRefused("no shape for forward's argument %s: give it (e.g. N,1,28,28)" % node.target)
            ids[node] = _layer_id(node.target, taken)
            layers.append({"id": ids[node], "layer": "Input", "shape": list(shape)})
            continue
        if node.op == "output":
            result = node.args[0]
            for r in result if isinstance(result, (tuple, list)) else [result]:
                if not isinstance(r, torch.fx.Node) or r not in ids:
                    raise ImportRefused("forward returns %r, not tensors of layers" % (r,))
                outputs.append(ids[r])
            continue
        if node.op == "call_module":
            sub = traced.get_submodule(node.target)
            sub_cls = type(sub)
            if getattr(nn, sub_cls.__name__, None) is not sub_cls:
                raise ImportRefused(
                    "%s (%s.%s) is not a torch.nn layer and was not traced into%s"
                    % (node.target, sub_cls.__module__, sub_cls.__name__, _where(node))
                )
            if node.kwargs:
                raise ImportRefused("%s is called with keyword arguments%s" % (node.target, _where(node)))
            ids[node] = _layer_id(node.target, taken)
            layer: dict[str, object] = {"id": ids[node], "layer": sub_cls.__name__}
            args = layer_arguments(sub)
            if args:
                layer["attributes"] = args
            layers.append(layer)
            for src in inputs_of(node, node.args):
                edges.append({"from": src, "to": ids[node]})
            continue
        kind = None
        if node.op == "call_function":
            kind = functions.get(node.target)
        elif node.op == "call_method":
            kind = methods.get(node.target)
        if kind is None:
            what = getattr(node.target, "__name__", node.target)
            raise ImportRefused(
                "%s %s has no layer to stand for it%s" % (node.op.replace("_", " "), what, _where(node))
            )
        ids[node] = _layer_id(node.name, taken)
        layer = {"id": ids[node], "layer": kind}
        args = list(node.args)
        kwargs = dict(node.kwargs)
        if kind == "Concat":
            tensors = args[0]
            dim = args[1] if len(args) > 1 else kwargs.pop("dim", 0)
            if kwargs:
                raise ImportRefused("torch.cat with %s%s" % (sorted(kwargs), _where(node)))
            layer["attributes"] = {"dim": dim}
            sources = inputs_of(node, tensors)
        elif kind == "Flatten":
            start = args[1] if len(args) > 1 else kwargs.pop("start_dim", 0)
            end = args[2] if len(args) > 2 else kwargs.pop("end_dim", -1)
            attributes = {}
            if start != 1:
                attributes["start_dim"] = start
            if end != -1:
                attributes["end_dim"] = end
            if attributes:
                layer["attributes"] = attributes
            sources = inputs_of(node, args[:1])
        elif kind == "Select":
            index = args[1] if len(args) > 1 else None
            if not isinstance(index, int) or isinstance(index, bool):
                raise ImportRefused("indexing with %r is not picking one result%s" % (index, _where(node)))
            layer["attributes"] = {"index": index}
            sources = inputs_of(node, args[:1])
        elif kind == "ReLU":
            if kwargs.get("inplace"):
                layer["attributes"] = {"inplace": True}
            sources = inputs_of(node, args[:1])
        else:  # Add
            if kwargs or len(args) != 2:
                raise ImportRefused("an addition of %d values%s" % (len(args), _where(node)))
            sources = inputs_of(node, args)
        layers.append(layer)
        for src in sources:
            edges.append({"from": src, "to": ids[node]})

    doc = (inspect.getdoc(cls) or "").strip().splitlines()
    arch = {"name": name, "layers": layers, "edges": edges, "outputs": outputs}
    if doc:
        arch["description"] = "Imported from %s.%s: %s" % (cls.__module__, cls.__name__, doc[0])
    else:
        arch["description"] = "Imported from %s.%s." % (cls.__module__, cls.__name__)
    _check_same(module, traced, arch, ids, input_shapes)
    return arch


def _check_same(module, traced, arch, ids, input_shapes):
    """The architecture with the module's weights computes what the module does (on a small random input)."""
    import torch

    from .graph import ArchitectureModule

    built = ArchitectureModule(arch, {arch["name"]: arch})
    renamed = {}
    by_target = {node.target: ids[node] for node in traced.graph.nodes if node.op == "call_module"}
    for key, value in module.state_dict().items():
        prefix, _, rest = key.rpartition(".")
        target = next((t for t in sorted(by_target, key=len, reverse=True) if key.startswith(t + ".")), None)
        if target is None:
            raise ImportRefused("the weight %s belongs to no layer" % key)
        renamed[by_target[target] + key[len(target) :]] = value
    built.load_state_dict(renamed, strict=True)
    built.eval()
    sizes: dict[str, int] = {}
    inputs = []
    for layer in arch["layers"]:
        if layer["layer"] != "Input":
            continue
        shape = [sizes.setdefault(d, 2) if isinstance(d, str) else d for d in layer["shape"]]
        inputs.append(torch.rand(shape, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        expected = module(*inputs)
        got = built(*inputs)
    pairs = zip(expected, got) if isinstance(expected, tuple) else [(expected, got)]
    for a, b in pairs:
        if a.shape != b.shape or not torch.allclose(a, b, atol=1e-5):
            raise ImportRefused("the architecture does not compute what the module does (checked on a random input)")
