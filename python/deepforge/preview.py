"""What an artifact looks like, for the web IDE's artifact view: ``python -m deepforge.preview FILE``.

Loads the stored bytes with their serializer (``--serializer``, ``pickle`` by default; ``--code-dir`` holds the
project's code as a job has it: ``utils/``, ``serializers/`` and ``resources/`` importable, ``serializers/*.py``
registered first) and prints one JSON object on stdout:

- ``pyType``: the value's ``module.QualName`` (``builtins.int``, ``numpy.ndarray``, ``torch.Tensor``);
- numpy arrays and tensors: ``shape``, ``dtype``, ``min``/``max`` (finite values only; null when none);
- image-like arrays (H×W, H×W×{1,3,4} or a {1,3}×H×W tensor, at least 2×2): ``png``, base64;
- sequences and mappings: ``length``;
- always a short ``repr``.

A value that cannot be loaded gives ``{"pyType": "unknown", "error": …}`` and exit code 0: the preview of a
broken artifact is a message, not a failure. Bad usage exits 2.
"""

import argparse
import base64
import importlib
import json
import os
import reprlib
import struct
import sys
import zlib

__all__ = ["preview", "preview_value", "png_bytes"]

MAX_REPR = 1000
MAX_IMAGE_SIDE = 4096


def _type_name(value):
    t = type(value)
    module = t.__module__
    return t.__qualname__ if module in (None, "") else module + "." + t.__qualname__


def _short_repr(value):
    r = reprlib.Repr()
    r.maxstring = 200
    r.maxother = 200
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 20
    r.maxdict = 20
    try:
        text = r.repr(value)
    except Exception as exc:  # a __repr__ that raises is the value's problem, not the preview's
        text = "<unrepresentable %s: %s>" % (_type_name(value), exc)
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 1] + "…"


def png_bytes(pixels, width, height, channels):
    """A PNG of 8-bit pixels (rows top to bottom, ``channels`` 1 (grey), 3 (RGB) or 4 (RGBA))."""
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + bytes(pixels[y * stride : (y + 1) * stride]) for y in range(height))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def _as_numpy(value):
    """A numpy view of arrays and tensors; None for anything else."""
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        try:
            return value.detach().cpu().numpy(), True
        except Exception:
            return None, False
    if module.startswith("numpy"):
        try:
            import numpy as np

            if isinstance(value, np.ndarray):
                return value, False
        except ImportError:
            return None, False
    return None, False


def _image_of(arr, is_tensor):
    import numpy as np

    if arr.dtype.kind not in "biuf":
        return None
    img = arr
    if img.ndim == 3 and is_tensor and img.shape[0] in (1, 3) and img.shape[2] not in (1, 3, 4):
        img = np.transpose(img, (1, 2, 0))  # tensors are channels first
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        channels = 1
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        channels = img.shape[2]
    else:
        return None
    height, width = img.shape[0], img.shape[1]
    if height < 2 or width < 2 or height > MAX_IMAGE_SIDE or width > MAX_IMAGE_SIDE:
        return None
    if img.dtype == np.uint8:
        pixels = img
    else:
        data = img.astype(np.float64)
        finite = np.isfinite(data)
        if not finite.any():
            return None
        lo, hi = float(data[finite].min()), float(data[finite].max())
        scaled = (data - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(data)
        pixels = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
    pixels = np.ascontiguousarray(pixels)
    return base64.b64encode(png_bytes(pixels.tobytes(), width, height, channels)).decode("ascii")


def preview_value(value):
    """The preview (a JSON-ready dict) of a value in memory."""
    out = {"pyType": _type_name(value), "repr": _short_repr(value)}
    arr, is_tensor = _as_numpy(value)
    if arr is not None:
        import numpy as np

        out["shape"] = [int(n) for n in arr.shape]
        out["dtype"] = str(value.dtype) if is_tensor else str(arr.dtype)
        if arr.dtype.kind in "biuf" and arr.size > 0:
            data = arr.astype(np.float64) if arr.dtype.kind == "b" else arr
            finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data.ravel()
            out["min"] = float(finite.min()) if finite.size else None
            out["max"] = float(finite.max()) if finite.size else None
        png = _image_of(arr, is_tensor)
        if png is not None:
            out["png"] = png
        return out
    if isinstance(value, (list, tuple, dict, set, frozenset, str, bytes, bytearray)):
        out["length"] = len(value)
    return out


def _register_serializers(code_dir):
    # The job's own import rules (deepforge.harness): a serializer importing the project's utils, or a value of
    # an architecture's generated class, loads here as it does in a job.
    from deepforge.harness import make_code_importable

    code_dir = os.path.abspath(code_dir)
    make_code_importable(code_dir)
    directory = os.path.join(code_dir, "serializers")
    if not os.path.isdir(directory):
        return
    for filename in sorted(os.listdir(directory)):
        if not filename.endswith(".py") or filename == "__init__.py" or filename.startswith("."):
            continue
        importlib.import_module("serializers." + filename[:-3])


def preview(path, serializer="pickle", code_dir=None):
    """Loads a stored artifact and previews it; a value that cannot be loaded gives an ``error``."""
    try:
        if code_dir:
            _register_serializers(code_dir)
        from deepforge import serialization

        value = serialization.load_from(path, serializer)
    except Exception as exc:
        return {"pyType": "unknown", "error": "cannot load the artifact: %s: %s" % (type(exc).__name__, exc)}
    return preview_value(value)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m deepforge.preview", description=__doc__.split("\n")[0])
    parser.add_argument("file")
    parser.add_argument("--serializer", default="pickle")
    parser.add_argument("--code-dir", default=None)
    args = parser.parse_args(argv)
    if not os.path.isfile(args.file):
        print("no such file: %s" % args.file, file=sys.stderr)
        return 2
    result = preview(args.file, args.serializer, args.code_dir)
    sys.stdout.write(json.dumps(result, allow_nan=False))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
