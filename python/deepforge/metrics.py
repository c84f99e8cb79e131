"""Scalar metrics: ``deepforge.log(step=None, **scalars)``.

Inside a DeepForge job every call becomes one ``metric`` event, shown live in the execution view. Events are
written in batches (at most about 0.2 s after the call, and before the job ends: see ``_channel``), each with the
time of its call.

Outside a job (a notebook, a unit test, the training library used on its own) ``log`` validates its
arguments exactly as in a job, so a bad value fails the same way everywhere, and then does nothing: no
printing, nothing kept. It returns the values it accepted (as floats) in both cases.
"""

import math
import numbers

from . import _channel

__all__ = ["log", "MetricValueError"]


class MetricValueError(TypeError, ValueError):
    """A metric value or step is not a finite number. (A TypeError, and a ValueError for NaN/inf.)"""


def _describe(value):
    cls = type(value)
    module = getattr(cls, "__module__", "builtins")
    name = cls.__qualname__ if module == "builtins" else "%s.%s" % (module, cls.__qualname__)
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s (%s)" % (text, name)


def _as_number(what, value):
    if type(value) is float:  # the usual case, first: the checks below cost more than the rest of log()
        if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
            return value
    elif type(value) is int:
        try:
            return float(value)
        except OverflowError:
            pass
    if isinstance(value, (bool, str, bytes, bytearray)) or value is None:
        raise MetricValueError("deepforge.log: %s must be a finite number, got %s" % (what, _describe(value)))
    try:
        number = float(value)  # int, float, numpy scalars, 1-element arrays and tensors, Decimal, Fraction
    except (TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise MetricValueError(
            "deepforge.log: %s must be a finite number (or a single-element array/tensor), got %s: %s"
            % (what, _describe(value), exc)
        ) from None
    if not math.isfinite(number):
        raise MetricValueError("deepforge.log: %s must be a finite number, got %s" % (what, _describe(value)))
    return number


def log(step=None, **scalars):
    """Report scalar metrics, e.g. ``deepforge.log(step=epoch, loss=loss, accuracy=acc)``.

    ``step`` (optional) is the x coordinate: an epoch or iteration number. Each keyword is one metric;
    names that are not identifiers can be passed with ``**{"val/loss": 0.3}``. Values must be finite
    numbers; numpy scalars and single-element torch tensors are accepted (converted with ``float()``).
    Raises :class:`MetricValueError` (a ``TypeError``) naming the offending metric otherwise.
    """
    if not scalars:
        raise MetricValueError("deepforge.log: no metrics given; use e.g. deepforge.log(step=3, loss=0.25)")
    values = {}
    for name, value in scalars.items():
        values[str(name)] = _as_number("metric %r" % name, value)
    step_value = None
    if step is not None:
        step_value = _as_number("step", step)
        if step_value.is_integer() and abs(step_value) < 2**53:
            step_value = int(step_value)
        elif isinstance(step, numbers.Integral):  # pragma: no cover - huge ints
            step_value = int(step)
    writer = _channel.get()
    if writer is not None:
        writer.metric(step_value, values)
    return values
