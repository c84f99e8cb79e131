"""The harness contract: outputs, errors, imports, serializers, inputs, console separation, spec checks."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PYTHON, PYTHON_DIR, assert_ok

from deepforge import serialization


def _listing(result):
    out = result.spec["outputDir"]
    return sorted(os.listdir(out)) if os.path.isdir(out) else []


# ------------------------------------------------------------------------------------------------ outputs


def test_multiple_outputs(run_job):
    result = assert_ok(
        run_job(
            """
            import numpy as np

            class Split():
                def __init__(self, n=4):
                    self.n = n

                def execute(self, data):
                    return data[: self.n], {"rest": data[self.n :]}, "done"
            """,
            attributes={"n": 3},
            inputs={"data": np.arange(10.0)},
            outputs=["head", "tail", "status"],
        )
    )
    outputs = {e["name"]: e for e in result.of("output")}
    assert list(outputs) == ["head", "tail", "status"]
    assert outputs["head"]["serializer"] == "numpy.ndarray"
    assert outputs["head"]["pyType"] == "numpy.ndarray"
    assert outputs["tail"]["pyType"] == "builtins.dict"
    assert outputs["status"]["pyType"] == "builtins.str"
    assert np.array_equal(result.load_output("head"), [0.0, 1.0, 2.0])
    assert np.array_equal(result.load_output("tail")["rest"], np.arange(3.0, 10.0))
    assert result.load_output("status") == "done"
    assert _listing(result) == ["head", "status", "tail"]


def test_a_single_output_may_be_a_tuple(run_job):
    result = assert_ok(
        run_job(
            """
            class Pair():
                def execute(self):
                    return (1, 2)
            """,
            outputs=["pair"],
        )
    )
    assert result.load_output("pair") == (1, 2)
    assert result.of("output")[0]["pyType"] == "builtins.tuple"


def test_no_outputs_ignores_the_result(run_job):
    result = assert_ok(
        run_job(
            """
            class Sink():
                def execute(self, x):
                    print("got", x)
                    return "ignored"
            """,
            inputs={"x": 42},
        )
    )
    assert result.of("output") == []
    assert "got 42" in result.stdout


def test_wrong_number_of_returned_values(run_job):
    result = run_job(
        """
        class Three():
            def execute(self):
                return 1, 2, 3
        """,
        outputs=["a", "b"],
    )
    assert result.returncode == 1
    error = result.error
    assert error["kind"] == "bad-return"
    assert error["message"] == "execute returned 3 values but the operation declares 2 outputs (a, b)"
    assert _listing(result) == []


def test_single_value_for_several_outputs(run_job):
    result = run_job(
        """
        class One():
            def execute(self):
                return None
        """,
        outputs=["a", "b"],
    )
    assert result.error["kind"] == "bad-return"
    assert result.error["message"] == "execute returned None but the operation declares 2 outputs (a, b)"


def test_unserializable_output_leaves_no_file(run_job):
    result = run_job(
        """
        import threading

        class Bad():
            def execute(self):
                return [1, 2], lambda x: x, threading.Lock()
        """,
        outputs=["ok", "fn", "lock"],
    )
    assert result.returncode == 1
    error = result.error
    assert error["kind"] == "serialization"
    assert "'fn'" in error["message"] and "builtins.function" in error["message"]
    assert "pickle" in error["message"]
    # the first output was complete and stays; nothing of the failed one (not even a temporary file)
    assert _listing(result) == ["ok"]
    assert [e["name"] for e in result.of("output")] == ["ok"]


def test_unserializable_generator(run_job):
    result = run_job(
        """
        class Gen():
            def execute(self):
                return (i for i in range(3))
        """,
        outputs=["gen"],
    )
    assert result.error["kind"] == "serialization"
    assert "builtins.generator" in result.error["message"]
    assert _listing(result) == []


# ------------------------------------------------------------------------------------------------ errors

FAILING = """\
import numpy as np


class Divide():
    def __init__(self, by=0):
        self.by = by

    def helper(self, x):
        return x / self.by

    def execute(self, x):
        y = x + 1
        return self.helper(y)
"""


def test_exception_traceback_points_at_the_operation(run_job):
    result = run_job(FAILING, attributes={"by": 0}, inputs={"x": 1}, outputs=["y"])
    assert result.returncode == 1
    error = result.error
    assert error["kind"] == "exception"
    assert error["message"] == "ZeroDivisionError: division by zero"
    assert error["location"] == {"file": "operations/Divide.py", "line": 9}
    frames = error["frames"]
    assert [(f["file"], f["line"], f["function"], f["user"]) for f in frames] == [
        ("operations/Divide.py", 13, "execute", True),
        ("operations/Divide.py", 9, "helper", True),
    ]
    tb = error["traceback"]
    assert tb.startswith("Traceback (most recent call last):\n")
    assert 'File "operations/Divide.py", line 13, in execute' in tb
    assert 'File "operations/Divide.py", line 9, in helper' in tb
    assert "return x / self.by" in tb
    assert "harness" not in tb and "deepforge" not in tb
    assert tb.rstrip().endswith("ZeroDivisionError: division by zero")
    # the console shows it too
    assert 'File "operations/Divide.py", line 9, in helper' in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert _listing(result) == []


def test_exception_in_a_library_keeps_absolute_paths(run_job):
    result = run_job(
        """
        import json

        class Parse():
            def execute(self):
                return json.loads("{not json")
        """,
        outputs=["x"],
    )
    error = result.error
    assert error["message"].startswith("JSONDecodeError: Expecting property name")
    user = [f for f in error["frames"] if f["user"]]
    other = [f for f in error["frames"] if not f["user"]]
    assert user[0]["file"] == "operations/Parse.py"
    assert other and all(os.path.isabs(f["file"]) for f in other)
    assert error["location"] == {"file": "operations/Parse.py", "line": 6}


def test_exception_in_init_and_in_utils(run_job):
    result = run_job(
        """
        import utils.checks as checks

        class Init():
            def __init__(self, size=1):
                checks.positive(size)

            def execute(self):
                pass
        """,
        files={"utils/checks.py": "def positive(v):\n    if v <= 0:\n        raise ValueError('size must be positive, got %r' % v)\n"},
        attributes={"size": -1},
    )
    error = result.error
    assert error["kind"] == "exception"
    assert error["message"] == "ValueError: size must be positive, got -1"
    assert error["location"] == {"file": "utils/checks.py", "line": 3}
    assert [f["file"] for f in error["frames"]] == ["operations/Init.py", "utils/checks.py"]


def test_syntax_error_in_the_operation(run_job):
    result = run_job("class Broken():\n    def execute(self):\n        return [1, 2\n\n", "Broken", outputs=["x"])
    assert result.returncode == 1
    error = result.error
    assert error["kind"] == "import"
    assert error["location"]["file"] == "operations/Broken.py"
    assert error["location"]["line"] == 3
    assert "SyntaxError" in error["message"] and "operations/Broken.py" in error["message"]
    assert 'File "operations/Broken.py", line 3' in error["traceback"]
    assert "SyntaxError" in result.stderr


def test_syntax_error_in_a_util(run_job):
    result = run_job(
        """
        import utils.helpers as h

        class UsesUtil():
            def execute(self):
                return h.double(2)
        """,
        files={"utils/helpers.py": "def double(x):\n    return x *\n"},
        outputs=["y"],
    )
    error = result.error
    assert error["kind"] == "import"
    assert error["location"] == {"file": "utils/helpers.py", "line": 2}
    assert "utils/helpers.py" in error["message"]
    assert any(f["file"] == "operations/UsesUtil.py" and f["user"] for f in error["frames"])


def test_missing_module_is_an_import_error(run_job):
    result = run_job(
        """
        import keras_that_is_not_installed

        class NeedsKeras():
            def execute(self):
                pass
        """
    )
    error = result.error
    assert error["kind"] == "import"
    assert error["message"].startswith("ModuleNotFoundError: No module named 'keras_that_is_not_installed'")
    assert error["location"] == {"file": "operations/NeedsKeras.py", "line": 2}


def test_utils_are_importable_without_init(run_job):
    result = assert_ok(
        run_job(
            """
            import utils.helpers as h
            from utils.nested.deep import VALUE

            class UsesUtil():
                def execute(self, x):
                    return h.double(x) + VALUE
            """,
            files={
                "utils/helpers.py": "def double(x):\n    return 2 * x\n",
                "utils/nested/deep.py": "VALUE = 100\n",
            },
            inputs={"x": 21},
            outputs=["y"],
        )
    )
    assert result.load_output("y") == 142
    assert not any("__pycache__" in dirs for _, dirs, _ in os.walk(result.spec["codeDir"]))


def test_utils_shadow_an_installed_utils_module(run_job, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "utils.py").write_text("raise RuntimeError('the wrong utils')\n")
    result = assert_ok(
        run_job(
            """
            import utils.helpers as h

            class UsesUtil():
                def execute(self):
                    return h.NAME
            """,
            files={"utils/helpers.py": "NAME = 'project utils'\n"},
            outputs=["y"],
            env={"PYTHONPATH": PYTHON_DIR + os.pathsep + str(site)},
        )
    )
    assert result.load_output("y") == "project utils"


def test_missing_class_is_a_spec_error(run_job):
    result = run_job("class Other():\n    def execute(self):\n        pass\n", "Wanted")
    assert result.returncode == 2
    assert result.error["kind"] == "spec"
    assert "defines no class 'Wanted'" in result.error["message"] and "Other" in result.error["message"]


def test_attributes_the_class_does_not_take_are_a_spec_error(run_job):
    result = run_job(
        """
        class Takes():
            def __init__(self, length=10):
                self.length = length

            def execute(self):
                pass
        """,
        attributes={"lenght": 3},
    )
    assert result.returncode == 2
    assert result.error["kind"] == "spec"
    assert "lenght" in result.error["message"]


# ------------------------------------------------------------------------------------------------ serializers / inputs

SERIALIZER = '''
import json
import deepforge
from utils.shapes import Shape


def dump(shape, outfile):
    outfile.write(json.dumps({"name": shape.name, "sides": shape.sides}).encode("utf-8"))


def load(infile):
    data = json.loads(infile.read().decode("utf-8"))
    return Shape(data["name"], data["sides"])


deepforge.serialization.register(Shape, dump, load)
'''

SHAPES = '''
class Shape:
    def __init__(self, name, sides):
        self.name = name
        self.sides = sides
'''


def test_custom_serializer_for_outputs_and_inputs(run_job):
    files = {"utils/shapes.py": SHAPES, "serializers/shape.py": SERIALIZER}
    made = assert_ok(
        run_job(
            """
            from utils.shapes import Shape

            class MakeShape():
                def __init__(self, sides=3):
                    self.sides = sides

                def execute(self):
                    return Shape("triangle", self.sides)
            """,
            files=files,
            attributes={"sides": 3},
            outputs=["shape"],
        )
    )
    (output,) = made.of("output")
    assert output["serializer"] == "utils.shapes.Shape"
    assert output["pyType"] == "utils.shapes.Shape"
    with open(made.output_path("shape"), "rb") as f:
        assert json.loads(f.read()) == {"name": "triangle", "sides": 3}

    used = assert_ok(
        run_job(
            """
            class Describe():
                def execute(self, shape):
                    return "%s/%d/%s" % (shape.name, shape.sides, type(shape).__module__)
            """,
            files=files,
            inputs={"shape": {"path": made.output_path("shape"), "serializer": "utils.shapes.Shape"}},
            outputs=["text"],
        )
    )
    assert used.load_output("text") == "triangle/3/utils.shapes"


def test_unknown_serializer_lists_the_known_ones(run_job, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x")
    result = run_job(
        "class Use():\n    def execute(self, x):\n        pass\n",
        "Use",
        inputs={"x": {"path": str(path), "serializer": "no.Such"}},
    )
    error = result.error
    assert error["kind"] == "input"
    assert "'x'" in error["message"] and "no.Such" in error["message"]
    assert "known serializers: pickle, numpy.ndarray" in error["message"]


def test_syntax_error_in_a_serializer(run_job):
    result = run_job(
        "class Use():\n    def execute(self):\n        pass\n",
        "Use",
        files={"serializers/broken.py": "import deepforge\ndef dump(obj, f)\n    pass\n"},
    )
    error = result.error
    assert error["kind"] == "import"
    assert error["location"] == {"file": "serializers/broken.py", "line": 2}


def test_missing_input_file(run_job, tmp_path):
    result = run_job(
        "class Use():\n    def execute(self, data):\n        pass\n",
        "Use",
        inputs={"data": {"path": str(tmp_path / "missing"), "serializer": "pickle"}},
    )
    assert result.returncode == 1
    error = result.error
    assert error["kind"] == "input"
    assert "input 'data'" in error["message"]
    assert "FileNotFoundError" in error["message"]
    phases = [e["phase"] for e in result.of("phase")]
    assert phases == ["loading-inputs"]


def test_references_and_attributes_reach_init(run_job):
    result = assert_ok(
        run_job(
            """
            class Train():
                def __init__(self, model, epochs=10, batch_size=32):
                    self.model = model
                    self.epochs = epochs
                    self.batch_size = batch_size

                def execute(self, data):
                    return {"model": self.model, "epochs": self.epochs, "bs": self.batch_size, "n": len(data)}
            """,
            attributes={"epochs": 2},
            references={"model": {"layers": [3, 4]}},
            inputs={"data": list(range(5))},
            outputs=["summary"],
        )
    )
    assert result.load_output("summary") == {"model": {"layers": [3, 4]}, "epochs": 2, "bs": 32, "n": 5}


def test_big_array_round_trip_between_two_jobs(run_job):
    big = np.random.RandomState(3).rand(1024, 1024)  # 8 MB: mapped, not read
    made = assert_ok(
        run_job(
            "import numpy as np\nclass Make():\n    def execute(self, a):\n        return a * 2\n",
            "Make",
            inputs={"a": big},
            outputs=["b"],
        )
    )
    used = assert_ok(
        run_job(
            """
            import numpy as np

            class Use():
                def execute(self, b):
                    b += 1  # inputs are writable (copy-on-write: the stored file is not changed)
                    return float(b.sum()), type(b).__name__
            """,
            inputs={"b": {"path": made.output_path("b"), "serializer": "numpy.ndarray"}},
            outputs=["total", "kind"],
        )
    )
    assert abs(used.load_output("total") - float((big * 2 + 1).sum())) < 1e-6
    assert used.load_output("kind") == "ndarray"
    assert np.array_equal(made.load_output("b"), big * 2)


def test_outputs_carry_their_sha256_when_the_spec_asks(run_job):
    import hashlib

    source = "import numpy as np\nclass Make():\n    def execute(self):\n        return np.ones(1 << 18), 7\n"
    asked = assert_ok(run_job(source, "Make", outputs=["big", "small"], spec_overrides={"outputHashes": True}))
    big, small = asked.of("output")
    with open(asked.output_path("big"), "rb") as f:
        assert big["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert "sha256" not in small  # under 1 MiB: the engine hashes it itself
    not_asked = assert_ok(run_job(source, "Make", outputs=["big", "small"]))
    assert all("sha256" not in e for e in not_asked.of("output"))
    bad = run_job(source, "Make", outputs=["big", "small"], spec_overrides={"outputHashes": "yes"})
    assert bad.returncode == 2 and "outputHashes" in bad.error["message"]


def test_outputs_carry_their_content_id_when_the_spec_asks(run_job):
    import hashlib

    block = 8 * 1024 * 1024

    def tree(data):  # the content id, computed the straightforward way (docs/adr/0006)
        if len(data) <= block:
            return "sha256:" + hashlib.sha256(data).hexdigest()
        digests = b"".join(hashlib.sha256(data[i : i + block]).digest() for i in range(0, len(data), block))
        return "sha256t:" + hashlib.sha256(digests).hexdigest()

    source = (
        "import numpy as np\nclass Make():\n    def execute(self):\n"
        "        return np.ones(1 << 18), np.arange(1 << 21, dtype=np.float64), 7\n"
    )
    outputs = ["mid", "big", "small"]
    both = assert_ok(
        run_job(source, "Make", outputs=outputs, spec_overrides={"outputHashes": True, "outputContentIds": True})
    )
    mid, big, small = both.of("output")
    for event, name, scheme in ((mid, "mid", "sha256:"), (big, "big", "sha256t:")):
        with open(both.output_path(name), "rb") as f:
            data = f.read()
        assert event["hash"] == tree(data) and event["hash"].startswith(scheme)
        assert "sha256" not in event  # the id says it all
    assert "hash" not in small and "sha256" not in small  # under 1 MiB: the engine hashes it itself
    # An engine that only knows outputHashes gets the sha256 where it is the id, and no field it would refuse.
    old_engine = assert_ok(run_job(source, "Make", outputs=outputs, spec_overrides={"outputHashes": True}))
    mid, big, small = old_engine.of("output")
    assert "sha256:" + mid["sha256"] == both.of("output")[0]["hash"]
    assert all("hash" not in e for e in (mid, big, small)) and "sha256" not in big
    bad = run_job(source, "Make", outputs=outputs, spec_overrides={"outputContentIds": 1})
    assert bad.returncode == 2 and "spec.outputContentIds must be a boolean" in bad.error["message"]


def test_a_type_error_inside_the_operation_is_its_own_exception(run_job):
    result = run_job(
        """
        class Wrong():
            def __init__(self, n=1):
                self.n = n

            def execute(self, x):
                return len(self.n)
        """,
        inputs={"x": 1},
        outputs=["y"],
    )
    assert result.returncode == 1
    assert result.error["kind"] == "exception"
    assert result.error["message"] == "TypeError: object of type 'int' has no len()"
    assert result.error["location"]["file"] == "operations/Wrong.py"
    missing = run_job("class In():\n    def execute(self, x):\n        return x\n", "In", inputs={"y": 1})
    assert missing.returncode == 2 and missing.error["kind"] == "spec"
    assert "In.execute(...) (its inputs) does not match the job" in missing.error["message"]


def test_the_fast_exit_still_joins_threads_runs_atexit_and_closes_open_files(run_job, tmp_path):
    out = str(tmp_path / "left-open")
    result = assert_ok(
        run_job(
            """
            import atexit, gzip, sys, threading, time

            OUT = %r
            log = open(OUT + ".txt", "w")  # never closed: the interpreter's finalizers would flush it
            packed = gzip.open(OUT + ".gz", "wt")  # never closed: needs its trailer written

            def late():
                time.sleep(0.3)
                with open(OUT + ".thread", "w") as f:
                    f.write("thread done")

            class Leaves():
                def execute(self):
                    log.write("buffered line")
                    packed.write("zipped line")
                    threading.Thread(target=late).start()
                    atexit.register(lambda: open(OUT + ".atexit", "w").write("atexit ran"))
                    print("tqdm imported:", "tqdm" in sys.modules)
                    return 1
            """
            % out,
            outputs=["x"],
        )
    )
    import gzip

    assert open(out + ".txt").read() == "buffered line"
    assert gzip.open(out + ".gz", "rt").read() == "zipped line"
    assert open(out + ".thread").read() == "thread done"
    assert open(out + ".atexit").read() == "atexit ran"
    # tqdm is only imported (and patched) when user code imports it
    assert "tqdm imported: False" in result.stdout


# ------------------------------------------------------------------------------------------------ console / channel


def test_a_hundred_thousand_printed_lines_stay_off_the_event_channel(run_job):
    result = assert_ok(
        run_job(
            """
            import sys

            class Chatty():
                def execute(self):
                    for i in range(100000):
                        print("line", i, '{"type": "error"}')
                    print("to stderr", file=sys.stderr)
                    return 7
            """,
            outputs=["x"],
        )
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 100000
    assert lines[0] == 'line 0 {"type": "error"}' and lines[-1] == 'line 99999 {"type": "error"}'
    assert "to stderr" in result.stderr
    assert all(e["type"] != "error" for e in result.events)
    assert result.load_output("x") == 7


def test_user_code_replacing_and_closing_stdout(run_job):
    result = assert_ok(
        run_job(
            """
            import io
            import sys
            import deepforge

            class Rude():
                def execute(self):
                    print("before")
                    sys.stdout.close()
                    sys.stdout = io.StringIO()
                    print("swallowed")
                    deepforge.log(step=1, loss=0.5)
                    return "still fine"
            """,
            outputs=["x"],
        )
    )
    assert result.stdout == "before\n"
    assert result.of("metric")[0]["values"] == {"loss": 0.5}
    assert result.load_output("x") == "still fine"


def test_events_file_channel(run_job):
    result = assert_ok(
        run_job(
            "import deepforge\nclass F():\n    def execute(self):\n        deepforge.log(acc=1)\n",
            "F",
            channel="file",
        )
    )
    assert [e["type"] for e in result.events] == ["hello", "phase", "phase", "metric", "phase"]
    assert all(e["v"] == 1 and isinstance(e["t"], int) for e in result.events)


def test_stdout_is_line_buffered(run_job):
    # A job that prints then sleeps: the line must reach the pipe before the job ends.
    source = """
import sys, time
class Slow():
    def execute(self):
        print("first")
        time.sleep(30)
"""
    import select
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        code = os.path.join(tmp, "code", "operations")
        os.makedirs(code)
        with open(os.path.join(code, "Slow.py"), "w") as f:
            f.write(source)
        spec = {
            "v": 1,
            "codeDir": os.path.join(tmp, "code"),
            "operation": {"file": "operations/Slow.py", "className": "Slow"},
            "attributes": {},
            "references": {},
            "inputs": {},
            "outputs": [],
            "outputDir": os.path.join(tmp, "out"),
            "workDir": tmp,
            "eventsFile": os.path.join(tmp, "events"),
        }
        with open(os.path.join(tmp, "job.json"), "w") as f:
            json.dump(spec, f)
        proc = subprocess.Popen(
            [PYTHON, "-m", "deepforge.harness", os.path.join(tmp, "job.json")],
            cwd=tmp,
            env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
            stdout=subprocess.PIPE,
        )
        try:
            stdout = proc.stdout
            assert stdout is not None  # stdout=PIPE
            ready, _, _ = select.select([stdout], [], [], 20)
            assert ready, "no output while the job runs"
            assert stdout.readline() == b"first\n"
        finally:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------------ spec


def test_spec_version_from_a_newer_engine(run_job):
    result = run_job("class A():\n    def execute(self):\n        pass\n", "A", spec_overrides={"v": 2})
    assert result.returncode == 2
    assert [e["type"] for e in result.events] == ["hello", "error"]
    error = result.error
    assert error["kind"] == "spec"
    assert "runtime is too old" in error["message"] and "v2" in error["message"]


def test_spec_version_from_an_older_engine(run_job):
    result = run_job("class A():\n    def execute(self):\n        pass\n", "A", spec_overrides={"v": 0})
    assert result.returncode == 2
    assert "engine is too old" in result.error["message"]


def test_malformed_spec(run_job):
    result = run_job("class A():\n    def execute(self):\n        pass\n", "A", spec_overrides={"outputs": "x"})
    assert result.returncode == 2
    assert result.error["kind"] == "spec"
    assert "spec.outputs" in result.error["message"]


def test_unreadable_spec_file(tmp_path):
    proc = subprocess.run(
        [PYTHON, "-m", "deepforge.harness", str(tmp_path / "nope.json")],
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "cannot read the job spec" in proc.stderr


def test_check_reports_the_environment():
    proc = subprocess.run(
        [PYTHON, "-m", "deepforge.check", "--no-torch"],
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert report["runtime"] == "0.1.0" and report["protocol"] == 1
    assert report["packages"]["numpy"] and report["packages"]["matplotlib"]
    assert report["python"]["version"].startswith("%d.%d" % sys.version_info[:2])
    # The directories imports come from (a caller keeps the report until one of them changes).
    assert os.path.realpath(PYTHON_DIR) in [os.path.realpath(p) for p in report["paths"]]
    assert all(os.path.isdir(p) for p in report["paths"])


def test_check_fails_without_numpy(tmp_path):
    blocker = tmp_path / "numpy"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('numpy is blocked for this test')\n")
    proc = subprocess.run(
        [PYTHON, "-m", "deepforge.check", "--no-torch"],
        env=dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + PYTHON_DIR),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "numpy is required" in proc.stderr
    assert json.loads(proc.stdout)["ok"] is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_the_job_dies_with_the_engine(tmp_path):
    """PR_SET_PDEATHSIG: killing the engine (the harness's parent) kills the job."""
    import signal
    import time

    code = tmp_path / "code" / "operations"
    code.mkdir(parents=True)
    (code / "Forever.py").write_text("import time\nclass Forever():\n    def execute(self):\n        time.sleep(600)\n")
    spec = {
        "v": 1,
        "codeDir": str(tmp_path / "code"),
        "operation": {"file": "operations/Forever.py", "className": "Forever"},
        "attributes": {},
        "references": {},
        "inputs": {},
        "outputs": [],
        "outputDir": str(tmp_path / "out"),
        "workDir": str(tmp_path),
        "eventsFile": str(tmp_path / "events"),
    }
    (tmp_path / "job.json").write_text(json.dumps(spec))
    engine = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-m', 'deepforge.harness', sys.argv[1]])\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(600)\n",
            str(tmp_path / "job.json"),
        ],
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert engine.stdout is not None  # stdout=PIPE
    job_pid = int(engine.stdout.readline())
    deadline = time.time() + 20
    while time.time() < deadline:  # wait until the job runs user code
        if (tmp_path / "events").exists() and b'"executing"' in (tmp_path / "events").read_bytes():
            break
        time.sleep(0.05)
    engine.send_signal(signal.SIGKILL)
    engine.wait()
    deadline = time.time() + 10
    alive = True
    while time.time() < deadline and alive:
        try:
            os.kill(job_pid, 0)
            with open("/proc/%d/stat" % job_pid) as f:
                alive = f.read().split()[2] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            alive = False
        time.sleep(0.05)
    if alive:
        os.kill(job_pid, signal.SIGKILL)
    assert not alive, "the job outlived its engine"


def test_small_outputs_come_in_their_events_when_the_spec_asks(run_job):
    import base64

    source = "import numpy as np\nclass Make():\n    def execute(self):\n        return 7, np.ones(1 << 16)\n"
    asked = assert_ok(
        run_job(source, "Make", outputs=["small", "big"], spec_overrides={"outputInlineMaxBytes": 64 * 1024})
    )
    small, big = asked.of("output")
    # The small one is all in its event, and has no file; the big one (512 KiB) is a file as before.
    data = base64.b64decode(small["data"])
    assert small["size"] == len(data) and serialization.load(io.BytesIO(data)) == 7
    assert not os.path.exists(asked.output_path("small"))
    assert "data" not in big and os.path.getsize(asked.output_path("big")) == big["size"]
    not_asked = assert_ok(run_job(source, "Make", outputs=["small", "big"]))
    assert all("data" not in e for e in not_asked.of("output"))
    assert not_asked.load_output("small") == 7
    for wrong in (-1, True, "64", 2 << 20):
        bad = run_job(source, "Make", outputs=["small", "big"], spec_overrides={"outputInlineMaxBytes": wrong})
        assert bad.returncode == 2 and "spec.outputInlineMaxBytes must be an integer" in bad.error["message"]
