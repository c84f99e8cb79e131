"""``python -m deepforge.architecture``: one request as JSON on stdin, one JSON answer on stdout.

Requests (from packages/engine/src/architecture/):

- ``{"command": "catalog", "cacheDir": dir|null, "codeDir": dir|null}``: the layer catalog;
- ``{"command": "import", "codeDir": dir, "className": "utils.models.Net", "name": name, "inputShapes": {arg:
  shape}, "arguments": {...}}``: a plain nn.Module class as an architecture (torch.fx), or the reason it cannot be;
- ``{"command": "check", "codeDir": dir|null, "resources": {name: architecture}, "name": name}``: shape
  inference of one architecture (nested ones taken from ``resources``); with ``"catalog": true`` (and
  ``cacheDir``) the answer is ``{"catalog": ..., "shapes": ...}``, both from one interpreter start.

Whatever the project's code prints goes to stderr, so stdout holds only the answer. A request that cannot be
answered gives ``{"error": message}`` and exit status 1.

``python -m deepforge.architecture --serve`` answers requests one line each (JSON lines in, JSON lines out, each
answer carrying the request's ``id``) until stdin closes, so that torch is imported once: what an editor asking
after every edit needs. Before each request the project's ``utils`` and ``resources`` modules imported by an
earlier one are forgotten, so a changed custom layer is read again.
"""

import importlib
import json
import os
import sys


def _forget_project_modules():
    for name in list(sys.modules):
        if name in ("utils", "resources") or name.startswith(("utils.", "resources.")):
            del sys.modules[name]
    importlib.invalidate_caches()


def answer(request):
    """The answer to one request (see the module's doc); raises when it cannot be answered."""
    command = request.get("command")
    code_dir = request.get("codeDir")
    if code_dir:
        from .catalog import install_code_dir

        _forget_project_modules()
        install_code_dir(code_dir)
    if command == "catalog":
        from .catalog import catalog

        return catalog(request.get("cacheDir"), code_dir)
    if command == "check":
        from .graph import infer

        resources = request["resources"]
        name = request["name"]
        if name not in resources:
            raise KeyError("there is no architecture %r" % name)
        shapes = infer(resources[name], resources)
        if request.get("catalog"):
            from .catalog import catalog

            return {"catalog": catalog(request.get("cacheDir"), code_dir), "shapes": shapes}
        return shapes
    if command == "import":
        from .fx_import import ImportRefused, import_module

        module_name, _, class_name = request["className"].rpartition(".")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except Exception as exc:
            raise ImportRefused("cannot import %s: %s: %s" % (request["className"], type(exc).__name__, exc))
        return {
            "architecture": import_module(
                cls, request["name"], request.get("inputShapes") or {}, request.get("arguments") or {}
            )
        }
    raise ValueError("unknown command %r" % (command,))


def _answer_or_error(request):
    try:
        return answer(request), 0
    except Exception as exc:
        from .graph import ArchitectureError

        # Refusals are answers to show as they are; anything else names its type.
        message = str(exc) if isinstance(exc, ArchitectureError) else "%s: %s" % (type(exc).__name__, exc)
        return {"error": message}, 1


def main():
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        request = json.load(sys.stdin)
    except ValueError as exc:
        result, status = {"error": "the request is not JSON: %s" % exc}, 1
    else:
        result, status = _answer_or_error(request)
    out.write(json.dumps(result))
    out.write("\n")
    out.flush()
    # The project's imports may have left threads behind; the answer is written.
    os._exit(status)


def serve():
    out = sys.stdout
    sys.stdout = sys.stderr
    import torch  # noqa: F401 - once, before the first request, which is what serving is for

    for line in sys.stdin:
        if not line.strip():
            continue
        result: dict[str, object]
        try:
            request = json.loads(line)
        except ValueError as exc:
            result = {"error": "the request is not JSON: %s" % exc}
        else:
            result, _ = _answer_or_error(request)
            result = dict(result) if isinstance(result, dict) else {"answer": result}
            result["id"] = request.get("id")
        out.write(json.dumps(result))
        out.write("\n")
        out.flush()
    os._exit(0)


if __name__ == "__main__":
    serve() if "--serve" in sys.argv[1:] else main()
