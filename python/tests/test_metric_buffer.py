"""deepforge.log's buffer: metric values written in batches, on time for live charts, and never lost at the end."""

import fcntl
import json
import os
import struct
import time

import pytest

from conftest import assert_ok
from deepforge import _channel

# Values whose every bit must arrive: JSON text round-trips a double exactly only when written with repr.
TRICKY = [1.0 / 3, -0.0, 5e-324, 1.7976931348623157e308, 1e-310, 123456789.123456789, -2.5e-17]


def bits(x):
    return struct.pack("<d", x)


def pipe_writer():
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(read_fd, fcntl.F_SETFL, fcntl.fcntl(read_fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    # Room for a whole batch: the test reads only after the writer is done.
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    return read_fd, _channel.EventWriter(write_fd)


def read_now(fd):
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def lines(data):
    return [json.loads(line) for line in data.decode("ascii").splitlines()]


def test_batched_lines_are_the_events_one_at_a_time_would_be():
    cases = [
        (1700000000123, 0, {"loss": 0.5}),
        (1700000000124, None, {"val/loss": 3.0, 'a "quoted" \u00e9 name': -0.0}),
        (1700000000125, 2.5, {"x": 5e-324, "y": 1e16}),
        (1700000000126, 2**60, {"z": 1.7976931348623157e308}),
    ]
    for t, step, values in cases:
        one = {"step": step, "values": values, "type": "metric", "v": _channel.PROTOCOL_VERSION, "t": t}
        assert _channel.encode_metrics([(t, step, values)]) == _channel.encode(one)


def test_values_wait_for_a_batch_then_arrive_in_order_with_their_times():
    read_fd, writer = pipe_writer()
    try:
        before = int(time.time() * 1000)
        for i, value in enumerate(TRICKY):
            writer.metric(i, {"loss": value})
        # Nothing written yet: one write for the batch, later.
        assert read_now(read_fd) == b""
        assert writer.flush()
        got = lines(read_now(read_fd))
        assert [e["step"] for e in got] == list(range(len(TRICKY)))
        assert [bits(e["values"]["loss"]) for e in got] == [bits(v) for v in TRICKY]
        after = int(time.time() * 1000)
        assert all(before <= e["t"] <= after for e in got)
        # A full batch is written at once.
        for i in range(_channel.FLUSH_POINTS):
            writer.metric(i, {"acc": float(i)})
        assert len(lines(read_now(read_fd))) == _channel.FLUSH_POINTS
    finally:
        writer.close()
        os.close(read_fd)


def test_a_value_logged_alone_is_written_soon_without_another_call():
    read_fd, writer = pipe_writer()
    try:
        writer.metric(1, {"loss": 0.25})
        assert read_now(read_fd) == b""
        deadline = time.monotonic() + 5
        data = b""
        while not data and time.monotonic() < deadline:
            time.sleep(0.01)
            data = read_now(read_fd)
        # The background flusher wrote it (about FLUSH_SECONDS later; the bound is loose for a loaded machine).
        assert lines(data) == [
            {"step": 1, "values": {"loss": 0.25}, "type": "metric", "v": 1, "t": lines(data)[0]["t"]}
        ]
    finally:
        writer.close()
        os.close(read_fd)


def test_other_events_come_after_the_values_logged_before_them():
    read_fd, writer = pipe_writer()
    try:
        writer.metric(0, {"loss": 1.0})
        writer.emit({"type": "progress", "bar": "b", "n": 1, "total": 2})
        assert [e["type"] for e in lines(read_now(read_fd))] == ["metric", "progress"]
    finally:
        writer.close()
        os.close(read_fd)


def test_a_forked_child_does_not_write_its_parents_values_again():
    read_fd, writer = pipe_writer()
    try:
        writer.metric(0, {"parent": 1.0})
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                writer.metric(1, {"child": 2.0})
                writer.flush()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        writer.flush()
        got = lines(read_now(read_fd))
        assert sorted(list(e["values"])[0] for e in got) == ["child", "parent"]
    finally:
        writer.close()
        os.close(read_fd)


LOGGER = """
import sys
import threading
import deepforge

TRICKY = %r


class Logger():
    def __init__(self, how="return"):
        self.how = how

    def execute(self):
        for i in range(5000):
            deepforge.log(step=i, loss=TRICKY[i %% len(TRICKY)] / (i + 1), acc=i / 7)
        if self.how == "raise":
            raise RuntimeError("after 5000 values")
        if self.how == "exit":
            sys.exit(3)
        if self.how == "thread":
            # A thread still logging when execute returns: the exit waits for it, and its values are kept.
            def late():
                for i in range(5000, 5100):
                    deepforge.log(step=i, loss=1.0, acc=2.0)
            threading.Thread(target=late).start()
        done = 1
        return done
""" % (
    TRICKY,
)


def expect_every_value(result, n=5000):
    metrics = result.of("metric")
    assert len(metrics) == n
    assert [m["step"] for m in metrics] == list(range(n))
    for i, m in enumerate(metrics[:5000]):
        assert bits(m["values"]["loss"]) == bits(TRICKY[i % len(TRICKY)] / (i + 1))
        assert bits(m["values"]["acc"]) == bits(i / 7)
    times = [m["t"] for m in metrics]
    assert times == sorted(times)


@pytest.mark.parametrize("channel", ["fd", "file"])
def test_every_value_arrives_when_execute_returns(run_job, channel):
    result = assert_ok(run_job(LOGGER, outputs=["done"], channel=channel))
    expect_every_value(result)
    # Written before the outputs were reported.
    types = [e["type"] for e in result.events]
    assert types.index("output") > max(i for i, t in enumerate(types) if t == "metric")


def test_every_value_arrives_when_execute_raises(run_job):
    result = run_job(LOGGER, attributes={"how": "raise"}, outputs=["done"], channel="fd")
    assert result.error["kind"] == "exception"
    expect_every_value(result)
    types = [e["type"] for e in result.events]
    assert types[-1] == "error"


def test_every_value_arrives_on_sys_exit(run_job):
    result = run_job(LOGGER, attributes={"how": "exit"}, outputs=["done"], channel="fd")
    assert result.returncode != 0
    expect_every_value(result)


def test_values_a_thread_logs_after_execute_returns_arrive(run_job):
    result = assert_ok(run_job(LOGGER, attributes={"how": "thread"}, outputs=["done"], channel="fd"))
    expect_every_value(result, 5100)
