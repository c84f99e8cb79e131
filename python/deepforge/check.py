"""Is this interpreter usable for DeepForge jobs? ``python -m deepforge.check [--no-torch]``.

Prints one JSON object on stdout::

    {"ok": true, "problems": [], "runtime": "0.1.0", "protocol": 1,
     "python": {"version": "3.11.2", "executable": "/usr/bin/python3", "implementation": "CPython"},
     "platform": "Linux-...", "packages": {"numpy": "1.24.2", "matplotlib": "3.6.3", "tqdm": "4.64.1",
     "torch": "1.13.0"}, "matplotlibBackend": true,
     "cuda": {"available": false, "version": null, "devices": []}}

A package that is missing is ``null``. ``ok`` is false (and the exit status 1, with the reasons on stderr)
when Python is older than 3.8 or numpy / matplotlib cannot be imported: the runtime needs them. torch and
tqdm are optional. ``--no-torch`` skips importing torch (it takes seconds); ``cuda`` is then ``null``.
"""

import json
import os
import platform
import sys

MIN_PYTHON = (3, 8)


def _version_of(name):
    try:
        module = __import__(name)
    except Exception as exc:  # ImportError, or a broken install raising anything
        return None, "%s: %s" % (type(exc).__name__, exc)
    return str(getattr(module, "__version__", "unknown")), None


def _import_paths():
    paths = list(sys.path)
    if paths and paths[0] in ("", os.getcwd()):
        paths = paths[1:]
    return [p for p in paths if p]


def check_environment(include_torch=True):
    from . import RUNTIME_PROTOCOL_VERSION, __version__

    problems: list[str] = []
    packages: dict[str, str | None] = {}
    report: dict[str, object] = {
        "ok": True,
        "problems": problems,
        "runtime": __version__,
        "protocol": RUNTIME_PROTOCOL_VERSION,
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "implementation": platform.python_implementation(),
        },
        "platform": platform.platform(),
        # Where imports come from: a caller may keep this report until one of these directories changes (a
        # package installed or removed changes its directory). Not the working directory `-m` (or `-c`) puts
        # first: jobs run in their own.
        "paths": [p for p in _import_paths() if os.path.isdir(p)],
        "packages": packages,
        "matplotlibBackend": False,
        "cuda": None,
    }
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append("Python %d.%d or newer is needed (this is %s)" % (MIN_PYTHON + (platform.python_version(),)))
    for name, required in (("numpy", True), ("matplotlib", True), ("tqdm", False)):
        version, error = _version_of(name)
        packages[name] = version
        if version is None and required:
            problems.append("%s is required but cannot be imported (%s)" % (name, error))
    if packages["matplotlib"] is not None:
        try:
            import importlib

            importlib.import_module("deepforge.plots.backend")
            report["matplotlibBackend"] = True
        except Exception as exc:
            problems.append("the DeepForge matplotlib backend cannot be loaded: %s: %s" % (type(exc).__name__, exc))
    if include_torch:
        version, _ = _version_of("torch")
        packages["torch"] = version
        cuda: dict[str, object] = {"available": False, "version": None, "devices": []}
        if version is not None:
            try:
                import torch

                cuda["version"] = getattr(torch.version, "cuda", None)
                if torch.cuda.is_available():
                    cuda["available"] = True
                    cuda["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            except Exception as exc:
                cuda["error"] = "%s: %s" % (type(exc).__name__, exc)
        report["cuda"] = cuda
    report["ok"] = not problems
    return report


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    include_torch = "--no-torch" not in argv
    report = check_environment(include_torch=include_torch)
    sys.stdout.write(json.dumps(report, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    if not report["ok"]:
        sys.stderr.write(
            "deepforge: this Python (%s) cannot run DeepForge jobs:\n  - %s\n"
            % (sys.executable, "\n  - ".join(report["problems"]))
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
