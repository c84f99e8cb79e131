"""Runs one operation: ``python -m deepforge.harness job.json``.

The engine writes a JobSpec (packages/protocol/src/runtime-events.ts) and starts this module with
``PYTHONPATH=<repo>/python``, ``cwd=spec.workDir``, in a process group of its own, with the event channel
(``eventsFd``, inherited) or ``eventsFile``. The harness:

1. reads the spec, opens the event channel and emits ``hello``; refuses an unknown protocol version
   (``error`` kind ``spec``, saying which side is too old) and malformed specs (exit 2);
2. prepares the process: dies with the engine (``PR_SET_PDEATHSIG``), line-buffered stdout/stderr, the
   DeepForge matplotlib backend, tqdm patched, ``codeDir`` first on ``sys.path`` with ``operations``,
   ``utils`` and ``serializers`` importable (as namespace packages when they have no ``__init__.py``);
3. imports ``serializers/*.py`` (sorted) then the operation file as module ``operations.<Name>``
   (errors: kind ``import``, with the file and line);
4. ``phase: loading-inputs``: loads references and inputs with their serializers, and builds a fresh
   ``nn.Module`` for each reference naming an architecture (``spec.architectures``: its generated module
   ``resources.<Name>``, weights initialised from seed 0 without touching the job's random state) (errors:
   kind ``input``);
5. ``phase: executing``: ``cls(**attributes, **references).execute(**inputs)`` (errors: kind ``exception``);
6. checks the returned value against the declared outputs (kind ``bad-return``), snapshots changed figures;
7. ``phase: saving-outputs``: writes each output atomically to ``outputDir/<name>`` and emits ``output``
   (or, when the spec asks with ``outputInlineMaxBytes``, puts a small output's bytes in the event instead)
   (errors: kind ``serialization``), with its content id when the spec asks (``hash`` for ``outputContentIds``,
   ``sha256`` for ``outputHashes`` up to 8 MiB) and the output is big enough to be worth it (see
   :func:`deepforge.serialization.dumps_to_hashed`); exit 0 (a fast exit: threads joined, ``atexit`` run,
   open files closed, then ``os._exit``). When the spec asks for ``usage``, the ``usage`` event is the last
   thing the harness says, right before ``os._exit``; with ``exitCode`` in it (see :func:`_report_usage`) the
   harness closes stdout, stderr and the event channel after it.

Exit codes: 0 success, 1 the operation failed (an ``error`` event says why), 2 unusable spec / protocol,
3 the harness itself crashed (a bug here; the traceback is on stderr).
"""

import base64
import json
import os
import sys

# typing is not imported at run time (start-up cost); type checkers read this import (mypy and pyright treat a
# name TYPE_CHECKING as true whatever its value).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_SPEC = 2
EXIT_CRASH = 3

#: The biggest peak resident set (bytes) with which the last ``usage`` event tells the exit code ahead of the
#: exit: above it, taking the process down frees enough memory that the next job should not start before.
EARLY_END_MAX_RSS = 512 * 1024 * 1024

#: The event writer the ``usage`` event goes to as the process ends (set when the spec asks for it).
_usage_writer = None
#: The most bytes an engine may ask to get in an ``output`` event (protocol's OUTPUT_INLINE_MAX_BYTES).
_INLINE_MAX_BYTES = 1024 * 1024

#: Whether that event may carry ``exitCode`` (the spec's ``announceExit``).
_announce_exit = False


class JobFailed(Exception):
    """Stops the job after its error event was emitted."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


# ---------------------------------------------------------------------------------------------------------
# spec


def _check_spec(raw, expected_version):
    """Problems with a spec whose version is right (list of strings; empty when usable)."""
    problems = []

    def need(obj, key, kinds, where):
        if key not in obj:
            problems.append("%s is missing %r" % (where, key))
            return None
        value = obj[key]
        if not isinstance(value, kinds) or isinstance(value, bool) and bool not in _as_tuple(kinds):
            problems.append("%s.%s has the wrong type (%s)" % (where, key, type(value).__name__))
            return None
        return value

    for key in ("codeDir", "outputDir", "workDir"):
        need(raw, key, str, "spec")
    operation = need(raw, "operation", dict, "spec")
    if operation is not None:
        need(operation, "file", str, "spec.operation")
        need(operation, "className", str, "spec.operation")
    if need(raw, "attributes", dict, "spec") is None:
        pass
    for key in ("references", "inputs"):
        table = need(raw, key, dict, "spec")
        for name, item in (table or {}).items():
            if not isinstance(item, dict):
                problems.append("spec.%s[%r] must be an object with path and serializer" % (key, name))
                continue
            need(item, "path", str, "spec.%s[%r]" % (key, name))
            need(item, "serializer", str, "spec.%s[%r]" % (key, name))
    architectures = raw.get("architectures", {})
    if not isinstance(architectures, dict):
        problems.append("spec.architectures must be an object")
        architectures = {}
    for name, item in architectures.items():
        if not isinstance(item, dict):
            problems.append("spec.architectures[%r] must be an object with module and className" % name)
            continue
        need(item, "module", str, "spec.architectures[%r]" % name)
        need(item, "className", str, "spec.architectures[%r]" % name)
    outputs = need(raw, "outputs", list, "spec")
    if outputs is not None:
        for name in outputs:
            if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
                problems.append("spec.outputs has an unusable output name %r" % (name,))
        if len(set(o for o in outputs if isinstance(o, str))) != len(outputs):
            problems.append("spec.outputs has duplicate names")
    if "eventsFd" in raw and (not isinstance(raw["eventsFd"], int) or isinstance(raw["eventsFd"], bool)):
        problems.append("spec.eventsFd must be an integer")
    if "eventsFile" in raw and not isinstance(raw["eventsFile"], str):
        problems.append("spec.eventsFile must be a string")
    if "debug" in raw and not isinstance(raw["debug"], bool):
        problems.append("spec.debug must be a boolean")
    for key in ("outputHashes", "outputContentIds", "usage", "announceExit"):
        if key in raw and not isinstance(raw[key], bool):
            problems.append("spec.%s must be a boolean" % key)
    inline = raw.get("outputInlineMaxBytes", 0)
    if not isinstance(inline, int) or isinstance(inline, bool) or not 0 <= inline <= _INLINE_MAX_BYTES:
        problems.append("spec.outputInlineMaxBytes must be an integer from 0 to %d" % _INLINE_MAX_BYTES)
    return problems


def _as_tuple(kinds):
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _version_problem(raw, expected, runtime_version):
    version = raw.get("v")
    if version == expected and not isinstance(version, bool):
        return None
    if isinstance(version, int) and not isinstance(version, bool):
        if version > expected:
            return (
                "the job spec uses runtime protocol v%d but this runtime (deepforge %s, python/deepforge) "
                "only knows v%d: the runtime is too old; update python/deepforge to match the engine"
                % (version, runtime_version, expected)
            )
        return (
            "the job spec uses runtime protocol v%d but this runtime (deepforge %s) needs v%d: the engine "
            "is too old for this runtime; update the engine" % (version, runtime_version, expected)
        )
    return "the job spec has no usable protocol version 'v' (got %r); this runtime speaks v%d" % (version, expected)


# ---------------------------------------------------------------------------------------------------------
# process setup


def _die_with_parent():
    """Linux: get SIGKILL when the engine (our parent) dies, so no job outlives it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        parent = os.getppid()
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(EXIT_CRASH)
    except Exception:
        pass


def watch_process():
    """What every job's process has, whatever it runs: stdio line-buffered (the console is live) and faulthandler
    on (a crash, or SIGUSR1 from the engine for a hung job, prints where it is). The warm worker does this once,
    before it forks: its children inherit both."""
    _line_buffered_stdio()
    try:
        import faulthandler
        import signal

        faulthandler.enable()
        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, all_threads=True)  # the engine can ask a hung job where it is
    except Exception:
        pass


def _line_buffered_stdio():
    import io

    for stream in (sys.stdout, sys.stderr):
        try:
            # Line by line, so the console is live; a character the console encoding lacks is escaped
            # rather than failing the user's print.
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(line_buffering=True, errors="backslashreplace")
        except Exception:
            pass


def _install_package(name, directory):
    """Make ``name`` (operations / utils / serializers) import from ``directory`` whatever else is installed."""
    import importlib.machinery
    import importlib.util

    if not os.path.isdir(directory):
        return
    if os.path.isfile(os.path.join(directory, "__init__.py")):
        # A regular package: codeDir is first on sys.path, so it wins; drop any module imported earlier.
        sys.modules.pop(name, None)
        return
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [directory]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module


def make_code_importable(code_dir):
    """Put ``code_dir`` first on ``sys.path`` and make its ``operations``, ``utils``, ``serializers`` and
    ``resources`` import from it, as namespace packages when they have no ``__init__.py``: what a job sees, and
    what the artifact preview (:mod:`deepforge.preview`) uses so that a serializer importing ``utils`` loads there
    too."""
    if code_dir in sys.path:
        sys.path.remove(code_dir)
    sys.path.insert(0, code_dir)
    for name in ("operations", "utils", "serializers", "resources"):
        _install_package(name, os.path.join(code_dir, name))


# ---------------------------------------------------------------------------------------------------------
# the job


class Harness:
    def __init__(self, spec, writer):
        self.spec = spec
        self.writer = writer
        self.code_dir = os.path.abspath(spec["codeDir"])
        self._locator = None
        self.debug = bool(spec.get("debug", False))

    @property
    def locator(self):
        # deepforge._errors imports traceback: only a failing job needs it.
        if self._locator is None:
            from . import _errors

            self._locator = _errors.CodeLocator(self.code_dir)
        return self._locator

    # events ------------------------------------------------------------------------------------------
    def emit(self, type_, **fields):
        fields["type"] = type_
        self.writer.emit(fields)

    def fail(self, kind, message, code=EXIT_FAILED, exc=None, traceback_text=None, location=None) -> "NoReturn":
        """Emit an error event (and print the traceback to stderr) then stop the job."""
        from . import _errors

        event = {"kind": kind, "message": message}
        if exc is not None:
            described = _errors.describe(exc, self.locator, keep_harness_frames=self.debug)
            event["traceback"] = described["traceback"]
            event["frames"] = described["frames"]
            if "location" in described:
                event["location"] = described["location"]
        if traceback_text is not None:
            event["traceback"] = traceback_text
        if location is not None:
            event["location"] = location
        self.emit("error", **event)
        text = event.get("traceback") or ""
        if kind != "exception" or not text:
            text += "deepforge: %s error: %s\n" % (kind, message)
        _write_stderr(text)
        raise JobFailed(code)

    # steps -------------------------------------------------------------------------------------------
    def prepare(self):
        from . import plots, _progress as progress

        # `python -m` put the start directory first on sys.path: job files written there must not shadow
        # modules (codeDir goes first instead, below).
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]
        os.chdir(self.spec["workDir"])
        sys.dont_write_bytecode = True  # never write __pycache__ into the code snapshot
        plots.use_backend()
        # tqdm is patched when (if) user code imports it: importing it costs every other job ~6 ms.
        progress.patch_tqdm_on_import()
        make_code_importable(self.code_dir)

    def import_code(self):
        import importlib
        import importlib.util

        serializers_dir = os.path.join(self.code_dir, "serializers")
        if os.path.isdir(serializers_dir):
            for filename in sorted(os.listdir(serializers_dir)):
                if not filename.endswith(".py") or filename == "__init__.py" or filename.startswith("."):
                    continue
                module_name = "serializers." + filename[:-3]
                try:
                    importlib.import_module(module_name)
                except BaseException as exc:  # noqa: B902 - SystemExit in a serializer is a failure too
                    self._import_failed(exc, "serializers/" + filename)

        rel = self.spec["operation"]["file"]
        path = os.path.join(self.code_dir, rel)
        if not os.path.isfile(path):
            self.fail("spec", "the operation file %s does not exist in the code snapshot (%s)" % (rel, self.code_dir), EXIT_BAD_SPEC)
        module_name = _module_name(rel)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            self.fail("spec", "the operation file %s is not a Python source file" % rel, EXIT_BAD_SPEC)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        parent, _, child = module_name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:  # noqa: B902
            sys.modules.pop(module_name, None)
            self._import_failed(exc, rel)
        class_name = self.spec["operation"]["className"]
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module_name)
            self.fail(
                "spec",
                "%s defines no class %r (classes defined there: %s)" % (rel, class_name, ", ".join(found) or "none"),
                EXIT_BAD_SPEC,
            )
        if not callable(getattr(cls, "execute", None)):
            self.fail("spec", "class %s in %s has no execute method" % (class_name, rel), EXIT_BAD_SPEC)
        return cls

    def _import_failed(self, exc, rel):
        from . import _errors

        if isinstance(exc, SyntaxError):
            message = _errors.syntax_message(exc, self.locator)
        else:
            message = "%s (while importing %s)" % (_errors.one_line(exc), rel)
        self.fail("import", message, exc=exc)

    def load_inputs(self):
        from . import serialization

        self.emit("phase", phase="loading-inputs")
        loaded = {}
        for kind, table in (("reference", self.spec["references"]), ("input", self.spec["inputs"])):
            target = {}
            for name, item in table.items():
                try:
                    target[name] = serialization.load_from(item["path"], item["serializer"])
                except BaseException as exc:  # noqa: B902
                    from . import _errors

                    self.fail(
                        "input",
                        "could not load %s %r (serializer %s) from %s: %s"
                        % (kind, name, item["serializer"], item["path"], _errors.one_line(exc)),
                        exc=exc,
                    )
            loaded[kind] = target
            if kind == "reference":
                self._build_architectures(target)
        return loaded["reference"], loaded["input"]

    def _build_architectures(self, target):
        import importlib

        for name, item in self.spec.get("architectures", {}).items():
            try:
                import torch

                cls = getattr(importlib.import_module(item["module"]), item["className"])
                # Reproducible initial weights, and the operation's own random state left as it was.
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(0)
                    target[name] = cls()
            except BaseException as exc:  # noqa: B902
                from . import _errors

                self.fail(
                    "input",
                    "could not build architecture %s for reference %r: %s"
                    % (item["className"], name, _errors.one_line(exc)),
                    exc=exc,
                )

    def _call(self, func, kwargs, what):
        """``func(**kwargs)``; a call the job's names do not fit is a spec error, anything else the operation's.

        The signature is only looked at (inspect costs every job ~2 ms to import) when the call raised a
        TypeError: if the names do not bind, that is why.
        """
        try:
            return func(**kwargs)
        except BaseException as exc:  # noqa: B902
            from . import _errors

            mismatch = self._mismatch(func, kwargs, what) if isinstance(exc, TypeError) else None
            if mismatch is not None:
                self.fail("spec", mismatch, EXIT_BAD_SPEC)
            self._flush_feedback()
            self.fail("exception", _errors.one_line(exc), exc=exc)

    def _mismatch(self, func, kwargs, what):
        import inspect

        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            return None
        try:
            signature.bind(**kwargs)
        except TypeError as exc:
            return "%s does not match the job: %s" % (what, exc)
        return None

    def execute(self, cls, references, inputs):
        class_name = self.spec["operation"]["className"]
        attributes = dict(self.spec["attributes"])
        clash = sorted(set(attributes) & set(references))
        if clash:
            self.fail("spec", "names used both as attributes and references: %s" % ", ".join(clash), EXIT_BAD_SPEC)
        init_kwargs = dict(attributes)
        init_kwargs.update(references)
        self.emit("phase", phase="executing")
        instance = self._call(cls, init_kwargs, "%s(...) (its __init__ attributes and references)" % class_name)
        result = self._call(instance.execute, inputs, "%s.execute(...) (its inputs)" % class_name)
        self._flush_feedback()
        return result

    def _flush_feedback(self):
        from . import plots, _progress as progress

        try:
            plots.flush()
        except Exception as exc:  # pragma: no cover - capture reports its own failures
            _write_stderr("deepforge: could not capture figures: %s\n" % exc)
        progress.flush_all()
        # The metric values still buffered (_channel): written once the operation's step ends, however it ended.
        self.writer.flush()

    def split_outputs(self, result):
        from .serialization import qualified_name

        names = list(self.spec["outputs"])
        if not names:
            return {}
        if len(names) == 1:
            if result is None:
                _write_stderr("deepforge: warning: execute returned None for output %r\n" % names[0])
            return {names[0]: result}
        declared = "%d outputs (%s)" % (len(names), ", ".join(names))
        if not isinstance(result, (tuple, list)):
            got = "None" if result is None else "a single %s" % qualified_name(type(result))
            self.fail("bad-return", "execute returned %s but the operation declares %s" % (got, declared))
        if len(result) != len(names):
            self.fail(
                "bad-return",
                "execute returned %d value%s but the operation declares %s"
                % (len(result), "" if len(result) == 1 else "s", declared),
            )
        return dict(zip(names, result))

    def save_outputs(self, values):
        from . import serialization

        self.emit("phase", phase="saving-outputs")
        hashes = bool(self.spec.get("outputHashes", False))
        ids = bool(self.spec.get("outputContentIds", False))
        inline = int(self.spec.get("outputInlineMaxBytes") or 0)
        output_dir = self.spec["outputDir"]
        for name, value in values.items():
            path = os.path.join(output_dir, name)
            py_type = serialization.qualified_name(type(value))
            try:
                # Small values of built-in serializers come back as bytes when the engine asks (no file; the
                # output folder is made by the first output that needs one).
                serializer, content_id, data = serialization.dump_output(path, value, hashes or ids, inline)
            except serialization.SerializationError as exc:
                cause = exc.__cause__ or exc
                from . import _errors

                entry = serialization.serializer_for(value)
                message = "output %r (a %s) cannot be saved with serializer %s: %s" % (
                    name,
                    py_type,
                    entry.name,
                    _errors.one_line(cause),
                )
                if entry.builtin:
                    self.fail("serialization", message)
                self.fail("serialization", message, exc=cause)
            except OSError as exc:
                from . import _errors

                self.fail("serialization", "output %r could not be written to %s: %s" % (name, path, _errors.one_line(exc)))
            fields = {"name": name, "file": name, "serializer": serializer, "pyType": py_type}
            if data is not None:
                fields["size"] = len(data)
                fields["data"] = base64.b64encode(data).decode("ascii")
                self.emit("output", **fields)
                continue
            fields["size"] = os.path.getsize(path)
            if content_id is not None:
                # Lets the engine store the file under its content address at once (it checks it afterwards).
                # An engine that asks only outputHashes gets the sha256 where that is the id (docs/adr/0006).
                if ids:
                    fields["hash"] = content_id
                elif content_id.startswith("sha256:"):
                    fields["sha256"] = content_id[len("sha256:") :]
            self.emit("output", **fields)

    def run(self):
        self.prepare()
        cls = self.import_code()
        references, inputs = self.load_inputs()
        result = self.execute(cls, references, inputs)
        values = self.split_outputs(result)
        del result
        self.save_outputs(values)
        self._flush_feedback()
        return EXIT_OK


def _module_name(rel):
    parts = [p for p in rel.replace("\\", "/").split("/") if p and p != "."]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    return ".".join(parts) or "operation"


def _write_stderr(text):
    stream = sys.stderr
    try:
        if stream is not None and not stream.closed:
            stream.write(text)
            stream.flush()
            return
    except Exception:
        pass
    try:
        os.write(2, text.encode("utf-8", "replace"))
    except OSError:
        pass


def _open_channel(raw):
    from ._channel import EventWriter

    fd = raw.get("eventsFd") if isinstance(raw, dict) else None
    path = raw.get("eventsFile") if isinstance(raw, dict) else None
    if isinstance(fd, int) and not isinstance(fd, bool):
        if fd in (0, 1, 2):
            raise ValueError("eventsFd %d is a standard stream; events need a descriptor of their own" % fd)
        return EventWriter.for_fd(fd)
    if isinstance(path, str) and path:
        return EventWriter.for_file(path)
    raise ValueError("the job spec names no event channel (eventsFd or eventsFile)")


def main(argv=None, spec_text=None, forked=False):
    """Runs the job of the spec file ``argv[0]``; ``spec_text``, when given, is that file's content (the warm
    worker's children get it with their job, and read no file). ``forked``: a child of the warm worker, which
    has already tied it to its parent's death and inherited :func:`watch_process`."""
    from . import RUNTIME_PROTOCOL_VERSION, __version__, _channel

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        _write_stderr("usage: python -m deepforge.harness JOB.json\n")
        return EXIT_BAD_SPEC
    try:
        if spec_text is None:
            with open(argv[0], "rb") as file:
                spec_text = file.read().decode("utf-8")
        raw = json.loads(spec_text)
    except (OSError, ValueError) as exc:
        _write_stderr("deepforge: cannot read the job spec %s: %s\n" % (argv[0], exc))
        return EXIT_BAD_SPEC
    try:
        writer = _open_channel(raw)
    except (OSError, ValueError) as exc:
        _write_stderr("deepforge: cannot open the event channel: %s\n" % exc)
        return EXIT_BAD_SPEC
    _channel.install(writer)
    writer.emit({"type": "hello", "runtime": __version__, "python": "%d.%d.%d" % sys.version_info[:3], "pid": os.getpid()})

    def spec_error(message):
        writer.emit({"type": "error", "kind": "spec", "message": message})
        _write_stderr("deepforge: spec error: %s\n" % message)
        return EXIT_BAD_SPEC

    if not isinstance(raw, dict):
        return spec_error("the job spec must be a JSON object")
    problem = _version_problem(raw, RUNTIME_PROTOCOL_VERSION, __version__)
    if problem:
        return spec_error(problem)
    problems = _check_spec(raw, RUNTIME_PROTOCOL_VERSION)
    if problems:
        return spec_error("unusable job spec: " + "; ".join(problems))
    if not os.path.isdir(raw["workDir"]):
        return spec_error("the work directory %s does not exist" % raw["workDir"])
    if not os.path.isdir(raw["codeDir"]):
        return spec_error("the code directory %s does not exist" % raw["codeDir"])

    if not forked:
        _die_with_parent()
        watch_process()

    global _usage_writer, _announce_exit
    if raw.get("usage") is True:
        _usage_writer = writer
        _announce_exit = raw.get("announceExit") is True
    harness = Harness(raw, writer)
    try:
        return harness.run()
    except JobFailed as stop:
        return stop.code
    finally:
        writer.flush()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass


def _report_usage(code):
    """The ``usage`` event, when the spec asked for it: the last thing the harness says.

    ``code`` is the exit code the process is about to exit with, or None when it ends another way (the
    interpreter's own exit). When the spec asks (``announceExit``), with a code, no CUDA memory in use and a peak
    resident set of at most
    :data:`EARLY_END_MAX_RSS`, the event carries ``exitCode`` and stdout, stderr and the event channel are closed
    after it: the engine counts the job ended once it has read them to their end, while the kernel still takes
    the process down.
    """
    global _usage_writer
    writer, _usage_writer = _usage_writer, None
    if writer is None:
        return
    try:
        event = dict(job_usage(), type="usage")
        early = (
            _announce_exit
            and code is not None
            and "peakGpuBytes" not in event
            and event["peakRssBytes"] <= EARLY_END_MAX_RSS
        )
        if early:
            event["exitCode"] = code
        writer.emit(event)
    except Exception:  # what the job used is worth a line, never the job's result
        return
    if early:
        for fd in (1, 2, writer.fd):
            try:
                os.close(fd)
            except OSError:
                pass


def job_usage():
    """What this process and the subprocesses it waited for used so far: CPU time and peak memory.

    CPU time is user + system of this process (a process forked from the warm worker starts at zero) and of its
    waited-for children. The peak resident set is the kernel's high-water mark of this process (``VmHWM``), or
    the biggest child's if bigger. GPU memory only when torch already initialised CUDA here: importing torch or
    touching CUDA just to measure would cost the job seconds and memory of its own.
    """
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {
        "cpuSeconds": max(0.0, me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime),
        # ru_maxrss is in KiB on Linux.
        "peakRssBytes": max(_peak_rss_bytes(me.ru_maxrss * 1024), children.ru_maxrss * 1024),
    }
    gpu = _peak_gpu_bytes(sys.modules.get("torch"))
    if gpu is not None:
        usage["peakGpuBytes"] = gpu
    return usage


def _peak_rss_bytes(fallback):
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return fallback


def _peak_gpu_bytes(torch):
    """torch.cuda.max_memory_allocated summed over the devices, when this process initialised CUDA; else None."""
    cuda = getattr(torch, "cuda", None)
    if cuda is None:
        return None
    try:
        if not cuda.is_initialized():
            return None
        total = 0
        for device in range(cuda.device_count()):
            total += int(cuda.max_memory_allocated(device))
        return max(0, total)
    except Exception:
        return None


def _entry(argv=None, spec_text=None, forked=False):
    """Runs the job and ends the process (the warm worker's children come here too, with ``argv``)."""
    try:
        code = main(argv, spec_text, forked)
    except SystemExit:
        _report_usage(None)
        raise
    except BaseException:  # a bug in the harness itself
        import traceback

        _write_stderr("deepforge: internal error in the harness\n" + traceback.format_exc())
        code = EXIT_CRASH
    _exit(code)


def _exit(code):
    """End the process without tearing every module down (5-10 ms for a trivial job, far more with torch).

    Does what an exit must keep: waits for non-daemon threads and runs ``atexit`` callbacks as the
    interpreter would, closes the files user code left open (as their finalizers would, so buffered data and
    trailers are written), flushes stdio, then ``os._exit``. The event channel's buffered metric values are
    written by its ``atexit`` hook (values a thread logged after the harness's own last flush).
    """
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            shutdown = getattr(threading, "_shutdown", None)
            if shutdown is not None:
                shutdown()
            else:  # pragma: no cover - every CPython we support has threading._shutdown
                for thread in threading.enumerate():
                    if thread is not threading.main_thread() and not thread.daemon:
                        thread.join()
        import atexit

        atexit._run_exitfuncs()
        _close_open_files()
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except Exception:
                pass
    except BaseException:  # noqa: B902 - when in doubt, leave it to the interpreter
        _report_usage(None)
        sys.exit(code)
    _report_usage(code)
    os._exit(code)


def _close_open_files():
    """Close the file objects that are still open, outermost first (text, then buffered, then raw)."""
    import gc
    import _io  # type: ignore[import]  # no stub for _io in the typeshed of Debian's mypy 1.0; CPython has it

    standard = set()
    streams: tuple[object, ...] = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
    for stream in streams:
        while stream is not None and id(stream) not in standard:
            standard.add(id(stream))
            stream = getattr(stream, "buffer", None) or getattr(stream, "raw", None)
    # By type, not isinstance: an ABC's isinstance asks each object for its __class__, which lazy modules
    # answer with imports and warnings. Every file object derives from _io._IOBase (in C, or in Python). The
    # types present are listed first (in C): most jobs leave no file object, and then no object is looked at in
    # Python (a trivial job's ~2,000 objects took ~0.3 ms one by one).
    objects = gc.get_objects()
    kinds: dict[type, int] = {}
    for tp in set(map(type, objects)):
        if issubclass(tp, _io._TextIOBase):
            kinds[tp] = 0
        elif issubclass(tp, _io._RawIOBase):
            kinds[tp] = 2
        elif issubclass(tp, _io._IOBase):
            kinds[tp] = 1
    if not kinds:
        return
    groups: tuple[list, list, list] = ([], [], [])
    for obj in objects:
        kind = kinds.get(type(obj))
        if kind is not None and id(obj) not in standard:
            groups[kind].append(obj)
    for group in groups:
        for obj in group:
            try:
                if not obj.closed:
                    obj.close()
            except Exception:
                pass


if __name__ == "__main__":
    _entry()
