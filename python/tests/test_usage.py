"""The job's resource usage (the ``usage`` event): CPU time and peak memory measured by the job's own process."""

import os
import subprocess
import sys
import textwrap
import types

from deepforge import harness

BURN = """
import time

class Burn():
    def execute(self):
        # ~200 MB touched page by page, then about half a second of pure CPU.
        block = bytearray(200 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        end = time.process_time() + 0.5
        n = 0
        while time.process_time() < end:
            n += 1
        return n
"""


def test_a_job_reports_its_cpu_time_and_peak_memory_when_asked(run_job):
    result = run_job(BURN, outputs=["n"], spec_overrides={"usage": True})
    assert result.returncode == 0, result
    usage = result.of("usage")
    assert len(usage) == 1, result.events
    assert usage[0]["cpuSeconds"] >= 0.5
    assert usage[0]["peakRssBytes"] >= 200 * 1024 * 1024
    # No GPU here (and torch not imported): nothing about GPU memory rather than a zero.
    assert "peakGpuBytes" not in usage[0]
    # It is the last event: measured once the job's outputs are written.
    assert result.events[-1]["type"] == "usage"


def test_a_failing_job_reports_its_usage_too(run_job):
    result = run_job("class E():\n    def execute(self):\n        return 1 / 0\n", "E", spec_overrides={"usage": True})
    assert result.returncode != 0
    assert [e["type"] for e in result.events][-2:] == ["error", "usage"]
    # Only when asked does it tell the code it exits with.
    assert "exitCode" not in result.of("usage")[0]
    asked = run_job(
        "class E():\n    def execute(self):\n        return 1 / 0\n",
        "E",
        spec_overrides={"usage": True, "announceExit": True},
    )
    assert asked.of("usage")[0]["exitCode"] == asked.returncode == 1


def test_usage_comes_after_the_jobs_threads_and_atexit_callbacks_with_the_exit_code(run_job):
    op = """
import atexit, threading, time

class Late():
    def execute(self):
        atexit.register(lambda: print("atexit ran", flush=True))
        threading.Thread(target=lambda: (time.sleep(0.2), print("thread ran", flush=True))).start()
        return 1
"""
    result = run_job(op, outputs=["x"], spec_overrides={"usage": True, "announceExit": True})
    assert result.returncode == 0, result
    assert "atexit ran" in result.stdout and "thread ran" in result.stdout
    usage = result.of("usage")
    assert len(usage) == 1 and result.events[-1]["type"] == "usage"
    assert usage[0]["exitCode"] == 0
    # The thread's 0.2 s are in the CPU time's wall, not its CPU: what matters is that it was waited for.
    assert usage[0]["cpuSeconds"] >= 0


_ANNOUNCE = """
import os, sys, time
from deepforge import harness
from deepforge._channel import EventWriter

harness.EARLY_END_MAX_RSS = int(sys.argv[1])
harness._usage_writer = EventWriter(int(sys.argv[2]))
harness._announce_exit = True
print("before", flush=True)
harness._report_usage(0)
time.sleep(30)
os._exit(0)
"""


def _announce(limit):
    """Runs ``_report_usage(0)`` in a process that lingers 30 s after it (killed when done with): its events, and
    whether its event channel reached its end (within 1 s of its last event) while it still ran."""
    import select

    read_events, write_events = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_ANNOUNCE), str(limit), str(write_events)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(write_events,),
        env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(harness.__file__))),
    )
    os.close(write_events)
    try:
        events = b""
        ended_early = False
        # However slowly it starts, its event comes; then the end of the channel, if it comes, comes at once.
        timeout = 60.0
        while True:
            if not select.select([read_events], [], [], timeout)[0]:
                break
            chunk = os.read(read_events, 65536)
            if not chunk:
                ended_early = proc.poll() is None
                break
            events += chunk
            if events.endswith(b"\n"):
                timeout = 1.0
        assert proc.stdout is not None
        out = proc.stdout.read() if ended_early else b""
        return [line for line in events.decode().splitlines() if line], ended_early, out
    finally:
        proc.kill()
        proc.wait()
        os.close(read_events)


def test_an_announced_end_closes_the_streams_before_the_process_exits():
    import json

    events, ended_early, out = _announce(harness.EARLY_END_MAX_RSS)
    usage = [json.loads(line) for line in events]
    assert [e["type"] for e in usage] == ["usage"] and usage[0]["exitCode"] == 0
    assert ended_early, "the event channel stayed open until the exit"
    assert out == b"before\n"


def test_no_announced_end_for_a_resident_set_over_the_limit():
    import json

    events, ended_early, _ = _announce(1)
    usage = [json.loads(line) for line in events]
    assert [e["type"] for e in usage] == ["usage"] and "exitCode" not in usage[0]
    assert not ended_early


def test_no_announced_end_while_cuda_holds_memory(monkeypatch):
    writes = []

    class Writer:
        fd = -1

        def emit(self, event):
            writes.append(event)

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=_FakeCuda(True, [1024])))
    monkeypatch.setattr(harness, "_usage_writer", Writer())
    monkeypatch.setattr(harness, "_announce_exit", True)
    harness._report_usage(0)
    assert len(writes) == 1 and writes[0]["peakGpuBytes"] == 1024 and "exitCode" not in writes[0]
    # Said once only.
    harness._report_usage(0)
    assert len(writes) == 1


def test_no_usage_event_unless_the_spec_asks(run_job):
    result = run_job(BURN.replace("200 *", "1 *").replace("0.5", "0.01"), outputs=["n"])
    assert result.returncode == 0, result
    assert result.of("usage") == []


def test_a_usage_flag_that_is_not_a_boolean_is_a_spec_error(run_job):
    result = run_job("class A():\n    def execute(self):\n        return 1\n", "A", outputs=["x"], spec_overrides={"usage": "yes"})
    assert result.returncode != 0
    assert "spec.usage must be a boolean" in result.error["message"]
    result = run_job(
        "class A():\n    def execute(self):\n        return 1\n", "A", outputs=["x"], spec_overrides={"announceExit": 1}
    )
    assert result.returncode != 0
    assert "spec.announceExit must be a boolean" in result.error["message"]


def test_child_processes_count_in_cpu_time(run_job):
    op = """
import subprocess, sys

class Child():
    def execute(self):
        code = "import time\\nend = time.process_time() + 0.4\\nwhile time.process_time() < end: pass"
        subprocess.run([sys.executable, "-c", code], check=True)
        return 1
"""
    result = run_job(op, outputs=["x"], spec_overrides={"usage": True})
    assert result.returncode == 0, result
    assert result.of("usage")[0]["cpuSeconds"] >= 0.4


class _FakeCuda:
    """Stands in for torch.cuda on a machine without a GPU: the reporting path, not the measurement."""

    def __init__(self, initialized, peaks):
        self._initialized = initialized
        self._peaks = peaks

    def is_initialized(self):
        return self._initialized

    def device_count(self):
        return len(self._peaks)

    def max_memory_allocated(self, device):
        return self._peaks[device]


def test_peak_gpu_memory_is_summed_over_the_devices_cuda_used():
    torch = types.SimpleNamespace(cuda=_FakeCuda(True, [3 * 1024**3, 1024**3]))
    assert harness._peak_gpu_bytes(torch) == 4 * 1024**3


def test_no_peak_gpu_memory_without_torch_or_without_cuda_initialised():
    assert harness._peak_gpu_bytes(None) is None
    assert harness._peak_gpu_bytes(types.SimpleNamespace(cuda=_FakeCuda(False, [1]))) is None

    class Broken(_FakeCuda):
        def max_memory_allocated(self, device):
            raise RuntimeError("CUDA driver gone")

    assert harness._peak_gpu_bytes(types.SimpleNamespace(cuda=Broken(True, [1]))) is None


def test_real_torch_without_cuda_reports_no_gpu_memory():
    import torch

    assert not torch.cuda.is_initialized()
    assert harness._peak_gpu_bytes(torch) is None
