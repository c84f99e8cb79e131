"""Benchmark: handing a big numpy array from one operation to the next, vs np.save + np.load.

    /usr/bin/python3 python/bench/handoff.py [--mb 500] [--repeat 3]

Baseline (one fresh process): ``np.save(path, a)`` then ``b = np.load(path)``.
DeepForge: job A returns the array (its ``saving-outputs`` phase: temp file, write, fsync, rename), the
engine hashes the file (its content id, docs/adr/0006, done here with deepforge.content_hash on one thread, as
the engine's check does: hashlib is as fast as node's crypto, both use OpenSSL), job B loads it as an input
(its ``loading-inputs`` phase). Times come from the jobs' own events.
"touch" adds what B pays on first use of the data (``arr.sum()``), which a mapped load defers.

Prints one line per run and the ratios; the target is <= 1.5.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)

BASELINE = r"""
import sys, time, numpy as np
a = np.random.RandomState(0).rand(int(sys.argv[2]) * 1024 * 1024 // 8)
t0 = time.perf_counter()
np.save(sys.argv[1], a)
t1 = time.perf_counter()
b = np.load(sys.argv[1])
t2 = time.perf_counter()
b.sum()
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""

MAKE = """
import numpy as np
class Make():
    def __init__(self, mb=500):
        self.mb = mb
    def execute(self):
        return np.random.RandomState(0).rand(self.mb * 1024 * 1024 // 8)
"""

USE = """
import time
class Use():
    def execute(self, arr):
        t = time.perf_counter()
        arr.sum()
        return time.perf_counter() - t
"""


def run_job(tmp, name, source, attributes, inputs, outputs):
    root = tempfile.mkdtemp(dir=tmp, prefix=name)
    code = os.path.join(root, "code")
    os.makedirs(os.path.join(code, "operations"))
    with open(os.path.join(code, "operations", name + ".py"), "w") as f:
        f.write(source)
    spec = {
        "v": 1,
        "codeDir": code,
        "operation": {"file": "operations/%s.py" % name, "className": name},
        "attributes": attributes,
        "references": {},
        "inputs": inputs,
        "outputs": outputs,
        "outputDir": os.path.join(root, "out"),
        "workDir": root,
        "eventsFile": os.path.join(root, "events"),
    }
    with open(os.path.join(root, "job.json"), "w") as f:
        json.dump(spec, f)
    proc = subprocess.run(
        [sys.executable, "-m", "deepforge.harness", os.path.join(root, "job.json")],
        cwd=root,
        env=dict(os.environ, PYTHONPATH=PYTHON_DIR),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit("job %s failed: %s" % (name, proc.stderr))
    with open(spec["eventsFile"]) as f:
        events = [json.loads(line) for line in f]
    return spec, events


def phase_time(events, start_phase, end):
    t0 = next(e["t"] for e in events if e["type"] == "phase" and e["phase"] == start_phase)
    t1 = next(e["t"] for e in events if end(e))
    return (t1 - t0) / 1000.0


def content_id(path):
    sys.path.insert(0, PYTHON_DIR)
    from deepforge import content_hash

    content_hash.file_content_id(path)
    return time.perf_counter()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for i in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", BASELINE, os.path.join(tmp, "base.npy"), str(args.mb)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            save, load, touch_base = (float(x) for x in out)
            os.unlink(os.path.join(tmp, "base.npy"))

            spec_a, events_a = run_job(tmp, "Make", MAKE, {"mb": args.mb}, {}, ["arr"])
            write = phase_time(events_a, "saving-outputs", lambda e: e["type"] == "output")
            path = os.path.join(spec_a["outputDir"], "arr")
            t = time.perf_counter()
            hash_s = content_id(path) - t
            spec_b, events_b = run_job(
                tmp, "Use", USE, {}, {"arr": {"path": path, "serializer": "numpy.ndarray"}}, ["touch"]
            )
            read = phase_time(events_b, "loading-inputs", lambda e: e["type"] == "phase" and e["phase"] == "executing")
            sys.path.insert(0, PYTHON_DIR)
            from deepforge import serialization

            touch = serialization.load_from(os.path.join(spec_b["outputDir"], "touch"), "pickle")
            baseline = save + load
            ours = write + hash_s + read
            print(
                "run %d: np.save %.3fs + np.load %.3fs = %.3fs | deepforge write+fsync %.3fs + content id %.3fs + "
                "load %.3fs = %.3fs | ratio %.2f | with first touch (sum): baseline %.3fs, deepforge %.3fs, "
                "ratio %.2f"
                % (
                    i + 1,
                    save,
                    load,
                    baseline,
                    write,
                    hash_s,
                    read,
                    ours,
                    ours / baseline,
                    baseline + touch_base,
                    ours + touch,
                    (ours + touch) / (baseline + touch_base),
                )
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
