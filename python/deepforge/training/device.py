"""Devices: ``'auto' | 'cpu' | 'cuda' | 'cuda:1' | 'mps'``, batches moved there, mixed precision."""

import contextlib
import sys

import torch

from .errors import DeviceUnavailableError

__all__ = ["resolve_device", "resolve_devices", "to_device", "pin", "autocast_context", "amp_dtype", "tune_allocator"]


def _cuda_count():
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover - a broken driver counts as no GPU
        return 0


def _no_cuda_message(requested):
    built = torch.version.cuda
    why = (
        "this torch %s was built without CUDA" % torch.__version__
        if not built
        else "torch.cuda.is_available() is False (torch %s, CUDA %s: no GPU visible, or no driver)"
        % (torch.__version__, built)
    )
    return (
        "device %r was requested but there is no usable GPU on this machine: %s. Use device='cpu', or "
        "device='auto' to take a GPU only when there is one." % (requested, why)
    )


def resolve_device(device="auto"):
    """The ``torch.device`` to train on. ``'auto'``: the first GPU if there is one, else CPU.

    Raises :class:`DeviceUnavailableError` (with the reason) for a CUDA/MPS device this machine lacks.
    """
    if isinstance(device, torch.device):
        spec = str(device)
    elif device is None:
        spec = "auto"
    elif isinstance(device, int) and not isinstance(device, bool):
        spec = "cuda:%d" % device
    elif isinstance(device, str):
        spec = device.strip().lower()
    else:
        raise DeviceUnavailableError(
            "device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, got %r" % (device,)
        )
    if spec == "auto":
        if _cuda_count() > 0:
            return torch.device("cuda", 0)
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():  # pragma: no cover - macOS only
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "gpu":
        spec = "cuda"
    try:
        dev = torch.device(spec)
    except RuntimeError as exc:
        raise DeviceUnavailableError(
            "unknown device %r (%s); use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'" % (device, exc)
        ) from None
    if dev.type == "cuda":
        count = _cuda_count()
        if count == 0:
            raise DeviceUnavailableError(_no_cuda_message(device))
        index = 0 if dev.index is None else dev.index
        if index >= count:
            raise DeviceUnavailableError(
                "device %r was requested but only %d GPU%s %s visible (%s)%s"
                % (
                    device,
                    count,
                    "" if count == 1 else "s",
                    "is" if count == 1 else "are",
                    ", ".join("cuda:%d" % i for i in range(count)),
                    "; CUDA_VISIBLE_DEVICES renumbers them from 0" if count else "",
                )
            )
        return torch.device("cuda", index)
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceUnavailableError("device 'mps' was requested but Apple's MPS backend is not available here")
        return dev
    if dev.type != "cpu":
        raise DeviceUnavailableError("device %r is not supported for training; use 'cpu' or 'cuda'" % (device,))
    return dev


def resolve_devices(device):
    """A list of devices: several for a list/tuple (``['cuda:0', 'cuda:1']``), one otherwise."""
    if isinstance(device, (list, tuple)):
        if not device:
            raise DeviceUnavailableError("device: an empty list of devices")
        devices = [resolve_device(d) for d in device]
        if len(set(str(d) for d in devices)) != len(devices):
            raise DeviceUnavailableError("device: the same device is listed twice in %r" % (list(device),))
        return devices
    return [resolve_device(device)]


def cuda_device_count():
    return _cuda_count()


def to_device(batch, device, non_blocking=False):
    """Move every tensor of a (nested) batch to ``device``; other values are left as they are."""
    if isinstance(batch, torch.Tensor):
        if batch.device == device:
            return batch
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    if isinstance(batch, dict):
        return type(batch)((k, to_device(v, device, non_blocking)) for k, v in batch.items())
    return batch


def pin(batch):
    """Page-locked copies of the CPU tensors of a batch (faster, asynchronous host→GPU copies)."""
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory() if batch.device.type == "cpu" else batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(pin(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(pin(v) for v in batch)
    if isinstance(batch, dict):
        return type(batch)((k, pin(v)) for k, v in batch.items())
    return batch


def amp_dtype(amp, device):
    """The autocast dtype for ``amp`` (True, 'fp16', 'bf16', False) on ``device``; None when off.

    Raises :class:`DeviceUnavailableError` when this torch cannot do it (with what to use instead).
    """
    if amp in (False, None, "", "off", "none"):
        return None
    if amp is True or amp == "auto":
        kind = "fp16" if device.type == "cuda" else "bf16"
    elif isinstance(amp, str) and amp.lower() in ("fp16", "float16", "half", "bf16", "bfloat16"):
        kind = "bf16" if amp.lower().startswith("b") else "fp16"
    else:
        raise ValueError("amp must be True, False, 'fp16' or 'bf16', got %r" % (amp,))
    if device.type == "cuda":
        if kind == "bf16" and not torch.cuda.is_bf16_supported():
            raise DeviceUnavailableError(
                "amp='bf16' was requested but %s does not support bfloat16; use amp='fp16'"
                % torch.cuda.get_device_name(device)
            )
        return torch.bfloat16 if kind == "bf16" else torch.float16
    if device.type == "cpu":
        if kind == "fp16":
            raise DeviceUnavailableError(
                "amp='fp16' is not available on the CPU (torch %s autocasts the CPU to bfloat16 only); use "
                "amp=True or amp='bf16' on the CPU, or amp='fp16' on a GPU" % torch.__version__
            )
        if not _cpu_bf16_autocast():
            raise DeviceUnavailableError(
                "amp=True on the CPU needs bfloat16 autocast, which torch %s does not provide; train without "
                "amp on the CPU, or on a GPU" % torch.__version__
            )
        return torch.bfloat16
    raise DeviceUnavailableError("mixed precision is not supported on %s" % device)


_bf16_ok = {}


def _cpu_bf16_autocast():
    if "cpu" not in _bf16_ok:
        try:
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
                out = torch.nn.functional.linear(torch.ones(1, 2), torch.ones(2, 2))
            _bf16_ok["cpu"] = out.dtype == torch.bfloat16
        except Exception:
            _bf16_ok["cpu"] = False
    return _bf16_ok["cpu"]


def autocast_context(device, dtype):
    """``torch.autocast`` for ``device`` with ``dtype``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


_allocator: dict[str, bool | None] = {"tuned": None}


def tune_allocator(mmap_threshold=256 << 20, trim_threshold=1 << 30):
    """Make glibc's malloc keep freed memory for reuse (Linux; process-wide; idempotent).

    By default glibc returns large freed blocks to the system (``munmap``, heap trimming), and a CPU training
    step, which frees and reallocates its activations every step, then page-faults tens of MB back each time:
    on the 2-core VM of docs/benchmarks.md that was ~8,000 page faults and 10–25 % of every step of the example's
    CNN. With ``M_MMAP_THRESHOLD`` at 256 MiB and ``M_TRIM_THRESHOLD`` at 1 GiB the memory stays in the heap
    (the process keeps its peak), and the faults disappear. Returns True when the settings were applied.
    """
    if _allocator["tuned"] is not None:
        return _allocator["tuned"]
    ok = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            mallopt = ctypes.CDLL("libc.so.6").mallopt
            M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
            ok = mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1 and mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1
        except (OSError, AttributeError):  # not glibc (musl, …)
            ok = False
    _allocator["tuned"] = ok
    return ok
