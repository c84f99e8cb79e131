"""Progress bars: ``progress`` events from tqdm bars and from :func:`progress`.

Events are throttled to about two per second per bar; the final state (``done: true``) is always sent when
a bar closes (a tqdm bar's ``close()``, the end of a ``progress`` loop).

tqdm, when installed, is patched as soon as it is imported (``tqdm.tqdm``, ``tqdm.std.tqdm``, ``trange``;
``tqdm.auto`` / ``tqdm.asyncio`` / ``tqdm.autonotebook`` are built on ``tqdm.std.tqdm`` when imported, so they
are covered too): the harness puts a finder on ``sys.meta_path`` that patches the package right after it
loads, so jobs that never use tqdm do not pay for importing it. A patched bar reports events instead of redrawing itself with ``\\r`` on the console: the
console of a job is a log, where hundreds of carriage-return updates are noise (and cost bandwidth to store
and stream). It writes the bar as one ordinary line at most every 10 seconds (so a long loop still shows
signs of life in the log) and once more when it closes (if ``leave`` is true, as tqdm would leave it).
``disable=True`` bars stay silent, as in tqdm.
"""

import itertools
import sys
import threading
import time
import weakref

from . import _channel

__all__ = ["progress", "patch_tqdm", "patch_tqdm_on_import", "EVENT_INTERVAL_S", "CONSOLE_INTERVAL_S"]

EVENT_INTERVAL_S = 0.5
CONSOLE_INTERVAL_S = 10.0

_ids = itertools.count(1)
_live: "weakref.WeakSet[_Reporter]" = weakref.WeakSet()
_live_lock = threading.Lock()


class _Reporter:
    """Throttled ``progress`` events for one bar."""

    def __init__(self, prefix):
        self.bar = "%s-%d" % (prefix, next(_ids))
        self._last_emit = None
        self._pending = None
        self._done = False
        self._lock = threading.Lock()
        with _live_lock:
            _live.add(self)

    def report(self, n, total, desc=None, unit=None, rate=None, done=False):
        event = {"bar": self.bar, "n": _num(n), "total": _num(total)}
        if desc:
            event["desc"] = str(desc)
        if unit:
            event["unit"] = str(unit)
        if rate is not None:
            event["rate"] = _num(rate)
        if done:
            event["done"] = True
        with self._lock:
            if self._done:
                return
            now = time.monotonic()
            if not done and self._last_emit is not None and now - self._last_emit < EVENT_INTERVAL_S:
                self._pending = event
                return
            self._last_emit = now
            self._pending = None
            if done:
                self._done = True
        _channel.emit("progress", **event)

    def flush(self):
        """Send the last throttled state, if any (at the end of the job)."""
        with self._lock:
            event, self._pending = self._pending, None
        if event is not None:
            _channel.emit("progress", **event)


def _num(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def flush_all():
    """Send the last state of every bar that has one pending (called by the harness when the job ends)."""
    with _live_lock:
        reporters = list(_live)
    for reporter in reporters:
        reporter.flush()


class progress:
    """A minimal progress bar for code without tqdm: ``for x in deepforge.progress(data, desc="epoch"):``.

    Also usable by hand: ``bar = deepforge.progress(total=100); bar.update(10); bar.close()``, or as a
    context manager. Outside a DeepForge job it only iterates (no output at all).
    """

    def __init__(self, iterable=None, total=None, desc=None, unit="it"):
        if total is None and iterable is not None:
            try:
                total = len(iterable)
            except (TypeError, AttributeError):
                total = None
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.n = 0
        self._start = time.monotonic()
        self._closed = False
        self._reporter = _Reporter("progress")
        self._report()

    def _rate(self):
        elapsed = time.monotonic() - self._start
        return self.n / elapsed if elapsed > 0 and self.n else None

    def _report(self, done=False):
        self._reporter.report(self.n, self.total, self.desc, self.unit, self._rate(), done=done)

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("deepforge.progress: nothing to iterate; pass an iterable or use update()")
        try:
            for item in self.iterable:
                yield item
                self.n += 1
                self._report()
        finally:
            self.close()

    def __len__(self):
        if self.total is None:
            raise TypeError("this progress bar has no total")
        return int(self.total)

    def update(self, n=1):
        self.n += n
        self._report()

    def set_description(self, desc):
        self.desc = desc

    def close(self):
        if not self._closed:
            self._closed = True
            self._report(done=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------------------------------------
# tqdm


class _Sink:
    """Where a patched tqdm bar's own writes go: nowhere. Has no ``isatty`` so tqdm stays enabled."""

    def __init__(self, encoding):
        self.encoding = encoding or "utf-8"

    def write(self, s):
        return len(s)

    def flush(self):
        pass


_patched = None


def patch_tqdm():
    """Replace tqdm's bar class by one that reports ``progress`` events. Idempotent; False without tqdm."""
    global _patched
    if _patched is not None:
        return True
    try:
        import tqdm as tqdm_pkg
        import tqdm.std as tqdm_std
    except Exception:
        return False

    base = tqdm_std.tqdm

    class tqdm(tqdm_std.tqdm):  # noqa: N801 - keeps the name users see in reprs
        __doc__ = base.__doc__

        def __init__(self, *args, **kwargs):
            self._df_reporter = None
            self._df_closing = False
            positional = list(args)
            if len(positional) > 4:
                real_file, positional[4] = positional[4], None
            else:
                real_file = kwargs.pop("file", None)
            self._df_file = real_file
            target = real_file if real_file is not None else sys.stderr
            sink = _Sink(getattr(target, "encoding", None))
            if len(positional) > 4:
                positional[4] = sink
            else:
                kwargs["file"] = sink
            self._df_last_console = time.monotonic()
            super().__init__(*positional, **kwargs)
            if not self.disable:
                self._df_reporter = _Reporter("tqdm")
                self._df_report()

        def _df_report(self, done=False):
            reporter = self._df_reporter
            if reporter is None:
                return
            try:
                d = self.format_dict
                rate = d.get("rate")
                if rate is None:
                    elapsed = d.get("elapsed") or 0
                    rate = d.get("n", 0) / elapsed if elapsed > 0 and d.get("n") else None
                unit_scale = d.get("unit_scale")
                if rate is not None and unit_scale and unit_scale is not True:
                    rate *= unit_scale
                reporter.report(self.n, self.total, self.desc or None, self.unit, rate, done=done)
            except Exception:  # never let reporting break the user's loop
                pass

        def _df_console(self, final=False):
            now = time.monotonic()
            if not final and now - self._df_last_console < CONSOLE_INTERVAL_S:
                return
            self._df_last_console = now
            target = self._df_file if self._df_file is not None else sys.stderr
            try:
                target.write(self.__str__() + "\n")
                target.flush()
            except Exception:
                pass

        def display(self, msg=None, pos=None):
            if self._df_closing or self._df_reporter is None:
                return True
            self._df_report()
            self._df_console()
            return True

        def close(self):
            if self._df_reporter is None or self._df_closing:
                return super().close()
            self._df_closing = True
            leave = getattr(self, "leave", True)
            pos = abs(getattr(self, "pos", 0) or 0)
            try:
                super().close()
            finally:
                self._df_report(done=True)
                if (pos == 0 if leave is None else leave) and self.total != 0:
                    self._df_console(final=True)
                self._df_reporter = None

    tqdm.__module__ = base.__module__
    tqdm.__qualname__ = base.__qualname__

    def trange(*args, **kwargs):
        return tqdm(range(*args), **kwargs)

    tqdm_std.tqdm = tqdm
    tqdm_std.trange = trange
    tqdm_pkg.tqdm = tqdm
    tqdm_pkg.trange = trange
    # Submodules already imported (rare: nothing imports them before the harness) get the class too.
    for name in ("tqdm.auto", "tqdm.autonotebook", "tqdm.asyncio"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "tqdm", None) is base:
            setattr(module, "tqdm", tqdm)
            setattr(module, "trange", trange)
    _patched = tqdm
    return True


class _TqdmLoader:
    """Runs tqdm's own loader, then patches it, before ``import tqdm`` returns to anyone."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            patch_tqdm()
        except Exception as exc:  # never let the patch break the user's import
            sys.stderr.write("deepforge: could not patch tqdm: %s\n" % exc)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _TqdmFinder:
    """A ``sys.meta_path`` entry that only acts on the top-level ``tqdm`` package, once."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tqdm":
            return None
        _remove_finder()
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            # A loader by its methods: importlib.abc (its base class) is not imported at start-up for this.
            spec.loader = _TqdmLoader(spec.loader)  # type: ignore[assignment]
        return spec

    def find_module(self, fullname, path=None):  # pragma: no cover - Python < 3.4 protocol
        return None


_finder = None


def _remove_finder():
    global _finder
    if _finder is not None:
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None


def patch_tqdm_on_import():
    """Patch tqdm now if it is already imported, else as soon as something imports it. Idempotent."""
    global _finder
    if _patched is not None or _finder is not None:
        return
    if "tqdm" in sys.modules:
        patch_tqdm()
        return
    _finder = _TqdmFinder()
    sys.meta_path.insert(0, _finder)
