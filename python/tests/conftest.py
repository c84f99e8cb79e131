"""Test helpers: real JobSpec files in tmp dirs, the real harness in a subprocess, its events parsed."""

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from schema import validate_event  # noqa: E402

# Jobs run with the interpreter that runs the tests: Debian's /usr/bin/python3 (see DEVELOPERS.md).
PYTHON = sys.executable


class JobResult:
    def __init__(self, returncode, events, stdout, stderr, spec, root):
        self.returncode = returncode
        self.events = events
        self.stdout = stdout
        self.stderr = stderr
        self.spec = spec
        self.root = root

    def of(self, type_):
        return [e for e in self.events if e["type"] == type_]

    @property
    def error(self):
        errors = self.of("error")
        assert len(errors) <= 1, errors
        return errors[0] if errors else None

    @property
    def plots(self):
        return self.of("plot")

    def output_path(self, name):
        return os.path.join(self.spec["outputDir"], name)

    def load_output(self, name):
        from deepforge import serialization

        (event,) = [e for e in self.of("output") if e["name"] == name]
        return serialization.load_from(self.output_path(event["file"]), event["serializer"])

    def __repr__(self):
        return "JobResult(rc=%s, events=%s, stderr=%s)" % (
            self.returncode,
            [e["type"] for e in self.events],
            self.stderr[-3000:],
        )


def write_files(base, files):
    for rel, content in (files or {}).items():
        path = os.path.join(base, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(path, mode) as f:
            f.write(content if isinstance(content, bytes) else textwrap.dedent(content))


def parse_events(data):
    events = []
    for line in data.decode("ascii").splitlines():
        event = json.loads(line)
        validate_event(event)
        events.append(event)
    return events


class Runner:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.count = 0

    def __call__(
        self,
        operation,
        class_name=None,
        *,
        files=None,
        attributes=None,
        inputs=None,
        references=None,
        outputs=(),
        channel="fd",
        spec_overrides=None,
        env=None,
        timeout=60,
    ):
        """Run one job. ``operation`` is the source of operations/<class_name>.py.

        ``inputs`` / ``references`` map names to values (saved with deepforge.serialization first) or to
        ``{"path": ..., "serializer": ...}`` dicts used as they are.
        """
        from deepforge import serialization

        self.count += 1
        root = os.path.join(str(self.tmp_path), "job%d" % self.count)
        code_dir = os.path.join(root, "code")
        work_dir = os.path.join(root, "work")
        output_dir = os.path.join(root, "outputs")
        data_dir = os.path.join(root, "data")
        for d in (code_dir, work_dir, data_dir):
            os.makedirs(d, exist_ok=True)
        if class_name is None:
            class_name = _first_class(operation)
        write_files(code_dir, {"operations/%s.py" % class_name: operation})
        write_files(code_dir, files)

        def stored(table):
            out = {}
            for name, value in (table or {}).items():
                if isinstance(value, dict) and set(value) == {"path", "serializer"}:
                    out[name] = value
                    continue
                path = os.path.join(data_dir, name)
                out[name] = {"path": path, "serializer": serialization.dumps_to(path, value)}
            return out

        spec = {
            "v": 1,
            "codeDir": code_dir,
            "operation": {"file": "operations/%s.py" % class_name, "className": class_name},
            "attributes": attributes or {},
            "references": stored(references),
            "inputs": stored(inputs),
            "outputs": list(outputs),
            "outputDir": output_dir,
            "workDir": work_dir,
            "debug": False,
        }
        events_path = os.path.join(root, "events.jsonl")
        read_fd = write_fd = None
        if channel == "fd":
            read_fd, write_fd = os.pipe()
            spec["eventsFd"] = write_fd
        else:
            spec["eventsFile"] = events_path
        spec.update(spec_overrides or {})
        spec_path = os.path.join(root, "job.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)

        run_env = dict(os.environ)
        run_env.pop("MPLBACKEND", None)
        run_env["PYTHONPATH"] = PYTHON_DIR
        run_env.update(env or {})
        chunks = []
        reader = None
        try:
            proc = subprocess.Popen(
                [PYTHON, "-m", "deepforge.harness", spec_path],
                cwd=work_dir,
                env=run_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_fd,) if write_fd is not None else (),
                start_new_session=True,
            )
            if write_fd is not None:
                os.close(write_fd)
                write_fd = None

                def read(fd):
                    while True:
                        chunk = os.read(fd, 1 << 20)
                        if not chunk:
                            break
                        chunks.append(chunk)

                reader = threading.Thread(target=read, args=(read_fd,), daemon=True)
                reader.start()
            stdout, stderr = proc.communicate(timeout=timeout)
            if reader is not None:
                reader.join(timeout)
        finally:
            if write_fd is not None:
                os.close(write_fd)
            if read_fd is not None:
                os.close(read_fd)
        if channel == "fd":
            data = b"".join(chunks)
        else:
            with open(events_path, "rb") as events_file:
                data = events_file.read()
        events = parse_events(data)
        return JobResult(
            proc.returncode,
            events,
            stdout.decode("utf-8", "replace"),
            stderr.decode("utf-8", "replace"),
            spec,
            root,
        )


def _first_class(source):
    import re

    match = re.search(r"^class\s+(\w+)", textwrap.dedent(source), re.M)
    assert match, "no class in operation source"
    return match.group(1)


@pytest.fixture
def run_job(tmp_path):
    return Runner(tmp_path)


def assert_ok(result):
    assert result.returncode == 0, result
    assert result.error is None, result
    types = [e["type"] for e in result.events]
    assert types[0] == "hello"
    phases = [e["phase"] for e in result.of("phase")]
    assert phases == ["loading-inputs", "executing", "saving-outputs"], phases
    return result
