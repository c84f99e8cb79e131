"""The warm worker: ``python -m deepforge.zygote``, started once per engine and interpreter.

A job started as a new interpreter pays for the interpreter, ``import deepforge`` and, worse, for every heavy
library it imports (numpy ~0.1 s, matplotlib.pyplot ~0.3 s, torch ~1 s on the 2-core machines this was written
on). The warm worker is an interpreter that has done that once: for each job it forks a child that becomes the
job's harness, in a process group of its own, with the job's working directory, environment and arguments, its
stdout/stderr/event channel on sockets the engine listens on. The engine sees the same process, pid, process
group and events as with a started interpreter (packages/engine/src/compute/warm-worker.ts; docs/adr/0006).

Heavy libraries are imported here on demand: when a job's operation imports one of :data:`PRELOADABLE`, the
worker imports it right after forking that job (so the first such job is not delayed), and later jobs inherit it.
Nothing of the project (operations, utils, serializers) is ever imported here: only installed libraries, whose
import does not depend on the job.

Protocol: requests on fd 0, replies on fd 3, one JSON document per line.

- request ``{"id", "spec", "cwd", "env", "socket", "token"}`` (and ``specText``): fork a job. ``spec`` is the
  job.json path given to the harness, ``specText`` that file's content when the engine sends it along (the
  harness then reads no file, and the engine may still be writing it), ``socket`` the path of the engine's Unix
  socket, ``token`` 32
  hex digits the child sends first on each of its three connections, followed by ``o`` (stdout), ``e`` (stderr)
  or ``v`` (events) and a newline.
- request ``{"type": "spare", "socket", "token"}``: fork a spare child, which connects its streams with
  ``token`` and waits for its job on its event connection: the engine writes it there itself, one JSON document
  ``{"spec", "cwd", "env"}`` (and ``specText``) and a newline; the connection closed instead, the spare exits.
  The fork and the connections of a job are so paid before it is asked for, and the job reaches its process
  without passing through the worker. Request ``{"type": "assigned", "spec"}`` (and ``specText``): a spare got
  that job; the worker only imports the libraries it uses, for the next ones.
- replies: ``{"type": "ready", "pid", "python"}`` once; ``{"type": "started", "id", "pid"}``;
  ``{"type": "exit", "pid", "code", "signal"}`` (``code`` None when killed by ``signal``);
  ``{"type": "failed", "id", "message"}`` when no child could be made; ``{"type": "preloaded", "module", "ok",
  "ms", "error"}`` after each library import; ``{"type": "spare", "token", "pid"}`` (``pid`` None when the
  fork failed) for a spare.

The worker dies with the engine (``PR_SET_PDEATHSIG``), each child with the worker. It stops when fd 0 closes.
"""

import json
import os
import sys

#: Libraries worth importing once for all jobs (slow to import, and import-time state independent of the job).
#: tqdm is not among them: the harness patches it as it is imported by the job.
PRELOADABLE = (
    "numpy",
    "torch",
    "torchvision",
    "matplotlib",
    "matplotlib.pyplot",
    "pandas",
    "scipy",
    "sklearn",
    "PIL",
)

_CONTROL_IN = 0
_CONTROL_OUT = 3
_HEADER_KINDS = (("o", 1), ("e", 2), ("v", 3))


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _reply(message):
    _write_all(_CONTROL_OUT, (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8"))


#: How many of the project's own modules (``utils``, ``serializers``) are followed from one operation.
_MAX_PROJECT_FILES = 50


def _imports_of(spec_path, spec_text=None):
    """The preloadable modules the job's operation imports, in order of mention (breadth first).

    Anywhere in its file, and in the project modules it imports (``utils.models`` importing torch counts), as
    far as they can be read; code that cannot be read simply adds nothing.
    """
    try:
        if spec_text is None:
            with open(spec_path, "rb") as file:
                spec_text = file.read().decode("utf-8")
        spec = json.loads(spec_text)
        code_dir = spec["codeDir"]
        first = os.path.join(code_dir, spec["operation"]["file"])
        stat = os.stat(first)
    except Exception:
        return []
    # Every job of an operation in an execution reads the same code snapshot: parse it once. (The answer only
    # decides what to preload, so a stale one costs time, never correctness.)
    key = (first, stat.st_mtime_ns, stat.st_size)
    found = _IMPORTS_SEEN.get(key)
    if found is None:
        if len(_IMPORTS_SEEN) >= 256:
            _IMPORTS_SEEN.clear()
        found = _IMPORTS_SEEN[key] = _scan_imports(code_dir, first)
    return list(found)


_IMPORTS_SEEN: dict[tuple, list[str]] = {}


def _scan_imports(code_dir, first):
    import ast

    wanted = []
    queue = [first]
    seen: set[str] = set()
    while queue and len(seen) < _MAX_PROJECT_FILES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        try:
            with open(path, "rb") as file:
                tree = ast.parse(file.read())
        except Exception:
            continue
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [node.module + "." + alias.name for alias in node.names]
            for name in names:
                if name.partition(".")[0] in ("utils", "serializers"):
                    queue.extend(_project_files(code_dir, name))
                    continue
                for candidate in (name, name.partition(".")[0]):
                    if candidate in PRELOADABLE and candidate not in wanted:
                        wanted.append(candidate)
    if any(name.startswith("matplotlib") for name in wanted) and "matplotlib" not in wanted:
        wanted.insert(0, "matplotlib")
    return wanted


def _project_files(code_dir, dotted):
    """The files of the project that ``import <dotted>`` may run: the module, or the package's __init__."""
    base = os.path.join(code_dir, *dotted.split("."))
    found = []
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            found.append(candidate)
    if not found and "." in dotted:  # `from utils.models import FashionCNN`: FashionCNN is not a module
        found = _project_files(code_dir, dotted.rpartition(".")[0])
    return found


def _preload(names):
    import importlib
    import time

    for name in names:
        if name in sys.modules:
            continue
        started = time.perf_counter()
        try:
            importlib.import_module(name)
            error = None
        except BaseException as exc:  # noqa: B902 - a library that fails to import is simply not preloaded
            error = "%s: %s" % (type(exc).__name__, exc)
            # Do not leave a half-imported package behind for the children.
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
        _reply(
            {
                "type": "preloaded",
                "module": name,
                "ok": error is None,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "error": error,
            }
        )


def _connect(address, token, kind, readable=False):
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(address)
    sock.sendall(("%s%s\n" % (token, kind)).encode("ascii"))
    if not readable:
        sock.shutdown(socket.SHUT_RD)
    return sock


#: The most a spare reads for its job (its spec and environment: a few KiB).
_MAX_ASSIGNMENT_BYTES = 64 * 1024 * 1024


def _read_assignment(fd):
    """A spare child's job: the one JSON line the engine writes to its event connection; None when the engine
    closed it without one (the spare is not needed). Anything else is an error (ValueError)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            if chunks:
                raise ValueError("the job's assignment ended before its end of line")
            return None
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk:
            break
        if size > _MAX_ASSIGNMENT_BYTES:
            raise ValueError("the job's assignment is over %d bytes" % _MAX_ASSIGNMENT_BYTES)
    job = json.loads(b"".join(chunks).partition(b"\n")[0].decode("utf-8"))
    if not isinstance(job, dict):
        raise ValueError("the job's assignment is not a JSON object")
    return job


def _child(request, close_fds, worker_pid, spare=False, environ=None):
    """In the forked child: become the job's harness. Never returns.

    A ``spare`` connects its streams with the spare's token first, then waits for its job (``spec``, ``cwd``,
    ``env``) on its event connection, from the engine: what the fork and the connections cost is paid before the
    job is asked for. Without a job (the connection closed) it exits. ``environ``: a copy of the environment
    the child inherited, when the worker has one.
    """
    code = 3
    try:
        os.setpgid(0, 0)
        _die_with_parent()  # with the worker, which dies with the engine
        if os.getppid() != worker_pid:  # the worker died before that took effect
            os._exit(code)
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        socks = [
            (_connect(request["socket"], request["token"], kind, readable=spare and kind == "v"), target)
            for kind, target in _HEADER_KINDS
        ]
        for sock, target in socks:
            os.dup2(sock.fileno(), target)
            sock.close()
        if spare:
            job = _read_assignment(3)  # the event connection, now fd 3
            if job is None:
                os._exit(0)
            request = dict(request, **job)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        # The job's working directory: a forked job makes its own (the engine does not make it for one).
        os.makedirs(request["cwd"], exist_ok=True)
        os.chdir(request["cwd"])
        if request.get("specText") is not None:
            _write_spec(request["spec"], request["specText"])
        _replace_environ(request["env"], environ)
        numpy_random = sys.modules.get("numpy.random")
        if numpy_random is not None:
            # numpy seeds its global generator from the OS at import: without this every job would draw the same
            # numbers. (random reseeds itself after a fork; torch's default seed is fixed anyway.)
            numpy_random.seed()
        from . import harness

        sys.argv = [harness.__file__, request["spec"]]
        harness._entry([request["spec"]], request.get("specText"), forked=True)  # ends the process
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: B902 - report on whatever stderr is now, then exit
        try:
            import traceback

            os.write(2, ("deepforge: the warm worker could not start the job\n" + traceback.format_exc()).encode())
        except BaseException:  # noqa: B902
            pass
    os._exit(code)


def _replace_environ(env, current=None):
    """Make the process's environment exactly ``env``, changing only what differs from ``current`` (a plain copy
    of it, when the caller has one: reading os.environ decodes every name and value): each change is a call into
    the C library, and a job's environment is mostly the worker's (all of it replaced took ~0.4 ms a job)."""
    if current is None:
        current = dict(os.environ)
    environ = os.environ
    for key in current:
        if key not in env:
            del environ[key]
    for key, value in env.items():
        if current.get(key) != value:
            environ[key] = value


def _write_spec(path, text):
    """The job's spec file, for whoever replays the job (the harness runs from ``text``): the engine leaves it to a
    forked job. Not synced, like the engine's (a crash re-runs the job); one that cannot be written is said on the
    job's stderr, and the job runs all the same."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            _write_all(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        os.write(2, ("deepforge: cannot write the job's spec file %s: %s\n" % (path, exc)).encode())


def _die_with_parent():
    from .harness import _die_with_parent as die

    die()


def main():
    import gc
    import selectors
    import signal

    if not sys.platform.startswith("linux") or not hasattr(os, "pidfd_open"):
        sys.stderr.write("deepforge: no warm worker here (it needs Linux and Python 3.9 or later)\n")
        return 2
    worker_pid = os.getpid()
    try:
        os.close(os.pidfd_open(worker_pid))
    except OSError as exc:
        sys.stderr.write("deepforge: no warm worker here (pidfd_open: %s)\n" % exc)
        return 2
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # `python -m` put the start directory first: jobs must not import from it
    _die_with_parent()
    from . import harness, plots  # noqa: F401 - imported for the children
    # What every child imports on its way (its streams' sockets, the harness's exit and usage): ~1 ms a child.
    import atexit, faulthandler, resource, socket  # noqa: E401,F401

    plots.use_backend()  # before any preloaded matplotlib picks a backend
    harness.watch_process()  # for every child: the job's stdio takes the same descriptors
    # The environment every child starts with, as a plain dict: only a library's import may change it.
    environ = [dict(os.environ)]
    selector = selectors.EpollSelector()  # Linux only, like pidfds: what DefaultSelector is there, with fileno()
    selector.register(_CONTROL_IN, selectors.EVENT_READ, None)
    children: dict[int, int] = {}  # pidfd -> pid
    _reply({"type": "ready", "pid": os.getpid(), "python": "%d.%d.%d" % sys.version_info[:3]})
    pending = b""
    def reap(pidfd, pid, block):
        """Report a child that exited (``block``: it did); False while it still runs."""
        try:
            done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            done, status = pid, None
        if done == 0:
            return False
        selector.unregister(pidfd)
        os.close(pidfd)
        children.pop(pidfd, None)
        if status is None:
            _reply({"type": "exit", "pid": pid, "code": None, "signal": None})
        elif os.WIFSIGNALED(status):
            _reply({"type": "exit", "pid": pid, "code": None, "signal": os.WTERMSIG(status)})
        else:
            _reply({"type": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status), "signal": None})
        return True

    def reap_all(signum=None, frame=None):
        for pidfd, pid in list(children.items()):
            reap(pidfd, pid, False)

    def preload(wanted):
        if not wanted:
            return
        # An import may take long (torch ~1 s) or hang: children that exit meanwhile are reported from SIGCHLD
        # (between the import's bytecodes), not left waiting for the loop.
        signal.signal(signal.SIGCHLD, reap_all)
        try:
            reap_all()
            _preload(wanted)
            environ[0] = dict(os.environ)
            gc.collect()  # what the imports left as garbage, before it is frozen with the rest
        finally:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        reap_all()

    def preload_for(spec_path, spec_text=None):
        preload([m for m in _imports_of(spec_path, spec_text) if m not in sys.modules])

    while True:
        for key, _ in selector.select():
            if key.data is not None:  # a child's pidfd: it exited
                if key.fd in children:
                    reap(key.fd, key.data, True)
                continue
            chunk = os.read(_CONTROL_IN, 65536)
            if not chunk:
                return 0
            pending += chunk
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                if not line.strip():
                    continue
                request = json.loads(line.decode("utf-8"))
                kind = request.get("type", "fork")
                if kind == "assigned":  # a spare got its job from the engine: what it imports, for the next
                    preload_for(request["spec"], request.get("specText"))
                    continue
                wanted = (
                    []
                    if kind == "spare"
                    else [m for m in _imports_of(request["spec"], request.get("specText")) if m not in sys.modules]
                )
                # Everything the worker holds (the runtime, the preloaded libraries) goes into the collector's
                # permanent generation: the child's collections and its exit's scan for files left open
                # (harness._close_open_files) see only the job's own objects, and leave the inherited pages
                # unwritten. With torch preloaded that scan took ~50 ms per job; with numpy ~5 ms.
                gc.freeze()
                try:
                    pid = os.fork()
                except OSError as exc:
                    if kind == "spare":
                        _reply({"type": "spare", "token": request["token"], "pid": None, "message": str(exc)})
                    else:
                        _reply({"type": "failed", "id": request["id"], "message": "fork: %s" % exc})
                    continue
                if pid == 0:
                    _child(request, [selector.fileno(), *children], worker_pid, kind == "spare", environ[0])
                try:
                    os.setpgid(pid, pid)  # as the child does: a signal to the group right away reaches it
                except OSError:
                    pass
                pidfd = os.pidfd_open(pid)
                children[pidfd] = pid
                selector.register(pidfd, selectors.EVENT_READ, pid)
                if kind == "spare":
                    _reply({"type": "spare", "token": request["token"], "pid": pid})
                    continue
                _reply({"type": "started", "id": request["id"], "pid": pid})
                preload(wanted)


if __name__ == "__main__":
    sys.exit(main())
