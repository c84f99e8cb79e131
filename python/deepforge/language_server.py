"""The Python language server the web IDE's code editors talk to (docs/adr/0022-python-language-server.md).

``python -m deepforge.language_server`` runs pylsp (Debian's python3-pylsp, with Jedi and pyflakes) on stdio, with
one more lint plugin: calls to functions and classes of the project (or of this runtime) with the wrong number of
arguments. pyflakes finds undefined names but not that; Jedi knows the signatures, so the check asks it.

The server process is started by the DeepForge server, one per open project, with the interpreter that runs the
project's jobs, so Jedi resolves ``torch``, ``numpy`` and ``matplotlib`` exactly as a job imports them.
"""

import os
import sys
import threading

#: Calls checked per lint of a file: a huge generated file is not worth seconds of Jedi.
MAX_CHECKED_CALLS = 300
#: Top-level packages whose functions the check judges, besides the names the file defines itself.
CHECKED_PACKAGES = ("utils", "serializers", "deepforge")


def _candidate_names(tree):
    """Names whose calls may be judged: defined in the file, or imported from the project or the runtime.

    Asking Jedi only about these keeps the lint fast (no torch or numpy call is inferred for nothing).
    """
    names = {"self", "cls"}
    for node in tree.iter_funcdefs():
        names.add(node.name.value)
    for node in tree.iter_classdefs():
        names.add(node.name.value)
    for imp in tree.iter_imports():
        for path in imp.get_paths():
            if not path or path[0].value not in CHECKED_PACKAGES:
                continue
            for defined in imp.get_defined_names():
                names.add(defined.value)
            break
    return names


def _arguments(trailer):
    """(positional count, keyword names, has star arguments) of a call trailer ``( ... )``."""
    if len(trailer.children) < 3:
        return 0, [], False
    inner = trailer.children[1]
    items = [
        c for c in inner.children if not (c.type == "operator" and c.value == ",")
    ] if inner.type == "arglist" else [inner]
    positional, keywords, star = 0, [], False
    for item in items:
        if item.type == "argument":
            first = item.children[0]
            if first.type == "operator" and first.value in ("*", "**"):
                star = True
            elif len(item.children) >= 3 and item.children[1].type == "operator" and item.children[1].value == "=":
                keywords.append(first.value)
            else:
                positional += 1  # a generator argument: f(x for x in y)
        elif item.type == "star_expr":
            star = True
        else:
            positional += 1
    return positional, keywords, star


def _calls(node, out):
    """Every call trailer in the tree with the node it belongs to, in source order."""
    if node.type in ("atom_expr", "power"):
        for index, child in enumerate(node.children):
            if index > 0 and child.type == "trailer" and child.children[0].value == "(":
                out.append((node, child))
    for child in getattr(node, "children", ()):
        _calls(child, out)
    return out


def _inside(path, roots):
    path = os.path.realpath(str(path))
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def _problem(signature, positional, keywords):
    """Why a call with these arguments does not fit the signature, or None."""
    from inspect import Parameter

    params = signature.params
    kinds = [p.kind for p in params]
    fixed = [p for p in params if p.kind in (Parameter.POSITIONAL_ONLY, Parameter.POSITIONAL_OR_KEYWORD)]
    var_positional = Parameter.VAR_POSITIONAL in kinds
    var_keyword = Parameter.VAR_KEYWORD in kinds
    name = signature.name
    if positional > len(fixed) and not var_positional:
        return f"{name}() takes {len(fixed)} positional argument{'s' if len(fixed) != 1 else ''} but {positional} {'were' if positional != 1 else 'was'} given"
    by_name = {p.name: p for p in params}
    for keyword in keywords:
        p = by_name.get(keyword)
        if (p is None or p.kind == Parameter.POSITIONAL_ONLY or p.kind in (Parameter.VAR_POSITIONAL, Parameter.VAR_KEYWORD)) and not var_keyword:
            return f"{name}() got an unexpected keyword argument '{keyword}'"
    missing = []
    for index, p in enumerate(params):
        if p.kind in (Parameter.VAR_POSITIONAL, Parameter.VAR_KEYWORD) or "=" in p.description:
            continue
        if p in fixed and fixed.index(p) < positional:
            continue
        if p.name in keywords:
            continue
        missing.append(p.name)
    if missing:
        names = ", ".join(f"'{m}'" for m in missing)
        return f"{name}() missing {len(missing)} required argument{'s' if len(missing) != 1 else ''}: {names}"
    return None


def arity_diagnostics(script, source_roots):
    """Diagnostics (LSP dicts) for calls of code under ``source_roots`` with a wrong number of arguments."""
    tree = script._module_node  # the parso tree Jedi parsed the document into
    candidates = _candidate_names(tree)
    calls = [
        (node, trailer) for node, trailer in _calls(tree, [])
        if node.children[0].type == "name" and node.children[0].value in candidates
    ]
    diagnostics = []
    for node, trailer in calls[:MAX_CHECKED_CALLS]:
        positional, keywords, star = _arguments(trailer)
        if star:
            continue
        line, column = trailer.children[0].end_pos
        try:
            signatures = script.get_signatures(line, column)
        except Exception:  # Jedi fails on some half-typed code; a lint must never take the server down
            continue
        if len(signatures) != 1:
            continue  # overloads or nothing known: no claim
        signature = signatures[0]
        if signature.module_path is None or not _inside(signature.module_path, source_roots):
            continue
        problem = _problem(signature, positional, keywords)
        if problem is None:
            continue
        start_line, start_column = node.start_pos
        end_line, end_column = trailer.end_pos
        diagnostics.append({
            "source": "deepforge",
            "code": "wrong-arguments",
            "range": {
                "start": {"line": start_line - 1, "character": start_column},
                "end": {"line": end_line - 1, "character": end_column},
            },
            "message": problem,
            "severity": 1,
        })
    return diagnostics


#: Completion kinds remembered per name of an installed module (at most this many, then forgotten all at once).
MAX_CACHED_KINDS = 50_000


def _installed(completion):
    """The full name of a completion from an installed package or the standard library, else None."""
    try:
        path = completion.module_path
        name = completion.full_name
    except Exception:  # Jedi fails on some names; they are simply not cached
        return None
    if name is None:
        return None
    if path is None:
        return name  # a compiled module (builtins, torch._C): does not change while the server runs
    path = str(path)
    stdlib = os.path.dirname(os.__file__)
    if "/dist-packages/" in path or "/site-packages/" in path or path.startswith(stdlib + os.sep):
        return name
    return None


class _KnownKind:
    """A completion whose ``type`` is already known; everything else is the completion's own."""

    __slots__ = ("_completion", "type")

    def __init__(self, completion, kind):
        self._completion = completion
        self.type = kind

    def __getattr__(self, name):
        return getattr(self._completion, name)


def _remember_kinds(jedi_completion):
    """Caches each installed name's kind across completions.

    pylsp asks every completion for its ``type`` (the item's icon), and for names of star-importing packages such as
    ``torch.nn`` Jedi infers each name again in every new Script: 0.1-0.7 s for the 179 names of ``torch.nn.``, while
    the completion itself takes ~20 ms. Installed packages do not change under a running server, so the kind of
    ``torch.nn.Linear`` is asked once. The project's own code is never cached.
    """
    original = jedi_completion._format_completion
    kinds: dict[str, str] = {}

    def format_completion(completion, *args, **kwargs):
        key = _installed(completion)
        if key is not None:
            kind = kinds.get(key)
            if kind is None:
                if len(kinds) >= MAX_CACHED_KINDS:
                    kinds.clear()
                kind = kinds[key] = completion.type
            completion = _KnownKind(completion, kind)
        return original(completion, *args, **kwargs)

    jedi_completion._format_completion = format_completion


def main():
    from pylsp import hookimpl
    from pylsp.config.config import Config
    from pylsp.python_lsp import PythonLSPServer, start_io_lang_server

    from pylsp.plugins import jedi_completion

    runtime_root = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    _remember_kinds(jedi_completion)

    class ArityPlugin:
        """The pylsp plugin (a pluggy hook implementation) adding the argument-count check to the lint."""

        @hookimpl
        def pylsp_lint(self, workspace, document):
            roots = [os.path.realpath(workspace.root_path), runtime_root]
            return arity_diagnostics(document.jedi_script(), roots)

    plugin = ArityPlugin()
    original_init = Config.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._pm.register(plugin, name="deepforge_arity")
        self._update_disabled_plugins()

    Config.__init__ = init

    # pylsp lints in timer threads while requests are answered on the main one. pyflakes needs no Jedi, but this
    # check does, and Jedi (its caches, the pipe to its helper process) is not thread-safe: every plugin call
    # takes this lock, so a completion waits at most for one lint of one file.
    jedi_lock = threading.RLock()
    original_hook = PythonLSPServer._hook

    def hook(self, *args, **kwargs):
        with jedi_lock:
            return original_hook(self, *args, **kwargs)

    PythonLSPServer._hook = hook
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # The parent (the DeepForge server) closes stdin when it goes: pylsp then exits on its own.
    start_io_lang_server(stdin, stdout, False, PythonLSPServer)


if __name__ == "__main__":
    main()
