"""How operation inputs and outputs become files, and back.

Custom serializers (the "Custom Serialization" view, files in ``serializers/*.py``) register a class with two
functions that have the signatures of :func:`pickle.dump` and :func:`pickle.load`::

    import deepforge

    def dump(obj, file): ...          # write obj to the binary file object
    def load(file): ...               # read it back

    deepforge.serialization.register(MyType, dump, load)

A value is written with the serializer registered for the most specific class in its type's MRO; with none,
it is pickled (``pickle`` protocol 5). The serializer's *name*, stored with the artifact, is ``pickle`` or the
registered class's ``module.QualName``; loading looks serializers up by that name.

Numpy arrays (built in, name ``numpy.ndarray``)
-----------------------------------------------
Plain ``numpy.ndarray`` values (and ``numpy.memmap``, which is saved as a plain array) without Python objects
inside are written in the ``.npy`` format (what ``np.save`` writes): a small header then the raw buffer,
written straight from the array's memory in 16 MiB ``os.write`` calls, with the kernel's writeback of each
chunk started (``sync_file_range``) while the next is copied, so that the final fsync is short. Loading a large array maps the file copy-on-write
(``np.load(mmap_mode='c')``, returned as a plain ``ndarray`` view): the load itself costs nothing, pages are
read from the page cache on first touch (the harness has just written them, so they are hot), the array is writable, and writes stay private to the job: the stored artifact is never modified.
Small arrays (< 4 MiB) are simply read into memory.

Measured with a 500 MB float64 array on the 2-core dev VM (docs/benchmarks.md): ``dumps_to`` (write + fsync,
writeback overlapped with the copy) 0.15-0.24 s, ``dumps_to_hashed`` 0.23-0.32 s (median 0.24 s; its 8 MiB
blocks hashed on two threads, docs/adr/0006; with the plain sha256 on one thread it was 0.29-0.33 s in the same
runs, and 0.4-0.5 s on a busier day; the hashing takes ~0.43 s of CPU either way, so it only gains where a
core is free), ``load_from`` < 0.01 s (0.05 s in a fresh job, importing numpy), first full pass over the
mapped data 0.02 s; ``np.save`` 0.07 s and ``np.load`` 0.08 s in memory the host has just backed.

Pickling a big array with protocol 5 straight to a file is fast too (numpy hands pickle its buffer, which is
written without a copy and read back with ``readinto``), but ``.npy`` keeps the artifact readable by any
numpy, and mapping it avoids reading it at all before it is used. Arrays of other types (``np.matrix``,
masked arrays) and object arrays are pickled, so nothing is lost. A user registration for ``numpy.ndarray``
takes precedence over the built-in one.

Writes are atomic: a temporary file in the target directory, flushed and fsynced, then renamed; a failure
leaves nothing behind. (``DEEPFORGE_FSYNC=0`` skips the fsync, e.g. on a scratch filesystem.)

Content hash
------------
The harness saves outputs with :func:`dumps_to_hashed`, which also returns the content id of the bytes as they
were written (:mod:`deepforge.content_hash`: ``sha256:<hex>`` up to 8 MiB, ``sha256t:<hex>``, a tree of 8 MiB
sha256 blocks, above; docs/adr/0006), so that the engine can store the file under its content address at once
instead of reading it first (it checks the id afterwards, off the critical path). The id is taken from the
buffers handed to the file, in order, cut into 8 MiB blocks; each complete block is hashed by one of two
threads (hashlib releases the GIL) while the writer goes on writing, and the last one while it fsyncs. Big
pieces of the built-in serializers' buffers are hashed in place; small pieces, and everything custom
serializers write (they may reuse a buffer), are copied into the block first. The id is left out (``None``: the
engine hashes the file itself) for outputs under 1 MiB, where that is cheaper than starting threads here, and
for custom serializers that seek, truncate or use the file's descriptor, where the bytes written in order are
not the file.
"""

import io
import os
import pickle
import sys

# typing is not imported at run time (start-up cost); type checkers read these imports (mypy and pyright treat a
# name TYPE_CHECKING as true whatever its value).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from queue import SimpleQueue
    from typing import Any, Literal
__all__ = [
    "register",
    "unregister",
    "serializer_for",
    "serializer_name",
    "known_serializers",
    "dump",
    "load",
    "dumps_to",
    "dumps_to_hashed",
    "load_from",
    "SerializationError",
    "UnknownSerializerError",
    "PICKLE",
]

PICKLE = "pickle"
NUMPY = "numpy.ndarray"
PICKLE_PROTOCOL = max(5, pickle.DEFAULT_PROTOCOL) if pickle.HIGHEST_PROTOCOL >= 5 else pickle.HIGHEST_PROTOCOL
_MMAP_MIN_BYTES = 4 * 1024 * 1024
_CHUNK = 16 * 1024 * 1024
#: Outputs smaller than this get no hash from here: the engine hashes them itself (one read, well under a ms).
HASH_MIN_BYTES = 1024 * 1024
#: Blocks of the content id's tree (deepforge.content_hash.BLOCK_BYTES, not imported before it is needed).
_HASH_BLOCK = 8 * 1024 * 1024
#: Threads that hash blocks while the writer writes; two blocks at once, sha256 itself being sequential.
_HASH_THREADS = 2
#: Pieces of stable buffers smaller than this are copied into the block rather than referenced.
_HASH_COPY_BELOW = 64 * 1024


class SerializationError(Exception):
    """A value could not be written (or read) with its serializer."""


class UnknownSerializerError(SerializationError, KeyError):
    """No serializer is registered under the given name."""

    def __str__(self):  # KeyError would quote the message
        return self.args[0] if self.args else ""


class _Serializer:
    __slots__ = ("cls", "name", "dump", "load", "accepts", "builtin")

    def __init__(self, cls, name, dump, load, accepts=None, builtin=False):
        self.cls = cls
        self.name = name
        self.dump = dump
        self.load = load
        self.accepts = accepts
        self.builtin = builtin

    def __repr__(self):
        return "<serializer %s>" % self.name


# class -> user registration, and name -> serializer (user registrations and built-ins).
_by_class = {}
_by_name = {}
# Built-ins that are looked up by the value's type name without importing their module (numpy).
_builtin_by_type_name: "dict[str, _Serializer]" = {}


def qualified_name(cls):
    """``module.QualName`` of a class, e.g. ``numpy.ndarray`` or ``builtins.list``."""
    module = getattr(cls, "__module__", None) or "builtins"
    return "%s.%s" % (module, getattr(cls, "__qualname__", cls.__name__))


def register(cls, dump, load):
    """Register ``dump(obj, file)`` / ``load(file)`` for values of ``cls`` (and its subclasses).

    Registering a class again replaces its serializer. Returns the serializer's name (``module.QualName``).
    """
    if not isinstance(cls, type):
        raise TypeError("deepforge.serialization.register: cls must be a class, got %r" % (cls,))
    if not callable(dump) or not callable(load):
        raise TypeError(
            "deepforge.serialization.register(%s, dump, load): dump and load must be callables with the "
            "signatures of pickle.dump(obj, file) and pickle.load(file)" % cls.__name__
        )
    name = qualified_name(cls)
    if name == PICKLE:  # pragma: no cover - a class cannot be named like that, but keep the names apart
        raise ValueError("the serializer name 'pickle' is reserved")
    entry = _Serializer(cls, name, dump, load)
    _by_class[cls] = entry
    _by_name[name] = entry
    return name


def unregister(cls):
    """Remove the registration for ``cls`` (built-ins come back into effect)."""
    entry = _by_class.pop(cls, None)
    if entry is not None and _by_name.get(entry.name) is entry:
        del _by_name[entry.name]
        builtin = _builtin_entries().get(entry.name)
        if builtin is not None:
            _by_name[entry.name] = builtin


def _builtin_entries():
    return {e.name: e for e in _builtin_by_type_name.values()}


def serializer_for(obj):
    """The serializer entry used for ``obj`` (most specific registered class in its MRO, else pickle)."""
    mro = type(obj).__mro__
    for klass in mro:
        entry = _by_class.get(klass)
        if entry is not None:
            return entry
    # Built-ins match their exact type only: a subclass (masked array, matrix) is pickled so nothing is lost.
    entry = _builtin_by_type_name.get(qualified_name(type(obj)))
    if entry is not None and (entry.accepts is None or entry.accepts(obj)):
        return entry
    return _PICKLE_ENTRY


def serializer_name(obj):
    """Name of the serializer :func:`dumps_to` would use for ``obj``."""
    return serializer_for(obj).name


def known_serializers():
    """Names of all serializers that can be loaded by name, sorted (``pickle`` first)."""
    return [PICKLE] + sorted(n for n in _by_name if n != PICKLE)


def _lookup(name):
    if name == PICKLE:
        return _PICKLE_ENTRY
    entry = _by_name.get(name)
    if entry is None:
        raise UnknownSerializerError(
            "unknown serializer %r; known serializers: %s (custom serializers are registered by "
            "serializers/*.py with deepforge.serialization.register(cls, dump, load))"
            % (name, ", ".join(known_serializers()))
        )
    return entry


# ---------------------------------------------------------------------------------------------------------
# pickle (the default)


def _pickle_dump(obj, file):
    pickle.dump(obj, file, protocol=PICKLE_PROTOCOL)


def _pickle_load(file):
    return pickle.load(file)


_PICKLE_ENTRY = _Serializer(object, PICKLE, _pickle_dump, _pickle_load, builtin=True)


# ---------------------------------------------------------------------------------------------------------
# numpy.ndarray (built in; numpy is only imported when a value or a file needs it)


def _numpy_accepts(arr):
    return not arr.dtype.hasobject


def _numpy_dump(arr, file):
    import numpy as np

    fmt = np.lib.format
    if type(arr) is not np.ndarray:
        arr = arr.view(np.ndarray)  # np.memmap: save the data, not the mapping
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous) or not hasattr(fmt, "_write_array_header"):
        fmt.write_array(file, arr, allow_pickle=False)
        return
    # The header np.save writes, then the array's memory as it is (C or Fortran order), in chunks so that
    # a _SyncingWriter can start the writeback of each chunk while the next one is copied.
    fmt._write_array_header(file, fmt.header_data_from_array_1_0(arr), None)
    data = memoryview(arr.reshape(-1, order="A").view(np.uint8))
    for start in range(0, len(data), _CHUNK):
        file.write(data[start : start + _CHUNK])


def _numpy_load(file):
    import numpy as np

    fmt = np.lib.format
    version = fmt.read_magic(file)
    # Private helpers (np.load's own), so that every header version is read the way numpy reads it; the numpy
    # stubs leave private names out.
    fmt._check_version(version)  # type: ignore[attr-defined]
    shape, fortran_order, dtype = fmt._read_array_header(file, version)  # type: ignore[attr-defined]
    if dtype.hasobject:
        raise SerializationError("this .npy file holds Python objects; it should have been pickled")
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    offset = file.tell()
    order: 'Literal["F", "C"]' = "F" if fortran_order else "C"
    path = getattr(file, "name", None)
    if nbytes >= _MMAP_MIN_BYTES and isinstance(path, str) and _is_real_file(file):
        mapped = np.memmap(path, dtype=dtype, mode="c", offset=offset, shape=shape, order=order)
        return mapped.view(np.ndarray)
    out = np.empty(shape, dtype=dtype, order=order)
    if nbytes:
        # An ndarray has the buffer protocol; the typeshed of Debian's mypy 1.0 predates its typing (PEP 688).
        view = memoryview(out.reshape(-1, order="A").view(np.uint8))  # type: ignore[arg-type]
        done = 0
        while done < nbytes:
            n = file.readinto(view[done : done + _CHUNK])
            if not n:
                raise SerializationError("truncated .npy file: expected %d bytes of data, got %d" % (nbytes, done))
            done += n
    return out


def _is_real_file(file):
    try:
        file.fileno()
        return True
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


_builtin_by_type_name["numpy.ndarray"] = _Serializer(
    None, NUMPY, _numpy_dump, _numpy_load, accepts=_numpy_accepts, builtin=True
)
_builtin_by_type_name["numpy.memmap"] = _builtin_by_type_name["numpy.ndarray"]
_by_name[NUMPY] = _builtin_by_type_name["numpy.ndarray"]


# ---------------------------------------------------------------------------------------------------------
# files


def dump(obj, file):
    """Write ``obj`` to an open binary file with its serializer; returns the serializer's name."""
    entry = serializer_for(obj)
    entry.dump(obj, file)
    return entry.name


def load(file, serializer=PICKLE):
    """Read a value written by serializer ``serializer`` (a name) from an open binary file."""
    return _lookup(serializer).load(file)


def _fsync_enabled():
    return os.environ.get("DEEPFORGE_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")


_sync_file_range: "Callable[..., int] | None" = None
_sync_file_range_looked_up = False


def _writeback_starter():
    """Linux ``sync_file_range(fd, offset, nbytes, SYNC_FILE_RANGE_WRITE)`` through ctypes, or None."""
    global _sync_file_range, _sync_file_range_looked_up
    if not _sync_file_range_looked_up:
        _sync_file_range_looked_up = True
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                func = ctypes.CDLL(None, use_errno=True).sync_file_range
                func.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                func.restype = ctypes.c_int
                _sync_file_range = func
            except (OSError, AttributeError):
                pass
    return _sync_file_range


class _SyncingWriter:
    """Unbuffered writes to a file descriptor that start the kernel's writeback every few MiB.

    With the writeback of each chunk started while the next one is copied, the final fsync only waits
    for the last chunk instead of the whole file: writing + fsyncing a 500 MB array costs ~0.15 s instead
    of ~0.2 s (np.save without fsync: ~0.07 s) on the 2-core VM this was measured on.
    """

    _EVERY = 16 * 1024 * 1024
    _WRITE = 2  # SYNC_FILE_RANGE_WRITE

    def __init__(self, fd, start_writeback, hasher=None):
        self._fd = fd
        self._pos = 0
        self._synced = 0
        self._start_writeback = _writeback_starter() if start_writeback else None
        self._hasher = hasher

    def write(self, data):
        view = memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        total = len(view)
        if self._hasher is not None:
            self._hasher.update(view)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._pos += total
        if self._start_writeback is not None and self._pos - self._synced >= self._EVERY:
            self._start_writeback(self._fd, self._synced, self._pos - self._synced, self._WRITE)
            self._synced = self._pos
        return total

    def flush(self):
        pass

    def tell(self):
        return self._pos

    def fileno(self):
        return self._fd


def dumps_to(path, obj):
    """Atomically write ``obj`` to ``path`` with its serializer; returns the serializer's name.

    The value is written to a temporary file next to ``path``, flushed and fsynced, then renamed over
    ``path``: readers never see a half-written file, and a failure (an unpicklable value, a full disk)
    removes the temporary file and raises :class:`SerializationError` (with the original error as its
    ``__cause__``), leaving ``path`` as it was.
    """
    return _dump_atomic(path, obj, None)[0]


def dumps_to_hashed(path, obj):
    """:func:`dumps_to` that also returns the content id of the bytes written: ``(serializer_name, content_id)``.

    ``content_id`` is ``sha256:<hex>`` (the plain sha256) for at most 8 MiB, ``sha256t:<hex>`` above
    (:mod:`deepforge.content_hash`), or None when the output is smaller than :data:`HASH_MIN_BYTES` or a
    custom serializer wrote it in a way the hash cannot follow (see the module's docs); the reader must then
    hash the file itself.
    """
    return _dump_atomic(path, obj, _StreamHash)


def dump_output(path, obj, hashed, inline_limit):
    """A job's output: ``(serializer_name, content_id, data)``.

    With a built-in serializer and at most ``inline_limit`` bytes, ``data`` is the bytes and no file is written
    (the engine stores them from the output's event, docs/adr/0035). Otherwise the value is written to ``path`` as
    :func:`dumps_to_hashed` (``hashed``) or :func:`dumps_to` would, the bytes kept so far going first into the file,
    so that the value is serialized once whatever its size; ``data`` is then None. ``path``'s folder is made
    when a file is written.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    entry = serializer_for(obj)
    if inline_limit <= 0 or not entry.builtin:
        os.makedirs(directory, exist_ok=True)
        name, content_id = _dump_atomic(path, obj, _StreamHash if hashed else None)
        return name, content_id, None
    fsync = _fsync_enabled()
    opened: "dict[str, Any]" = {}

    def open_file():
        os.makedirs(directory, exist_ok=True)
        fd, tmp = _create_temp(directory, os.path.basename(path))
        hasher = _StreamHash(stable=True) if hashed else None
        opened.update(fd=fd, tmp=tmp, hasher=hasher)
        return _SyncingWriter(fd, fsync, hasher)

    target = _SpillingWriter(inline_limit, open_file)
    try:
        _dump_with(entry, obj, target)
        if target.file is None:
            return entry.name, None, target.kept()
        hasher = opened["hasher"]
        if hasher is not None:
            hasher.finish()
        if fsync:
            os.fsync(opened["fd"])
        digest = hasher.result() if hasher is not None else None
        os.close(opened.pop("fd"))
        os.replace(opened["tmp"], path)
    except BaseException:
        if opened.get("hasher") is not None:
            opened["hasher"].abort()
        if "fd" in opened:
            os.close(opened["fd"])
        if "tmp" in opened:
            try:
                os.unlink(opened["tmp"])
            except OSError:
                pass
        raise
    return entry.name, digest, None


def _dump_with(entry, obj, target):
    """``entry``'s dump of ``obj`` into ``target``; whatever it raises becomes a :class:`SerializationError`."""
    try:
        entry.dump(obj, target)
    except Exception as exc:
        raise SerializationError(
            "cannot serialize a value of type %s with serializer %r: %s: %s"
            % (qualified_name(type(obj)), entry.name, type(exc).__name__, exc)
        ) from exc


class _SpillingWriter:
    """What a built-in serializer writes to when a small value may stay in memory (:func:`dump_output`): the
    bytes are kept up to ``limit``; the first write past it makes the real writer with ``open_file()``, which gets
    what was kept and everything after it."""

    def __init__(self, limit, open_file):
        self._limit = limit
        self._open_file = open_file
        self._kept = bytearray()
        self.file = None

    def write(self, data):
        if self.file is not None:
            return self.file.write(data)
        view = memoryview(data)
        if len(self._kept) + view.nbytes <= self._limit:
            self._kept += view.tobytes() if view.ndim != 1 or not view.c_contiguous else view.cast("B")
            return view.nbytes
        self.file = self._open_file()
        if self._kept:
            self.file.write(bytes(self._kept))
            self._kept = bytearray()
        return self.file.write(data)

    def flush(self):
        pass

    def tell(self):
        return self.file.tell() if self.file is not None else len(self._kept)

    def kept(self):
        return bytes(self._kept)


def _dump_atomic(path, obj, hash_factory):
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    entry = serializer_for(obj)
    fsync = _fsync_enabled()
    fd, tmp = _create_temp(directory, os.path.basename(path))
    hasher = hash_factory(stable=entry.builtin) if hash_factory is not None else None
    try:
        with open(fd, "wb", buffering=1024 * 1024) as file:
            # Built-in serializers write big buffers themselves; user ones get an ordinary file object.
            target: object
            if entry.builtin:
                target = _SyncingWriter(fd, fsync, hasher)
            else:
                target = file if hasher is None else _HashingFile(file, hasher)
            _dump_with(entry, obj, target)
            file.flush()
            if hasher is not None:
                hasher.finish()
            if fsync:
                # The hashing threads go on meanwhile: os.fsync releases the GIL.
                os.fsync(fd)
        digest = hasher.result() if hasher is not None else None
        os.replace(tmp, path)
    except BaseException:
        if hasher is not None:
            hasher.abort()
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return entry.name, digest


def _create_temp(directory, base):
    """A new file ``.<base>.<random>.tmp`` in ``directory``, opened for writing: ``(fd, path)``.

    What ``tempfile.mkstemp`` does, without importing tempfile (a few ms on every job's start).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for name in ("O_CLOEXEC", "O_NOFOLLOW", "O_BINARY"):
        flags |= getattr(os, name, 0)
    for _ in range(100):
        tmp = os.path.join(directory, ".%s.%s.tmp" % (base, os.urandom(6).hex()))
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError("could not create a temporary file in %s" % directory)


class _StreamHash:
    """Content id of the bytes handed to a file, in order, hashed on two threads while they are written.

    The id (:mod:`deepforge.content_hash`) is made of the sha256 digests of 8 MiB blocks: each block, once
    complete, is queued for one of two hashing threads (hashlib releases the GIL), so that the writer's thread
    goes on writing and fsyncing meanwhile and two blocks are hashed at once. Content of at most one block gets
    the plain sha256 (its only block's digest).

    ``stable``: the buffers given to :meth:`update` do not change until :meth:`result` returns (true of the
    built-in serializers: numpy's array memory, pickle's frames and the buffers of the objects it pickles), so
    big pieces are queued by reference. Otherwise (custom serializers may reuse a buffer) the bytes are copied
    into the block before ``update`` returns; so are small pieces, so that a block is a few big buffers.
    Nothing is hashed, and :meth:`result` is None, until :data:`HASH_MIN_BYTES` have been written.
    """

    def __init__(self, stable):
        self._stable = stable
        self._small: list[bytes] = []
        self._size = 0
        self._started = False
        self._parts = []  # the current block: memoryviews of stable buffers and bytearrays of our own
        self._tail = None  # the bytearray at the end of _parts that small pieces are appended to
        self._fill = 0
        self._blocks = 0
        self._digests = {}
        self._queue: "SimpleQueue | None" = None
        self._threads = []
        self._failed = None
        self._aborted = False
        self._finished = False
        self.valid = True

    def invalidate(self):
        """The file will not hold the bytes in the order they were hashed: give no hash."""
        self.valid = False

    def update(self, data):
        if not self.valid:
            return
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        n = len(view)
        if not self._started:
            if self._size + n < HASH_MIN_BYTES:
                self._small.append(bytes(view))
                self._size += n
                return
            self._started = True
            for chunk in self._small:
                self._add(memoryview(chunk), False)
            self._small = []
        self._size += n
        self._add(view, not self._stable)

    def _add(self, view, copy):
        while view:
            take = min(len(view), _HASH_BLOCK - self._fill)
            piece = view[:take]
            view = view[take:]
            if copy or take < _HASH_COPY_BELOW:
                if self._tail is None:
                    self._tail = bytearray()
                    self._parts.append(self._tail)
                self._tail += piece
            else:
                self._parts.append(piece)
                self._tail = None
            self._fill += take
            if self._fill == _HASH_BLOCK:
                self._submit()

    def _submit(self):
        """Queues the current block for the hashing threads (started on first use)."""
        if len(self._threads) < _HASH_THREADS:
            self._start_thread()
        queue = self._queue
        assert queue is not None  # the first _start_thread made it
        queue.put((self._blocks, self._parts))
        self._blocks += 1
        self._parts = []
        self._tail = None
        self._fill = 0

    def finish(self):
        """All bytes are written: the last (or only) block goes to the threads, overlapped with the fsync."""
        if self._finished or not self.valid or not self._started:
            return
        self._finished = True
        if self._fill or not self._blocks:
            self._submit()

    def _start_thread(self):
        import threading

        if self._queue is None:
            try:
                from _queue import SimpleQueue  # type: ignore[import]  # no stub in Debian mypy 1.0's typeshed
            except ImportError:  # pragma: no cover - not CPython
                from queue import SimpleQueue
            self._queue = SimpleQueue()
        thread = threading.Thread(
            target=self._run, name="deepforge-sha256-%d" % len(self._threads), daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _run(self):
        import hashlib

        queue = self._queue
        assert queue is not None  # made before any thread starts
        get = queue.get
        digests = self._digests
        while True:
            item = get()
            if item is None:
                return
            if self._aborted or self._failed is not None:
                continue
            index, parts = item
            try:
                sha = hashlib.sha256()
                for part in parts:
                    sha.update(part)
                digests[index] = sha.digest()
            except BaseException as exc:  # noqa: B902 - reported as "no hash", never raised in the thread
                self._failed = exc

    def _stop(self):
        queue = self._queue
        for _ in self._threads:
            assert queue is not None  # made before the first thread
            queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def abort(self):
        self._aborted = True
        self._stop()

    def result(self):
        """The content id, or None (small output, or the writer did something the hash cannot follow)."""
        self.finish()
        self._stop()
        if not self.valid or not self._started or self._failed is not None:
            return None
        from .content_hash import id_from_digests

        return id_from_digests([self._digests[i] for i in range(self._blocks)], self._size)


class _HashingFile:
    """The file object custom serializers get when the harness wants a hash: every write is hashed.

    Anything that could make the file differ from the bytes written in order (seeking elsewhere,
    truncating, writing through the descriptor or the raw stream) turns the hash off rather than risk a
    wrong one; attributes it does not know are passed through and turn it off too.
    """

    _HARMLESS = frozenset(
        ("name", "mode", "closed", "writable", "readable", "seekable", "isatty", "flush", "encoding", "errors")
    )

    def __init__(self, file, hasher):
        self._file = file
        self._hasher = hasher
        self._pos = file.tell()

    def write(self, data):
        n = self._file.write(data)
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        if n is None:
            n = len(view)
        self._hasher.update(view[:n])
        self._pos += n
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def tell(self):
        return self._file.tell()

    def seek(self, offset, whence=0):
        pos = self._file.seek(offset, whence)
        if pos != self._pos:
            self._hasher.invalidate()
        return pos

    def truncate(self, size=None):
        self._hasher.invalidate()
        return self._file.truncate(size)

    def fileno(self):
        self._hasher.invalidate()
        return self._file.fileno()

    def close(self):
        return self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()
        return False

    def __iter__(self):
        return iter(self._file)

    def __getattr__(self, name):
        # Dunder probes (hasattr(f, "__fspath__") and the like) change nothing.
        if name not in self._HARMLESS and not (name.startswith("__") and name.endswith("__")):
            self._hasher.invalidate()
        return getattr(self._file, name)


def load_from(path, serializer=PICKLE):
    """Read the value stored at ``path`` by the serializer named ``serializer``."""
    entry = _lookup(serializer)
    with open(os.fspath(path), "rb", buffering=1024 * 1024) as file:
        return entry.load(file)
