"""What a ``plot`` event says about a figure: the rendered figure and the data of its axes.

Rendering: SVG (``svg``), unless the figure holds more than ``MAX_SVG_POINTS`` points / paths or an image
larger than ``MAX_SVG_IMAGE_PIXELS`` (rendered as PNG directly: such SVGs are both huge and slow to render),
or the SVG turns out larger than ``MAX_SVG_BYTES`` (~2 MB); then a PNG (``png``, base64) at the figure's dpi,
at most ``MAX_PNG_SIDE`` pixels a side.

Axes (colorbars and invisible axes left out), in ``fig.axes`` order:

- ``kind`` ``2d`` / ``3d``; ``row`` / ``col`` from the subplot spec (``plt.subplot(331)``, ``plt.subplots``);
- ``title``, ``xlabel``, ``ylabel``, ``zlabel``, ``xlim``, ``ylim`` (left out when empty / not finite);
- ``lines``: ``Line2D`` data (x, y; the x/y of 3D lines), label (not matplotlib's ``_child0`` names), hex
  color, style (linestyle + marker, e.g. ``-``, ``--o``, ``o``);
- ``scatters``: ``ax.scatter`` points (``z`` too on 3D axes, from ``_offsets3d``), label, hex color when all
  points share one, marker (recognised from the marker path: ``o``, ``^``, ``s``...);
- ``images``: ``imshow`` data: the shape as given, a PNG of the array as rendered (cmap and norm applied,
  flipped for ``origin='lower'``, downsampled to at most 256 px a side), the cmap name for 2D data;
- ``rules``: ``axvline`` / ``axhline``, recognised as lines whose transform is blended (data coordinates on
  one axis, axes coordinates on the other) and constant on the data axis: ``axis`` ``x`` for a vertical
  line at x = value, ``y`` for a horizontal one.

Series longer than ``MAX_SERIES_POINTS`` are subsampled evenly (first and last points kept). NaN and
infinities become ``null``.
"""

import base64
import io
import math
import struct
import zlib

import numpy as np
import matplotlib
from matplotlib import colors as mcolors
from matplotlib.collections import PathCollection
from matplotlib.image import AxesImage

MAX_SVG_BYTES = 2_000_000
MAX_SVG_POINTS = 20_000
MAX_SVG_IMAGE_PIXELS = 1024 * 1024
MAX_PNG_SIDE = 2000
MAX_SERIES_POINTS = 10_000
MAX_IMAGE_SIDE = 256


def figure_event(fig, num):
    """The fields of a ``plot`` event for ``fig`` (all but ``seq``, ``v``, ``t``, ``type``)."""
    stats = {"points": 0, "image_pixels": 0}
    axes = []
    for ax in fig.axes:
        if not ax.get_visible() or hasattr(ax, "_colorbar"):
            continue
        axes.append(axes_data(ax, stats))
    event: dict[str, object] = {"figure": int(num)}
    title = figure_title(fig)
    if title:
        event["title"] = title
    kind, payload = render(fig, stats)
    event[kind] = payload
    event["axes"] = axes
    return event


def figure_title(fig):
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_visible() and suptitle.get_text():
        return suptitle.get_text()
    label = fig.get_label()
    return label or None


# ---------------------------------------------------------------------------------------------------------
# rendering


def render(fig, stats):
    if stats["points"] <= MAX_SVG_POINTS and stats["image_pixels"] <= MAX_SVG_IMAGE_PIXELS:
        buf = io.BytesIO()
        with matplotlib.rc_context({"svg.hashsalt": "deepforge"}):
            fig.savefig(buf, format="svg", metadata={"Date": None})
        if buf.tell() <= MAX_SVG_BYTES:
            return "svg", buf.getvalue().decode("utf-8")
    buf = io.BytesIO()
    width, height = fig.get_size_inches()
    dpi = fig.dpi
    if max(width, height) * dpi > MAX_PNG_SIDE:
        dpi = MAX_PNG_SIDE / max(width, height)
    fig.savefig(buf, format="png", dpi=dpi)
    return "png", base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------------------------
# axes


def axes_data(ax, stats):
    is3d = getattr(ax, "name", "") == "3d"
    data: dict[str, object] = {"kind": "3d" if is3d else "2d"}
    spec = _subplotspec(ax)
    if spec is not None:
        data["row"] = int(spec.rowspan.start)
        data["col"] = int(spec.colspan.start)
    title = ax.get_title() or ax.get_title("left") or ax.get_title("right")
    if title:
        data["title"] = title
    for key, getter in (("xlabel", "get_xlabel"), ("ylabel", "get_ylabel"), ("zlabel", "get_zlabel")):
        method = getattr(ax, getter, None)
        if method is not None:
            text = method()
            if text:
                data[key] = text
    for key, get_limits in (("xlim", ax.get_xlim), ("ylim", ax.get_ylim)):
        try:
            lo, hi = (float(v) for v in get_limits())
        except (TypeError, ValueError):
            continue
        if math.isfinite(lo) and math.isfinite(hi):
            data[key] = [lo, hi]
    lines, rules = [], []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        rule = None if is3d else _rule(ax, line)
        if rule is not None:
            rules.append(rule)
            continue
        entry = _line(line, is3d, stats)
        if entry is not None:
            lines.append(entry)
    scatters = []
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            entry = _scatter(ax, coll, is3d, stats)
            if entry is not None:
                scatters.append(entry)
        else:
            try:
                stats["points"] += len(coll.get_paths())
            except Exception:
                pass
    stats["points"] += len(ax.patches)
    images = []
    for im in ax.get_images():
        if not im.get_visible() or not isinstance(im, AxesImage):
            continue
        entry = _image(im, stats)
        if entry is not None:
            images.append(entry)
    data["lines"] = lines
    data["scatters"] = scatters
    data["images"] = images
    data["rules"] = rules
    return data


def _subplotspec(ax):
    getter = getattr(ax, "get_subplotspec", None)
    if getter is None:
        return None
    try:
        return getter()
    except Exception:
        return None


def _label(artist):
    label = artist.get_label()
    if label is None:
        return None
    label = str(label)
    return None if not label or label.startswith("_") else label


def _hex(color):
    try:
        return mcolors.to_hex(color, keep_alpha=False)
    except (TypeError, ValueError):
        return None


def _floats(values):
    """A 1D float array, masked / unconvertible entries as NaN; None when the data is not numeric."""
    try:
        arr = np.ma.asarray(values)
        if arr.dtype.kind not in "biuf":
            arr = np.ma.asarray(arr, dtype=float)
        arr = np.ma.filled(arr.astype(float), np.nan)
    except (TypeError, ValueError):
        return None
    return np.ravel(arr)


def _subsample_index(n):
    if n <= MAX_SERIES_POINTS:
        return None
    return np.unique(np.linspace(0, n - 1, MAX_SERIES_POINTS).round().astype(np.intp))


def _json_numbers(arr, index=None):
    if index is not None:
        arr = arr[index]
    out = arr.tolist()
    bad = ~np.isfinite(arr)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            out[i] = None
    return out


def _style(line):
    linestyle = line.get_linestyle()
    marker = line.get_marker()
    style = "" if linestyle in (None, "None", "none", " ", "") else str(linestyle)
    if marker not in (None, "None", "none", " ", "") and isinstance(marker, str):
        style += marker
    return style or None


def _line(line, is3d, stats):
    if is3d and hasattr(line, "get_data_3d"):
        xs, ys, _ = line.get_data_3d()
        x, y = _floats(xs), _floats(ys)
    else:
        xy = np.asarray(line.get_xydata(), dtype=float)
        if xy.ndim != 2 or xy.shape[1] != 2:
            return None
        x, y = xy[:, 0], xy[:, 1]
    if x is None or y is None:
        return None
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    stats["points"] += n
    index = _subsample_index(n)
    entry = {"x": _json_numbers(x, index), "y": _json_numbers(y, index)}
    label = _label(line)
    if label:
        entry["label"] = label
    color = _hex(line.get_color())
    if color:
        entry["color"] = color
    style = _style(line)
    if style:
        entry["style"] = style
    return entry


def _rule(ax, line):
    """axvline / axhline: a blended transform (data on one axis only) and a constant data coordinate."""
    try:
        x_data, y_data = line.get_transform().contains_branch_seperately(ax.transData)
    except Exception:
        return None
    if x_data == y_data:
        return None
    xy = np.asarray(line.get_xydata(), dtype=float)
    if xy.ndim != 2 or len(xy) == 0:
        return None
    column = xy[:, 0] if x_data else xy[:, 1]
    value = float(column[0])
    if not math.isfinite(value) or not np.all(column == value):
        return None
    rule = {"axis": "x" if x_data else "y", "value": value}
    color = _hex(line.get_color())
    if color:
        rule["color"] = color
    label = _label(line)
    if label:
        rule["label"] = label
    return rule


_marker_paths = None


def _marker_table():
    global _marker_paths
    if _marker_paths is None:
        from matplotlib.markers import MarkerStyle

        table = []
        for marker in MarkerStyle.markers:
            if not isinstance(marker, str) or marker in ("None", "none", " ", "", ",", "."):
                continue
            try:
                style = MarkerStyle(marker)
                path = style.get_path().transformed(style.get_transform())
            except Exception:
                continue
            table.append((marker, np.asarray(path.vertices, dtype=float), path.codes))
        # "." and "," are circles / pixels of other sizes; "o" must win for plain circles.
        table.sort(key=lambda item: item[0] != "o")
        _marker_paths = table
    return _marker_paths


def _marker(coll):
    paths = coll.get_paths()
    if len(paths) != 1:
        return None
    vertices = np.asarray(paths[0].vertices, dtype=float)
    codes = paths[0].codes
    for marker, ref_vertices, ref_codes in _marker_table():
        if ref_vertices.shape != vertices.shape:
            continue
        if (codes is None) != (ref_codes is None):
            continue
        if codes is not None and not np.array_equal(codes, ref_codes):
            continue
        if np.allclose(vertices, ref_vertices, atol=1e-6):
            return marker
    return None


def _scatter(ax, coll, is3d, stats):
    z = None
    offsets3d = getattr(coll, "_offsets3d", None) if is3d else None
    if offsets3d is not None:
        xs, ys, zs = offsets3d
        x, y, z = _floats(xs), _floats(ys), _floats(zs)
        if x is None or y is None or z is None:
            return None
    else:
        offsets = coll.get_offsets()
        xy = np.ma.filled(np.ma.asarray(offsets, dtype=float), np.nan)
        if xy.ndim != 2 or xy.shape[1] != 2:
            return None
        x, y = xy[:, 0], xy[:, 1]
    n = min(len(x), len(y)) if z is None else min(len(x), len(y), len(z))
    stats["points"] += n
    index = _subsample_index(n)
    entry = {"x": _json_numbers(x[:n], index), "y": _json_numbers(y[:n], index)}
    if z is not None:
        entry["z"] = _json_numbers(z[:n], index)
    label = _label(coll)
    if label:
        entry["label"] = label
    color = _uniform_color(coll, is3d)
    if color:
        entry["color"] = color
    marker = _marker(coll)
    if marker:
        entry["marker"] = marker
    return entry


def _uniform_color(coll, is3d):
    if coll.get_array() is not None:  # colored by value through a colormap
        return None
    colors = getattr(coll, "_facecolor3d", None) if is3d else None
    if colors is None or len(colors) == 0:
        colors = coll.get_facecolor()
    if colors is None or len(colors) == 0:
        colors = coll.get_edgecolor()
    colors = np.asarray(colors, dtype=float)
    if colors.ndim != 2 or len(colors) == 0 or colors.shape[1] < 3:
        return None
    if not np.allclose(colors[:, :3], colors[0, :3]):
        return None
    return _hex(colors[0, :3])


def _image(im, stats):
    data = im.get_array()
    if data is None:
        return None
    shape = [int(n) for n in np.shape(data)]
    if len(shape) not in (2, 3) or shape[0] == 0 or shape[1] == 0:
        return None
    stats["image_pixels"] = max(stats["image_pixels"], shape[0] * shape[1])
    step = max(1, math.ceil(max(shape[0], shape[1]) / MAX_IMAGE_SIDE))
    small = data[::step, ::step]
    if small.ndim == 3:
        if small.dtype.kind == "f":
            small = np.clip(np.ma.filled(small, 0), 0, 1)
        elif small.dtype != np.uint8:
            small = np.clip(small, 0, 255).astype(np.uint8)
    rgba = np.asarray(im.to_rgba(small, bytes=True))
    if rgba.ndim != 3:
        return None
    if rgba.shape[2] == 3:
        rgba = np.concatenate([rgba, np.full(rgba.shape[:2] + (1,), 255, np.uint8)], axis=2)
    if im.origin == "lower":
        rgba = rgba[::-1]
    entry = {"shape": shape, "png": base64.b64encode(encode_png(rgba)).decode("ascii")}
    if len(shape) == 2:
        cmap = im.get_cmap()
        if cmap is not None and getattr(cmap, "name", None):
            entry["cmap"] = cmap.name
    return entry


def encode_png(rgba):
    """A PNG (bytes) of an H x W x 4 uint8 array. Standard library only."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width = rgba.shape[:2]
    raw = np.empty((height, width * 4 + 1), dtype=np.uint8)
    raw[:, 0] = 0  # filter: none
    raw[:, 1:] = rgba.reshape(height, width * 4)

    def chunk(tag, payload):
        return (
            struct.pack(">I", len(payload))
            + tag
            + payload
            + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )
