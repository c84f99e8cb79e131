"""Several GPUs (or CPU processes): DistributedDataParallel, one process per device.

``Trainer.fit()`` calls :func:`run_distributed` when it has more than one device. The parent process starts
one worker per device with ``torch.multiprocessing`` (``spawn`` when GPUs are used, since CUDA cannot be
used in forked children; ``fork`` on the CPU, where it is much faster and nothing needs to be picklable),
and stays the reporter: rank 0 sends it progress, metrics and epoch records through a queue, and the
parent draws the bars, calls ``deepforge.log`` and redraws the live plot, so that everything shows in the
DeepForge job exactly as in a single-process run. Processes meet through a rendezvous file (no port to
pick). When training ends, rank 0 sends the trained weights and the history back and the parent loads
them into the model it was given. An exception in any rank stops all of them; the parent re-raises it (the
same class and message: a ``NonFiniteLossError`` stays one; the first failure reported, not the peers' lost
connections that follow it).

With ``spawn``, the Trainer and everything it holds (model, data, criteria, hooks) are pickled to each
process: functions must be defined at module level (in utils/ or an operation's file), not as lambdas.
"""

import gc
import io
import os
import time
import pickle
import queue as queue_module
import shutil
import sys
import tempfile
import traceback

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from . import _debug
from ._reporting import NullReporter
from .checkpoint import unwrap
from .errors import TrainingError

__all__ = ["run_distributed"]

# The trainer of a fork()ed run: children inherit it, nothing is pickled.
_FORK_TRAINER = None

# How long the ranks may take to exit once rank 0 has sent the trained model (they need milliseconds).
_EXIT_GRACE_S = 120


class _QueueReporter:
    """Rank 0's reporter: forwards to the parent process, which owns the bars, metrics and plot."""

    def __init__(self, queue):
        self.queue = queue

    def epoch_start(self, epoch, epochs, total):
        self.queue.put(("epoch_start", (epoch, epochs, total)))

    def step(self, log_step=None, values=None, position=None):
        self.queue.put(("step", (log_step, values, position)))

    def epoch_end(self, epoch, values, record):
        self.queue.put(("epoch_end", (epoch, values, record)))

    def close(self):
        pass


def _harness_packages():
    """The project's namespace packages the harness installed (operations, utils, serializers)."""
    out = {}
    for name in ("operations", "utils", "serializers"):
        module = sys.modules.get(name)
        path = getattr(module, "__path__", None)
        if module is not None and path is not None and getattr(module, "__file__", None) is None:
            out[name] = list(path)
    return out


def _install_packages(packages):
    import importlib.machinery
    import importlib.util

    for name, paths in packages.items():
        if name in sys.modules:
            continue
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = list(paths)
        sys.modules[name] = importlib.util.module_from_spec(spec)


def _stop_processes(processes, grace_s=5.0):
    """Terminates the ranks still running, then kills those that ignore it."""
    for p in processes:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


def _unpicklable(trainer):
    """The first attribute of the trainer that cannot be pickled, with the reason (for spawn)."""
    for key, value in trainer.__getstate__().items():
        try:
            pickle.dumps(value)
        except Exception as exc:
            return key, value, exc
    return None


# Leaving the process group: the DDP wrapper first, then the group (a deadlock in torch otherwise).
#
# torch frees a gloo process group in ~ProcessGroupGloo, which joins the group's worker threads. Its Python
# binding releases the GIL around that (torch's fix for pytorch/pytorch#56297), but DDP's C++ Reducer holds the
# group too, and the Reducer's binding is a plain shared_ptr class: when the Reducer is the group's last owner,
# the join runs with the GIL held. A worker thread drops its last collective's tensors just after completing
# it, and a tensor whose Python object was already released (``t`` in Trainer._all_reduce: all_reduce, then
# tolist, then gone) is freed through that Python object, which needs the GIL. If that thread has not got
# there yet when the join starts, each waits for the other forever.
#
# That was the intermittent hang of the spawn-based DDP test on the loaded 2-core CI machine: _ddp_entry called
# destroy_process_group() (which only unregisters the group: the wrapper still holds it) and returned, and the
# Trainer, unpickled in the rank and so owned by _ddp_entry alone, then freed the wrapper. gdb on the hung ranks
# (3 and 4 of 20 runs in two loops with the CPUs busy, one with both ranks stuck; torch 1.13, Python 3.11):
#   main thread:  ~Reducer -> ~ProcessGroupGloo -> std::thread::join   (GIL held, at _wrap's call of _ddp_entry)
#   gloo worker:  ProcessGroupGloo::runLoop -> ~TensorImpl -> destroy_pyobj_if_needed -> PyEval_AcquireThread
# A worker descheduled on a busy machine is what widens the window; with fork, the children inherit the trainer
# through a global, never free it and leave with os._exit, which is why only spawn hung. Delaying a peer's side
# of the last collective (so a worker still holds it) makes the old order hang every time, and this one never.
#
# Freed in this order, the Reducer goes while the group is still registered, and the group's last owner is its
# Python binding, which joins the workers without the GIL.
def _leave_group(trainer):
    """Frees this rank's DDP wrapper, then destroys the process group: in this order (see above)."""
    net = getattr(trainer, "_net", None)
    if trainer is not None:
        trainer._net = None
    if isinstance(net, torch.nn.parallel.DistributedDataParallel):
        # Should a hook have kept a reference to the wrapper, its C++ reducer (and the logger holding it) must
        # still go now, while the group is registered: they are what would otherwise free the group later.
        for name in ("reducer", "logger"):
            net.__dict__.pop(name, None)
    del net
    gc.collect()
    if dist.is_initialized():
        dist.destroy_process_group()


def _ddp_entry(rank, world, devices, backend, init_file, queue, payload, packages, threads):
    trainer = None
    joined = False
    try:
        if payload is None:
            trainer = _FORK_TRAINER
            if trainer is None:
                raise TrainingError("a forked training process found no trainer to run (it was not forked by fit())")
        else:
            _install_packages(packages)
            trainer = pickle.loads(payload)
        device = torch.device(devices[rank])
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if threads and not trainer.num_threads:
            torch.set_num_threads(threads)
        if rank != 0:
            _debug.set_line_prefix("[rank %d] " % rank)
        dist.init_process_group(backend, init_method="file://" + init_file, rank=rank, world_size=world)
        joined = True
        trainer.backend_used = backend
        reporter = _QueueReporter(queue) if rank == 0 else NullReporter()
        history = trainer._fit_process(rank, world, device, reporter)
        if rank == 0:
            buffer = io.BytesIO()
            net = unwrap(trainer._net)
            state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            torch.save({"model": state, "history": history, "step": trainer.step, "epoch": trainer.epoch}, buffer)
            queue.put(("done", buffer.getvalue()))
    except BaseException as exc:  # noqa: B902 - every failure goes back to the parent
        # Reported before leaving the group: destroying it waits for this rank's pending collectives, which may
        # wait for a peer that the parent stops only once it knows of this failure.
        try:
            pickle.dumps(exc)
            sent = exc
        except Exception:
            sent = None
        queue.put(("error", (rank, sent, "%s: %s" % (type(exc).__name__, exc), traceback.format_exc())))
        # In the pipe before the peers can see this rank leave: their own failures ("Connection closed by peer")
        # then reach the parent after this one, which it reports.
        queue.close()
        queue.join_thread()
        # The frames of the failed fit still hold the DDP wrapper (a local `net`): release them too.
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        if joined:
            _leave_group(trainer)


def _default_start_method(devices):
    if any(d.type == "cuda" for d in devices):
        return "spawn"
    return "fork" if "fork" in mp.get_all_start_methods() else "spawn"


def run_distributed(trainer, devices, reporter):
    """Train with one process per device; returns the history (the parent's model gets the weights)."""
    global _FORK_TRAINER

    if not dist.is_available():
        raise TrainingError("torch.distributed is not available in this torch build: train on one device")
    world = len(devices)
    cuda = devices[0].type == "cuda"
    backend = trainer.backend or ("nccl" if cuda and dist.is_nccl_available() else "gloo")
    start_method = trainer.start_method or _default_start_method(devices)
    if start_method == "fork" and cuda:
        raise TrainingError("start_method='fork' cannot be used with GPUs (CUDA does not survive fork); use 'spawn'")
    threads = None
    if not cuda:
        threads = max(1, (os.cpu_count() or 1) // world)
    payload = None
    if start_method != "fork":
        try:
            payload = pickle.dumps(trainer)
        except Exception as exc:
            found = _unpicklable(trainer)
            what = "%s (%s)" % (found[0], type(found[1]).__name__) if found else "something it holds"
            raise TrainingError(
                "distributed training with start_method=%r pickles the Trainer to each process, but %s cannot be "
                "pickled (%s: %s). Define functions at module level (in utils/ or the operation's file), not as "
                "lambdas or nested functions%s"
                % (start_method, what, type(exc).__name__, exc, "" if cuda else ", or use start_method='fork' on the CPU")
            ) from None
    tmpdir = tempfile.mkdtemp(prefix="deepforge-ddp-")
    init_file = os.path.join(tmpdir, "rendezvous")
    ctx = mp.get_context(start_method)
    channel = ctx.Queue()
    if _debug.is_debug():
        _debug.print_debug(
            "distributed: %d processes (%s), backend %s, start method %s%s"
            % (world, ", ".join(str(d) for d in devices), backend, start_method, ", %d CPU threads each" % threads if threads else "")
        )
    result = None
    errors = []
    _FORK_TRAINER = trainer if payload is None else None
    try:
        context = mp.start_processes(
            _ddp_entry,
            args=(world, [str(d) for d in devices], backend, init_file, channel, payload, _harness_packages(), threads),
            nprocs=world,
            join=False,
            start_method=start_method,
        )
        failure = None
        done_at: list[float | None] = [None]

        def drain(block_s):
            nonlocal result
            try:
                kind, data = channel.get(timeout=block_s) if block_s else channel.get_nowait()
            except queue_module.Empty:
                return False
            if kind == "epoch_start":
                reporter.epoch_start(*data)
            elif kind == "step":
                reporter.step(*data)
            elif kind == "epoch_end":
                reporter.epoch_end(*data)
            elif kind == "done":
                result = torch.load(io.BytesIO(data), map_location="cpu")
                done_at[0] = time.monotonic()
            elif kind == "error":
                errors.append(data)
            return True

        while True:
            while drain(0.05):
                pass
            if errors:
                # A rank reported its failure and exited normally, so join() would wait for the others, which
                # block in a collective (or the rendezvous) for a peer that is gone: stop them.
                _stop_processes(context.processes)
                break
            try:
                if context.join(timeout=0.05):
                    break
            except Exception as exc:  # a rank failed: torch stopped the others
                failure = exc
                break
            if done_at[0] is not None and time.monotonic() - done_at[0] > _EXIT_GRACE_S:
                # The training is over and its result is here: a rank stuck on its way out (as torch's teardown
                # could, see _leave_group) must not hang the job.
                stuck = [i for i, p in enumerate(context.processes) if p.is_alive()]
                _debug.print_warning(
                    "distributed: process%s %s still running %d s after training ended: stopped"
                    % ("es" if len(stuck) > 1 else "", ", ".join(map(str, stuck)), _EXIT_GRACE_S)
                )
                _stop_processes(context.processes)
                break
        while drain(0.2):
            pass
    finally:
        _FORK_TRAINER = None
        shutil.rmtree(tmpdir, ignore_errors=True)
        try:
            channel.close()
        except Exception:
            pass
    if failure is not None or errors:
        if errors:
            rank, error, text, tb = errors[0]
            if error is not None:
                raise error from TrainingError("in distributed process %d:\n%s" % (rank, tb))
            raise TrainingError("distributed process %d failed: %s\n%s" % (rank, text, tb))
        raise TrainingError("distributed training failed: %s" % failure) from failure
    if result is None:
        raise TrainingError("distributed training ended without the trained model from process 0")
    unwrap(trainer.model).load_state_dict(result["model"])
    trainer.history = result["history"]
    trainer.step = result["step"]
    trainer.epoch = result["epoch"]
    return trainer.history
