"""Architectures run straight from their JSON (``resources/<name>.json``), and shape inference on them.

:class:`ArchitectureModule` builds an architecture's layers and runs them in graph order; it is what nested
architectures become during shape inference. Operations get the generated module instead (core's
architecture.codegen.ts), which computes the same thing as readable code; the tests hold the two together.

:func:`infer` builds every layer on the ``meta`` device (no memory for weights), runs the graph once on meta
tensors of the declared input shapes and reports, per layer, the shape of its output and its parameter count,
or PyTorch's own error on the layer that raised. Symbolic dimensions (``"N"``) are run with two different sizes,
so a dimension that follows the symbol is shown as the symbol.
"""

import collections
import contextlib
import importlib
import json
import re

INPUT, ADD, CONCAT, SELECT = "Input", "Add", "Concat", "Select"
#: Layers computed in forward itself, with no module.
INLINE = (ADD, CONCAT, SELECT)
RESOURCE_PREFIX = "resources."
CUSTOM_PREFIX = "utils."
MAX_NESTING = 16

# Distinct primes no layer is likely to produce by itself, one per symbolic dimension, for each of two runs.
_SIZES_A = (7919, 7907, 7901, 7883, 7877, 7873, 7867, 7853)
_SIZES_B = (5023, 5011, 5009, 5003, 4999, 4993, 4987, 4973)

#: Arguments that the input's shape determines, with the dimension they read (``None``: channel dimension).
_SHAPE_ARGUMENTS = {
    "Linear": ("in_features", -1),
    "Conv1d": ("in_channels", None),
    "Conv2d": ("in_channels", None),
    "Conv3d": ("in_channels", None),
    "ConvTranspose1d": ("in_channels", None),
    "ConvTranspose2d": ("in_channels", None),
    "ConvTranspose3d": ("in_channels", None),
    "BatchNorm1d": ("num_features", None),
    "BatchNorm2d": ("num_features", None),
    "BatchNorm3d": ("num_features", None),
    "InstanceNorm1d": ("num_features", None),
    "InstanceNorm2d": ("num_features", None),
    "InstanceNorm3d": ("num_features", None),
    "GroupNorm": ("num_channels", None),
}
#: How many dimensions an unbatched input of these has (so the channel is dimension 0 then, 1 otherwise).
_UNBATCHED_DIMS = {"1d": 2, "2d": 3, "3d": 4}


class ArchitectureError(Exception):
    """An architecture that cannot be built, naming the layer."""

    def __init__(self, message, layer=None):
        super().__init__(message)
        self.layer = layer


def layer_inputs(arch):
    inputs: dict[str, list[str]] = {layer["id"]: [] for layer in arch["layers"]}
    for edge in arch["edges"]:
        if edge["to"] in inputs:
            inputs[edge["to"]].append(edge["from"])
    return inputs


def graph_order(arch):
    """Layer ids in the order forward computes them (ties in file order, like core's architectureOrder)."""
    ids = [layer["id"] for layer in arch["layers"]]
    position = {lid: i for i, lid in enumerate(ids)}
    indegree = {lid: 0 for lid in ids}
    following: dict[str, list[str]] = {lid: [] for lid in ids}
    for edge in arch["edges"]:
        if edge["from"] in indegree and edge["to"] in indegree:
            indegree[edge["to"]] += 1
            following[edge["from"]].append(edge["to"])
    ready = [lid for lid in ids if indegree[lid] == 0]
    order = []
    while ready:
        lid = ready.pop(0)
        order.append(lid)
        added = False
        for nxt in following[lid]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
                added = True
        if added:
            ready.sort(key=position.__getitem__)
    if len(order) != len(ids):
        stuck = next(lid for lid in ids if lid not in set(order))
        raise ArchitectureError("%s: layer %r is part of a cycle" % (arch["name"], stuck), stuck)
    return order


def python_value(value):
    """A JSON attribute value as the generated code writes it: lists become tuples."""
    if isinstance(value, list):
        return tuple(python_value(v) for v in value)
    if isinstance(value, dict):
        return {k: python_value(v) for k, v in value.items()}
    return value


def layer_class(name):
    """The class a layer names: torch.nn's, or a custom layer's from the project's utils."""
    import torch.nn as nn

    if name.startswith(CUSTOM_PREFIX):
        module_name, _, attr = name.rpartition(".")
        module = importlib.import_module(module_name)
        cls = getattr(module, attr, None)
        if cls is None:
            raise ArchitectureError("unknown layer class %r: %s defines no %s" % (name, module_name, attr))
        return cls
    cls = getattr(nn, name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise ArchitectureError("unknown layer class %r: not a torch.nn module" % name)
    return cls


def build_layer(layer, resources, depth=0):
    name = layer["layer"]
    if name.startswith(RESOURCE_PREFIX):
        target = name[len(RESOURCE_PREFIX) :]
        if target not in resources:
            raise ArchitectureError("uses architecture %r, which does not exist in resources/" % target)
        if depth + 1 >= MAX_NESTING:
            raise ArchitectureError("architectures nest deeper than %d levels" % MAX_NESTING)
        return ArchitectureModule(resources[target], resources, depth + 1)
    cls = layer_class(name)
    return cls(**{k: python_value(v) for k, v in layer.get("attributes", {}).items()})


def merge(kind, values, attributes):
    import torch

    if kind == SELECT:
        return values[0][attributes.get("index", 0)]
    if kind == ADD:
        total = values[0]
        for v in values[1:]:
            total = total + v
        return total
    return torch.cat(list(values), dim=attributes.get("dim", 1))


def _module_class():
    import torch.nn as nn

    class ArchitectureModule(nn.Module):
        """An architecture built from its JSON; ``forward`` takes its Input layers' tensors in file order."""

        def __init__(self, arch, resources, depth=0):
            super().__init__()
            self.architecture_name = arch["name"]
            self._order = graph_order(arch)
            self._inputs = layer_inputs(arch)
            self._layers = {layer["id"]: layer for layer in arch["layers"]}
            self._input_ids = [layer["id"] for layer in arch["layers"] if layer["layer"] == INPUT]
            self._outputs = list(arch["outputs"])
            for lid in self._order:
                layer = self._layers[lid]
                if layer["layer"] == INPUT or layer["layer"] in INLINE:
                    continue
                try:
                    self.add_module(lid, build_layer(layer, resources, depth))
                except ArchitectureError as exc:
                    raise ArchitectureError("%s: layer %r (%s): %s" % (arch["name"], lid, layer["layer"], exc), lid)

        def forward(self, *args):
            values = dict(zip(self._input_ids, args))
            for lid in self._order:
                layer = self._layers[lid]
                if layer["layer"] == INPUT:
                    continue
                ins = [values[i] for i in self._inputs[lid]]
                if layer["layer"] in INLINE:
                    values[lid] = merge(layer["layer"], ins, layer.get("attributes", {}))
                else:
                    try:
                        values[lid] = getattr(self, lid)(*ins)
                    except Exception as exc:
                        raise type(exc)("in %s, layer %r (%s): %s" % (self.architecture_name, lid, layer["layer"], exc))
            result = [values[o] for o in self._outputs]
            return result[0] if len(result) == 1 else tuple(result)

    return ArchitectureModule


_CLASS = None


def ArchitectureModule(arch, resources, depth=0):  # noqa: N802 - builds an instance, like a class
    global _CLASS
    if _CLASS is None:
        _CLASS = _module_class()
    return _CLASS(arch, resources, depth)


# ---------------------------------------------------------------------------------------------------------
# meta device


@contextlib.contextmanager
def meta_device():
    """Everything created inside (parameters, buffers, tensors without a device) lives on the meta device."""
    import torch

    device = torch.device("meta")
    if hasattr(device, "__enter__"):  # torch >= 2.0
        with device:  # type: ignore[attr-defined]  # a context manager from torch 2.0; typed against 1.13 here
            yield
        return
    from torch.overrides import TorchFunctionMode

    factories = {
        torch.empty,
        torch.empty_strided,
        torch.zeros,
        torch.ones,
        torch.full,
        torch.rand,
        torch.randn,
        torch.randint,
        torch.arange,
        torch.eye,
        torch.tensor,
        torch.linspace,
    }

    class _Meta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    with _Meta():
        yield


# ---------------------------------------------------------------------------------------------------------
# shape inference


def _shape_of(value):
    import torch

    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, (tuple, list)):
        return [_shape_of(v) for v in value]
    return None


def _merge_shapes(a, b, symbols):
    """One shape from the two runs: equal sizes stay, sizes that follow a symbol become it, others ``"?"``."""
    if a is None or b is None:
        return None
    if a and isinstance(a[0], list):
        return [_merge_shapes(x, y, symbols) for x, y in zip(a, b)]
    out = []
    for x, y in zip(a, b):
        if x == y:
            out.append(x)
            continue
        name = next((s for s, (va, vb) in symbols.items() if va == x and vb == y), None)
        out.append(name if name is not None else "?")
    return out


def _readable(message, symbols):
    for name, (a, _) in symbols.items():
        message = re.sub(r"(?<!\d)%d(?!\d)" % a, name, message)
    return message.strip().splitlines()[0] if message.strip() else message


def _count(module):
    total = trainable = 0
    try:
        for p in module.parameters():
            n = p.numel()
            total += n
            if p.requires_grad:
                trainable += n
    except Exception:
        return None, None
    return total, trainable


def _suggestion(layer, ins_a, ins_b):
    """The argument value the input's shape determines, when the layer has it set otherwise."""
    import torch

    rule = _SHAPE_ARGUMENTS.get(layer["layer"])
    if rule is None or len(ins_a) != 1 or not isinstance(ins_a[0], torch.Tensor):
        return None
    argument, dim = rule
    shape_a, shape_b = list(ins_a[0].shape), list(ins_b[0].shape) if ins_b else None
    if not shape_a:
        return None
    if dim is None:
        suffix = layer["layer"][-2:]
        unbatched = _UNBATCHED_DIMS.get(suffix)
        dim = 0 if unbatched is not None and len(shape_a) == unbatched else 1
        if layer["layer"] == "GroupNorm" or len(shape_a) < 2:
            dim = 1 if len(shape_a) >= 2 else 0
    value = shape_a[dim]
    if shape_b is not None and len(shape_b) == len(shape_a) and shape_b[dim] != value:
        return None  # the size follows a symbolic dimension: no single value fits
    if layer.get("attributes", {}).get(argument) == value:
        return None
    return {"argument": argument, "value": int(value)}


#: Above these, a failing layer is not run again on the CPU for a better message (memory and time).
_CPU_RETRY_MAX_PARAMETERS = 20_000_000
_CPU_RETRY_MAX_ELEMENTS = 20_000_000


def _cpu_message(layer, ins, parameters, resources):
    """PyTorch's message for the layer run on the CPU, when it is small enough: the meta device's kernels
    check less and say less ("Invalid channel dimensions" where the CPU says which shapes disagree)."""
    import torch

    if layer["layer"] in INLINE or not ins or parameters is None:
        return None
    if parameters > _CPU_RETRY_MAX_PARAMETERS:
        return None
    if not all(isinstance(t, torch.Tensor) for t in ins) or sum(t.numel() for t in ins) > _CPU_RETRY_MAX_ELEMENTS:
        return None
    try:
        module = build_layer(layer, resources)
        with torch.no_grad():
            module(*[torch.zeros(t.shape, dtype=t.dtype) for t in ins])
    except Exception as exc:
        return str(exc)
    return None


# What PyTorch computed for a torch.nn layer depends only on its class, its arguments and the shapes and dtypes
# of its inputs (on the meta device there are no values), so it is remembered across requests of the serving
# Python: after an edit, only the edited layer and those after it are built and run again. Custom layers and
# nested architectures (their code can change between requests) are always run.
_MEMO_MAX = 4096
_COUNTS: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
_FORWARDS: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()


def _memo_get(memo, key):
    value = memo.get(key)
    if value is not None:
        memo.move_to_end(key)
    return value


def _memo_put(memo, key, value):
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > _MEMO_MAX:
        memo.popitem(last=False)


def _layer_key(layer):
    name = layer["layer"]
    if name.startswith((CUSTOM_PREFIX, RESOURCE_PREFIX)):
        return None
    try:
        return (name, json.dumps(layer.get("attributes", {}), sort_keys=True))
    except (TypeError, ValueError):
        return None


def _forward_key(layer, ins):
    key = _layer_key(layer)
    if key is None:
        return None
    shapes = tuple(_skeleton(v) for v in ins)
    if any(s is None for s in shapes):
        return None
    return key + shapes


def _skeleton(value):
    """A hashable description of a layer's result (tensors by shape and dtype), or None when it has parts that
    cannot be made again from one (anything but tensors, plain tuples and lists, and None)."""
    import torch

    if type(value) is torch.Tensor:
        return ("tensor", tuple(value.shape), str(value.dtype).replace("torch.", ""))
    if type(value) in (tuple, list):
        parts = tuple(_skeleton(v) for v in value)
        if any(p is None for p in parts):
            return None
        return (type(value).__name__, parts)
    if value is None:
        return ("none",)
    return None


def _rebuild(skeleton):
    import torch

    kind = skeleton[0]
    if kind == "tensor":
        return torch.empty(skeleton[1], dtype=getattr(torch, skeleton[2]), device="meta")
    if kind == "none":
        return None
    parts = [_rebuild(p) for p in skeleton[1]]
    return tuple(parts) if kind == "tuple" else parts


def infer(arch, resources):
    """Shapes and parameter counts of ``arch`` (a dict as in resources/<name>.json); see the module's doc.

    Returns ``{"ok", "layers": [...], "edges": [...], "outputs": [...], "total": {...}}``; each layer has
    ``outputShape`` (null when it did not run), ``parameters``, ``trainable``, and on failure ``error`` with
    PyTorch's message (and ``fix`` when the shapes determine an argument).
    """
    import torch

    order = graph_order(arch)
    layers = {layer["id"]: layer for layer in arch["layers"]}
    inputs = layer_inputs(arch)
    report = {lid: {"id": lid, "layer": layers[lid]["layer"], "outputShape": None} for lid in order}

    symbols: dict[str, tuple[int, int]] = {}
    for lid in order:
        layer = layers[lid]
        if layer["layer"] == INPUT:
            for d in layer.get("shape") or []:
                if isinstance(d, str) and d not in symbols:
                    i = len(symbols)
                    if i >= len(_SIZES_A):
                        raise ArchitectureError("more than %d symbolic dimensions" % len(_SIZES_A), lid)
                    symbols[d] = (_SIZES_A[i], _SIZES_B[i])

    modules, build_errors = {}, {}

    def module_of(lid):
        """The layer's module, built on first use; None when building it raised (the error is reported)."""
        if lid not in modules and lid not in build_errors:
            layer = layers[lid]
            try:
                modules[lid] = build_layer(layer, resources)
            except Exception as exc:
                build_errors[lid] = exc
                report[lid]["error"] = "%s(...) raised %s: %s" % (layer["layer"], type(exc).__name__, _readable(str(exc), symbols))
        return modules.get(lid)

    with torch.no_grad(), meta_device():
        for lid in order:
            layer = layers[lid]
            if layer["layer"] == INPUT or layer["layer"] in INLINE:
                continue
            key = _layer_key(layer)
            counts = _memo_get(_COUNTS, key) if key is not None else None
            if counts is None:
                module = module_of(lid)
                if module is None:
                    continue
                counts = _count(module)
                if key is not None and counts[0] is not None:
                    _memo_put(_COUNTS, key, counts)
            report[lid]["parameters"], report[lid]["trainable"] = counts

        runs = []
        for which in (0, 1):
            values, errors, ins_seen = {}, {}, {}
            for lid in order:
                layer = layers[lid]
                if layer["layer"] == INPUT:
                    shape = [symbols[d][which] if isinstance(d, str) else d for d in layer.get("shape") or []]
                    values[lid] = torch.empty(shape, device="meta")
                    continue
                if any(i not in values for i in inputs[lid]) or not inputs[lid] or lid in build_errors:
                    continue
                ins = [values[i] for i in inputs[lid]]
                ins_seen[lid] = ins
                key = _forward_key(layer, ins)
                known = _memo_get(_FORWARDS, key) if key is not None else None
                if known is not None:
                    values[lid] = _rebuild(known)
                    continue
                try:
                    if layer["layer"] in INLINE:
                        out = merge(layer["layer"], ins, layer.get("attributes", {}))
                    else:
                        module = module_of(lid)
                        if module is None:
                            continue
                        out = module(*ins)
                except Exception as exc:
                    errors[lid] = exc
                    continue
                values[lid] = out
                if key is not None:
                    skeleton = _skeleton(out)
                    if skeleton is not None:
                        _memo_put(_FORWARDS, key, skeleton)
            runs.append((values, errors, ins_seen))

    (values_a, errors_a, ins_a), (values_b, _, ins_b) = runs
    for lid in order:
        entry = report[lid]
        if lid in errors_a:
            error = errors_a[lid]
            message = _cpu_message(layers[lid], ins_a.get(lid, []), entry.get("parameters"), resources)
            entry["error"] = _readable(message or "%s" % error, symbols) or type(error).__name__
            fix = _suggestion(layers[lid], ins_a.get(lid, []), ins_b.get(lid))
            if fix is not None:
                entry["fix"] = fix
        if lid in values_a:
            entry["outputShape"] = _merge_shapes(_shape_of(values_a[lid]), _shape_of(values_b.get(lid)), symbols)
        if lid in ins_a:
            entry["inputShapes"] = [
                _merge_shapes(_shape_of(a), _shape_of(b), symbols)
                for a, b in zip(ins_a[lid], ins_b.get(lid, ins_a[lid]))
            ]
        if "error" not in entry and entry["outputShape"] is None and layers[lid]["layer"] != INPUT:
            entry["skipped"] = True
    first_error = next((lid for lid in order if "error" in report[lid]), None)
    total = sum(e.get("parameters") or 0 for e in report.values())
    trainable = sum(e.get("trainable") or 0 for e in report.values())
    edges = [
        {"from": e["from"], "to": e["to"], "shape": report[e["from"]]["outputShape"] if e["from"] in report else None}
        for e in arch["edges"]
    ]
    return {
        "ok": first_error is None and all(report[o]["outputShape"] is not None for o in arch["outputs"] if o in report),
        "firstError": first_error,
        "layers": [report[lid] for lid in order],
        "edges": edges,
        "outputs": [{"id": o, "shape": report[o]["outputShape"] if o in report else None} for o in arch["outputs"]],
        "total": {"parameters": total, "trainable": trainable},
    }
