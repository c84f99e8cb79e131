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
"""

import json
import os
import sys


def main():
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        request = json.load(sys.stdin)
        command = request.get("command")
        code_dir = request.get("codeDir")
        if command == "catalog":
            from .catalog import catalog

            answer = catalog(request.get("cacheDir"), code_dir)
        elif command == "check":
            from .catalog import install_code_dir
            from .graph import infer

            if code_dir:
                install_code_dir(code_dir)
            resources = request["resources"]
            name = request["name"]
            if name not in resources:
                raise KeyError("there is no architecture %r" % name)
            shapes = infer(resources[name], resources)
            if request.get("catalog"):
                from .catalog import catalog

                answer = {"catalog": catalog(request.get("cacheDir"), code_dir), "shapes": shapes}
            else:
                answer = shapes
        elif command == "import":
            import importlib

            from .catalog import install_code_dir
            from .fx_import import ImportRefused, import_module

            if code_dir:
                install_code_dir(code_dir)
            module_name, _, class_name = request["className"].rpartition(".")
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except Exception as exc:
                raise ImportRefused("cannot import %s: %s: %s" % (request["className"], type(exc).__name__, exc))
            answer = {
                "architecture": import_module(
                    cls, request["name"], request.get("inputShapes") or {}, request.get("arguments") or {}
                )
            }
        else:
            raise ValueError("unknown command %r" % (command,))
        status = 0
    except Exception as exc:
        from .graph import ArchitectureError

        # Refusals are answers to show as they are; anything else names its type.
        message = str(exc) if isinstance(exc, ArchitectureError) else "%s: %s" % (type(exc).__name__, exc)
        answer = {"error": message}
        status = 1
    out.write(json.dumps(answer))
    out.write("\n")
    out.flush()
    # The project's imports may have left threads behind; the answer is written.
    os._exit(status)


if __name__ == "__main__":
    main()
