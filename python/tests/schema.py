"""A strict mirror of RuntimeEventSchema (packages/protocol/src/runtime-events.ts) for the tests.

Unknown keys are errors (the TypeScript side uses z.strictObject), and so are NaN / infinities (not JSON).
test_protocol_zod.py cross-checks the same events against the real zod schema when node is available.
"""

import math

V = 1


_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class SchemaError(AssertionError):
    pass


def _fail(path, message):
    raise SchemaError("%s: %s" % (path, message))


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v):
    return _is_number(v) and float(v).is_integer()


def _check(value, shape, path):
    kind = shape[0]
    if kind == "str":
        if not isinstance(value, str):
            _fail(path, "expected a string, got %r" % (value,))
    elif kind == "hex64":
        if not isinstance(value, str) or len(value) != 64 or value.strip("0123456789abcdef"):
            _fail(path, "expected 64 lowercase hex digits, got %r" % (value,))
    elif kind == "contentid":
        scheme, _, hex_part = value.partition(":") if isinstance(value, str) else ("", "", "")
        if scheme not in ("sha256", "sha256t") or len(hex_part) != 64 or hex_part.strip("0123456789abcdef"):
            _fail(path, "expected sha256: or sha256t: and 64 lowercase hex digits, got %r" % (value,))
    elif kind == "base64":
        if not isinstance(value, str) or len(value) % 4 or value.rstrip("=").strip(_BASE64) or value.count("=") > 2:
            _fail(path, "expected base64, got %r" % (value[:40] if isinstance(value, str) else value,))
    elif kind == "num":
        if not _is_number(value):
            _fail(path, "expected a number, got %r" % (value,))
    elif kind == "int":
        if not _is_int(value):
            _fail(path, "expected an integer, got %r" % (value,))
    elif kind == "bool":
        if not isinstance(value, bool):
            _fail(path, "expected a boolean, got %r" % (value,))
    elif kind == "lit":
        if value != shape[1] or isinstance(value, bool) != isinstance(shape[1], bool):
            _fail(path, "expected %r, got %r" % (shape[1], value))
    elif kind == "enum":
        if value not in shape[1]:
            _fail(path, "expected one of %r, got %r" % (shape[1], value))
    elif kind == "nullable":
        if value is not None:
            _check(value, shape[1], path)
    elif kind == "array":
        if not isinstance(value, list):
            _fail(path, "expected an array")
        for i, item in enumerate(value):
            _check(item, shape[1], "%s[%d]" % (path, i))
    elif kind == "tuple":
        if not isinstance(value, list) or len(value) != len(shape[1]):
            _fail(path, "expected a tuple of %d" % len(shape[1]))
        for i, (item, sub) in enumerate(zip(value, shape[1])):
            _check(item, sub, "%s[%d]" % (path, i))
    elif kind == "record":
        if not isinstance(value, dict):
            _fail(path, "expected an object")
        for k, item in value.items():
            _check(item, shape[1], "%s.%s" % (path, k))
    elif kind == "obj":
        if not isinstance(value, dict):
            _fail(path, "expected an object, got %r" % (value,))
        fields = shape[1]
        for key in value:
            if key not in fields:
                _fail(path, "unknown key %r" % key)
        for key, (sub, optional) in fields.items():
            if key not in value:
                if not optional:
                    _fail(path, "missing key %r" % key)
                continue
            _check(value[key], sub, "%s.%s" % (path, key))
    else:  # pragma: no cover
        raise ValueError(kind)


def R(shape):
    return (shape, False)


def O(shape):  # noqa: E743 - R(equired) and O(ptional) read as a pair in the tables below
    return (shape, True)


S, N, I, B = ("str",), ("num",), ("int",), ("bool",)
NUMS = ("array", ("nullable", N))

BASE = {"v": R(("lit", V)), "t": R(N)}

LINE = ("obj", {"label": O(S), "x": R(NUMS), "y": R(NUMS), "color": O(S), "style": O(S)})
SCATTER = ("obj", {"label": O(S), "x": R(NUMS), "y": R(NUMS), "z": O(NUMS), "color": O(S), "marker": O(S)})
IMAGE = ("obj", {"shape": R(("array", I)), "png": R(S), "cmap": O(S)})
RULE = ("obj", {"axis": R(("enum", ("x", "y"))), "value": R(N), "color": O(S), "label": O(S)})
AXES = (
    "obj",
    {
        "kind": R(("enum", ("2d", "3d"))),
        "row": O(I),
        "col": O(I),
        "title": O(S),
        "xlabel": O(S),
        "ylabel": O(S),
        "zlabel": O(S),
        "xlim": O(("tuple", (N, N))),
        "ylim": O(("tuple", (N, N))),
        "lines": R(("array", LINE)),
        "scatters": R(("array", SCATTER)),
        "images": R(("array", IMAGE)),
        "rules": R(("array", RULE)),
    },
)
FRAME = ("obj", {"file": R(S), "line": R(I), "function": R(S), "user": R(B)})

EVENTS = {
    "hello": {"runtime": R(S), "python": R(S), "pid": R(I)},
    "phase": {"phase": R(("enum", ("loading-inputs", "executing", "saving-outputs")))},
    "log": {"stream": R(("enum", ("stdout", "stderr"))), "text": R(S)},
    "plot": {
        "figure": R(I),
        "seq": R(I),
        "title": O(S),
        "svg": O(S),
        "png": O(S),
        "axes": R(("array", AXES)),
    },
    "metric": {"step": R(("nullable", N)), "values": R(("record", N))},
    "progress": {
        "bar": R(S),
        "desc": O(S),
        "n": R(N),
        "total": R(("nullable", N)),
        "unit": O(S),
        "rate": O(("nullable", N)),
        "done": O(B),
    },
    "output": {
        "name": R(S),
        "file": R(S),
        "serializer": R(S),
        "pyType": R(S),
        "size": R(I),
        "sha256": O(("hex64",)),
        "hash": O(("contentid",)),
        "data": O(("base64",)),
    },
    "error": {
        "kind": R(("enum", ("exception", "import", "bad-return", "serialization", "input", "spec"))),
        "message": R(S),
        "traceback": O(S),
        "frames": O(("array", FRAME)),
        "location": O(("obj", {"file": R(S), "line": R(I)})),
    },
    "usage": {
        "cpuSeconds": R(N),
        "peakRssBytes": R(I),
        "peakGpuBytes": O(I),
        "exitCode": O(I),
    },
}


def validate_event(event):
    if not isinstance(event, dict) or event.get("type") not in EVENTS:
        _fail("event", "unknown event type: %r" % (event,))
    fields = dict(BASE)
    fields["type"] = R(("lit", event["type"]))
    fields.update(EVENTS[event["type"]])
    _check(event, ("obj", fields), "event(%s)" % event["type"])
    if event["type"] == "plot" and ("svg" in event) == ("png" in event):
        _fail("event(plot)", "exactly one of svg / png")
    return event
