"""The event channel: RuntimeEvents, one JSON object per line, on a file descriptor of their own.

The writer owns a raw file descriptor and writes with ``os.write`` under a lock, whole lines only, so that
nothing user code does to ``sys.stdout`` / ``sys.stderr`` (replacing them, closing them, printing 100k lines)
can interleave with or break the channel.

Metric values (``deepforge.log``) are the one kind of event held back: a tight loop logs hundreds of thousands a
second, and a JSON encoding and a system call each cost more than the rest of ``log``. They wait in a buffer,
each with the time it was logged, and are written together (one ``os.write``) when 1,024 are waiting, when the
oldest has waited ``FLUSH_SECONDS`` (a background thread sees to that when ``log`` is not called again, so live
charts stay live), before any other event (so the engine sees events in the order they happened), and when the
job ends: the harness flushes before every exit path (return, exception, ``sys.exit``), and an ``atexit`` hook
covers the rest. Every other event is written before ``emit`` returns.
"""

import json
import math
import os
import threading
import time

PROTOCOL_VERSION = 1

#: Metric values written together once this many wait.
FLUSH_POINTS = 1024
#: …or once the oldest has waited this long (seconds).
FLUSH_SECONDS = 0.2
#: How often the background flusher looks (seconds): the oldest value waits at most about FLUSH_SECONDS.
_FLUSHER_TICK = 0.05

_writer = None


class EventWriter:
    """Thread-safe writer of one JSON line per event to a file descriptor it owns."""

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()
        self._broken = False
        # Metric values not written yet: (t in ms, step, values) in the order logged; guarded by _lock.
        self._pending = []
        self._pending_since = 0.0
        self._flusher_pid = None
        try:
            # Subprocesses that user code starts must not keep the engine's pipe open.
            os.set_inheritable(fd, False)
        except OSError:
            pass
        if hasattr(os, "register_at_fork"):
            # A fork()ed child (multiprocessing, DataLoader workers) may emit too: never inherit a held lock.
            os.register_at_fork(after_in_child=self._reset_lock)

    def _reset_lock(self):
        self._lock = threading.Lock()
        # The parent writes what it had buffered; the child starts empty, with no flusher thread yet.
        self._pending = []
        self._flusher_pid = None

    @classmethod
    def for_fd(cls, fd):
        os.fstat(fd)  # raises OSError (EBADF) when the engine did not hand us this descriptor
        return cls(fd)

    @classmethod
    def for_file(cls, path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        return cls(fd)

    @property
    def fd(self):
        return self._fd

    def emit(self, event):
        """Write one event (a dict with at least ``type``), after the metric values still waiting; ``v`` and
        ``t`` are set here."""
        event = dict(event)
        event["v"] = PROTOCOL_VERSION
        event["t"] = int(time.time() * 1000)
        data = encode(event)
        with self._lock:
            return self._write_locked(self._take_pending_locked() + data)

    def metric(self, step, values):
        """Buffer one ``metric`` event (``step`` a number or None, ``values`` a dict of finite floats), stamped
        now; written within about FLUSH_SECONDS, or sooner (see the module's docstring)."""
        now = time.time()
        with self._lock:
            pending = self._pending
            if not pending:
                self._pending_since = now
                if self._flusher_pid != os.getpid():
                    self._start_flusher()
            pending.append((int(now * 1000), step, values))
            if len(pending) >= FLUSH_POINTS or now - self._pending_since >= FLUSH_SECONDS:
                self._write_locked(self._take_pending_locked())

    def flush(self):
        """Write the metric values still waiting. Returns False when the channel is broken."""
        with self._lock:
            return self._write_locked(self._take_pending_locked())

    def _take_pending_locked(self):
        pending = self._pending
        if not pending:
            return b""
        self._pending = []
        return encode_metrics(pending)

    def _write_locked(self, data):
        if self._broken:
            return False
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except InterruptedError:  # pragma: no cover - os.write retries EINTR itself (PEP 475)
            pass
        except OSError:
            # The engine is gone (EPIPE) or the descriptor was closed under us: the job cannot report
            # anything any more, but user code must not crash because of that.
            self._broken = True
            return False
        return True

    def _start_flusher(self):
        """A daemon thread writing values that wait too long when ``log`` is not called again (one per process:
        a fork()ed child starts its own)."""
        self._flusher_pid = os.getpid()
        thread = threading.Thread(target=self._flush_late, name="deepforge-metrics", daemon=True)
        thread.start()

    def _flush_late(self):
        pid = os.getpid()
        while not self._broken and self._flusher_pid == pid:
            time.sleep(_FLUSHER_TICK)
            if self._pending and time.time() - self._pending_since >= FLUSH_SECONDS - _FLUSHER_TICK:
                with self._lock:
                    if self._pending and time.time() - self._pending_since >= FLUSH_SECONDS - _FLUSHER_TICK:
                        self._write_locked(self._take_pending_locked())

    def close(self):
        with self._lock:
            self._write_locked(self._take_pending_locked())
            if not self._broken:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
            self._broken = True


def encode(event):
    """One event as a JSON line (bytes). Non-finite floats become null: JSON has no NaN."""
    try:
        text = json.dumps(event, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    except ValueError:
        text = json.dumps(_finite(event), separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return text.encode("ascii") + b"\n"


#: Metric names as JSON strings (a job logs the same few names again and again).
_names: dict[str, str] = {}


def _name_json(name):
    text = _names.get(name)
    if text is None:
        text = json.dumps(name, ensure_ascii=True)
        if len(_names) < 10000:
            _names[name] = text
    return text


def encode_metrics(pending):
    """``metric`` events as JSON lines (bytes), the same text ``encode`` gives for each, without building a
    dict and an encoder per event: steps are ints or finite floats, values finite floats, whose ``repr`` is
    their JSON form."""
    lines = []
    for t, step, values in pending:
        body = ",".join([_name_json(name) + ":" + repr(value) for name, value in values.items()])
        lines.append(
            '{"step":%s,"values":{%s},"type":"metric","v":%d,"t":%d}\n'
            % ("null" if step is None else repr(step), body, PROTOCOL_VERSION, t)
        )
    return "".join(lines).encode("ascii")


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def install(writer):
    global _writer
    _writer = writer
    import atexit

    # Values logged by a thread the job left running, or after the harness's last flush.
    atexit.register(writer.flush)


def flush():
    """Write the metric values still waiting (nothing outside a job)."""
    writer = _writer
    if writer is not None:
        writer.flush()


def get():
    """The channel of the running job, or None outside a DeepForge job."""
    return _writer


def emit(type_, **fields):
    """Emit an event when running inside a job; returns False (and does nothing) outside one."""
    writer = _writer
    if writer is None:
        return False
    fields["type"] = type_
    return writer.emit(fields)
