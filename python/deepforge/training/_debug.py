"""Viserion's printDebug / printWarning / printError.

``print_debug`` prints only in debug mode: while a ``Trainer(debug=True)`` is fitting, after
``set_debug(True)``, or when the environment has ``DEEPFORGE_DEBUG=1``. Warnings and errors always print
(to stderr). Inside a DeepForge job every line lands in the operation's console.
"""

import os
import sys
import threading

__all__ = ["print_debug", "print_warning", "print_error", "set_debug", "is_debug", "describe"]

_state = threading.local()
_global = {"debug": os.environ.get("DEEPFORGE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")}
_prefix = {"text": ""}


def set_debug(enabled=True):
    """Turn debug printing on or off for the whole process; returns the previous setting."""
    previous = _global["debug"]
    _global["debug"] = bool(enabled)
    return previous


def is_debug():
    """True when :func:`print_debug` prints."""
    return _global["debug"]


def set_line_prefix(text):
    """A prefix for every line (``[rank 1] `` in a distributed worker)."""
    _prefix["text"] = text


def _emit(stream, tag, args, sep, end):
    text = sep.join(str(a) for a in args)
    lines = text.split("\n") or [""]
    out = "".join("%s[%s] %s\n" % (_prefix["text"], tag, line) for line in lines)
    if end != "\n":
        out = out[:-1] + end
    try:
        stream.write(out)
        stream.flush()
    except Exception:  # a closed console must not break training
        pass


def print_debug(*args, sep=" ", end="\n"):
    """Print (to stdout, prefixed ``[debug]``) only in debug mode."""
    if _global["debug"]:
        _emit(sys.stdout, "debug", args, sep, end)


def print_warning(*args, sep=" ", end="\n"):
    """Print a warning (to stderr, prefixed ``[warning]``), always."""
    _emit(sys.stderr, "warning", args, sep, end)


def print_error(*args, sep=" ", end="\n"):
    """Print an error (to stderr, prefixed ``[error]``), always. It does not stop anything by itself."""
    _emit(sys.stderr, "error", args, sep, end)


def shape_of(value):
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    return "[%s]" % ", ".join(str(int(n)) for n in shape)


def describe(value, stats=False, depth=0):
    """A one-line description of a tensor / array / nested batch: dtype, shape, device (and value range)."""
    try:
        import torch

        is_tensor = isinstance(value, torch.Tensor)
    except ImportError:  # pragma: no cover - the library needs torch anyway
        is_tensor = False
    if is_tensor:
        text = "%s %s on %s" % (str(value.dtype).replace("torch.", ""), shape_of(value), value.device)
        if stats and value.numel() > 0:
            with torch.no_grad():
                v = value.detach()
                if v.is_floating_point():
                    f = v.float()
                    text += " (min %.4g, max %.4g, mean %.4g, std %.4g)" % (
                        f.min().item(),
                        f.max().item(),
                        f.mean().item(),
                        f.std().item() if f.numel() > 1 else 0.0,
                    )
                elif v.dtype != torch.bool:
                    text += " (values %d..%d)" % (v.min().item(), v.max().item())
        return text
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # numpy
        return "numpy %s %s" % (value.dtype, shape_of(value))
    if isinstance(value, (list, tuple)) and depth < 3:
        inner = ", ".join(describe(v, stats, depth + 1) for v in value[:6])
        more = ", …" if len(value) > 6 else ""
        return "%s(%s%s)" % (type(value).__name__, inner, more)
    if isinstance(value, dict) and depth < 3:
        inner = ", ".join("%s: %s" % (k, describe(v, stats, depth + 1)) for k, v in list(value.items())[:6])
        return "{%s}" % inner
    text = repr(value)
    return "%s %s" % (type(value).__name__, text if len(text) < 60 else text[:57] + "...")
