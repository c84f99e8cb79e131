"""When figures are snapshotted, and the bookkeeping of ``figure`` / ``seq``.

- ``plt.show()`` snapshots every open figure; a redraw (``fig.canvas.draw()``, ``draw_idle()``, ``plt.draw()``,
  ``plt.pause()``) snapshots its figure.
- Snapshots of one figure are throttled to one per ``THROTTLE_S`` (0.25 s, so at most ~4 per second): a
  training loop that redraws every batch costs a render four times a second, not every batch. A request
  that falls inside the interval is remembered, and the latest state is sent later: at the next request
  after the interval, when the figure is closed, or when the job ends.
- When the job ends, every open figure that changed since its last snapshot (or never had one: figures that
  were drawn but never shown, as a notebook would show them) is snapshotted.
- A snapshot identical to the previous one of the same figure (``show()`` twice) is not sent again.

``figure`` is the matplotlib figure number; ``seq`` counts the snapshots sent for that number (it goes on
when a figure is closed and a new one reuses the number), so the engine can keep the latest.

Capturing never breaks user code: a figure that cannot be rendered is reported once on stderr and skipped.
"""

import hashlib
import sys
import threading
import time
import warnings
import weakref

from .. import _channel

THROTTLE_S = 0.25

_lock = threading.RLock()
_busy = threading.local()
_states: "dict[int, _State]" = {}
_reported_failures = set()


class _State:
    __slots__ = ("seq", "last_emit", "pending", "digest", "figure")

    def __init__(self):
        self.seq = 0
        self.last_emit = None
        self.pending = False
        self.digest = None
        self.figure = None


def _number(fig):
    num = getattr(fig, "number", None)
    if num is None:
        manager = getattr(getattr(fig, "canvas", None), "manager", None)
        num = getattr(manager, "num", None)
    return num if isinstance(num, int) and not isinstance(num, bool) else None


def _is_dirty(fig):
    return getattr(fig, "_deepforge_dirty", True)


def track(fig, num=None):
    """Follow a figure's changes through its stale callback (called when it gets a manager)."""
    fig._deepforge_dirty = True
    _ensure_tracking(fig)


def _ensure_tracking(fig):
    # pyplot.figure() replaces the stale callback right after the manager is made (to redraw in interactive
    # mode), so this is checked again after every snapshot; the previous callback is still called.
    previous = fig.stale_callback
    if getattr(previous, "_deepforge", False):
        return

    def on_stale(artist, value, _previous=previous, _fig=weakref.ref(fig)):
        figure = _fig()
        if figure is not None and value:
            figure._deepforge_dirty = True
        if _previous is not None:
            _previous(artist, value)

    setattr(on_stale, "_deepforge", True)  # marks our callback (a function attribute; mypy has no type for it)
    fig.stale_callback = on_stale


def request(fig, reason="show"):
    """A snapshot was asked for (show or redraw); honoured now or later according to the throttle."""
    if _channel.get() is None or getattr(_busy, "on", False):
        return
    num = _number(fig)
    if num is None:
        return
    with _lock:
        state = _states.setdefault(num, _State())
        now = time.monotonic()
        if state.figure is fig and state.last_emit is not None and now - state.last_emit < THROTTLE_S:
            state.pending = True
            return
        _snapshot(fig, num, state)


def closing(fig, num):
    """A figure is being closed: send the state a throttled request left pending."""
    if _channel.get() is None or getattr(_busy, "on", False):
        return
    with _lock:
        state = _states.get(num)
        if state is not None and state.pending and state.figure is fig:
            _snapshot(fig, num, state)


def flush_all():
    """Snapshot every open figure that changed since its last snapshot (the end of the job)."""
    if _channel.get() is None:
        return
    from matplotlib._pylab_helpers import Gcf

    for manager in list(Gcf.get_all_fig_managers()):
        fig = manager.canvas.figure
        num = _number(fig)
        if num is None:
            continue
        with _lock:
            state = _states.setdefault(num, _State())
            if state.pending or state.figure is not fig or _is_dirty(fig):
                _snapshot(fig, num, state)


def _snapshot(fig, num, state):
    from .extract import figure_event

    _busy.on = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            event = figure_event(fig, num)
    except Exception as exc:  # a broken figure must not fail the operation
        key = (num, type(exc).__name__, str(exc))
        if key not in _reported_failures:
            _reported_failures.add(key)
            try:
                sys.stderr.write("deepforge: could not capture figure %s: %s: %s\n" % (num, type(exc).__name__, exc))
            except Exception:
                pass
        state.pending = False
        return False
    finally:
        _busy.on = False
    fig._deepforge_dirty = False
    _ensure_tracking(fig)
    state.pending = False
    state.figure = fig
    digest = _digest(event)
    if digest == state.digest:
        return False
    state.digest = digest
    state.seq += 1
    state.last_emit = time.monotonic()
    event["seq"] = state.seq
    _channel.emit("plot", **event)
    return True


def _digest(event):
    h = hashlib.sha256()
    h.update((event.get("svg") or event.get("png") or "").encode("utf-8", "surrogatepass"))
    h.update(repr(event.get("axes")).encode("utf-8", "surrogatepass"))
    h.update(repr(event.get("title")).encode("utf-8", "surrogatepass"))
    return h.digest()
