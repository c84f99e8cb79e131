"""The job's resource usage (the ``usage`` event): CPU time and peak memory measured by the job's own process."""

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


def test_no_usage_event_unless_the_spec_asks(run_job):
    result = run_job(BURN.replace("200 *", "1 *").replace("0.5", "0.01"), outputs=["n"])
    assert result.returncode == 0, result
    assert result.of("usage") == []


def test_a_usage_flag_that_is_not_a_boolean_is_a_spec_error(run_job):
    result = run_job("class A():\n    def execute(self):\n        return 1\n", "A", outputs=["x"], spec_overrides={"usage": "yes"})
    assert result.returncode != 0
    assert "spec.usage must be a boolean" in result.error["message"]


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
