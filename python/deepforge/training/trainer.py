"""The training loop: ``Trainer(model, data, criterion, optimizer, …).fit()``.

Plain PyTorch underneath: the model is any ``nn.Module``, criteria are any callables, the optimizer any
``torch.optim`` optimizer. What the Trainer adds is what Viserion took care of: batches fetched in parallel and
seeded reproducibly, CPU↔GPU transfers, several GPUs (DistributedDataParallel, one process per GPU), mixed
precision, a debug mode, validation with classification error rates, checkpoints and resume, and live
metrics, progress and plots (in DeepForge; plain stdout elsewhere).
"""

import math
import os
import sys
import time

import torch

from . import _debug
from ._debug import describe, print_debug, print_warning
from ._reporting import LocalReporter
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, unwrap
from .config import apply_configs
from .data import BatchLoader, IterableSource, as_source, derive_seed
from .device import amp_dtype, autocast_context, cuda_device_count, resolve_devices, to_device
from .errors import NonFiniteLossError, ShapeMismatchError, TrainingError
from .evaluation import ClassificationMeter, format_report

__all__ = ["Trainer", "fit"]

_CLASSIFICATION_LOSSES = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)
_ELEMENTWISE_LOSSES = (
    torch.nn.MSELoss,
    torch.nn.L1Loss,
    torch.nn.SmoothL1Loss,
    torch.nn.HuberLoss,
    torch.nn.BCELoss,
    torch.nn.BCEWithLogitsLoss,
    torch.nn.KLDivLoss,
)


def _shape(t):
    return "[%s]" % ", ".join(str(int(n)) for n in t.shape) if hasattr(t, "shape") else type(t).__name__


def _fmt_pct(value):
    return "–" if value is None else "%.2f %%" % (100.0 * value)


def _fmt_lr(lr):
    return "%.3g" % lr if lr is not None else "–"


def _name_of(obj):
    return type(obj).__name__ if not hasattr(obj, "__name__") else obj.__name__


class _Criterion:
    __slots__ = ("name", "fn", "weight")

    def __init__(self, name, fn, weight):
        self.name = name
        self.fn = fn
        self.weight = float(weight)


def _criteria_list(criterion, criteria, weights):
    if criterion is not None and criteria is not None:
        raise TrainingError("give either criterion= or criteria=, not both")
    items: list[tuple[str | None, object, float]] = []
    if criterion is not None:
        items = [(None, criterion, 1.0)]
    elif criteria is not None:
        if isinstance(criteria, dict):
            for name, value in criteria.items():
                fn, w = value if isinstance(value, tuple) else (value, 1.0)
                items.append((str(name), fn, w))
        else:
            for value in criteria:
                fn, w = value if isinstance(value, tuple) else (value, 1.0)
                items.append((None, fn, w))
        if weights is not None:
            weights = list(weights)
            if len(weights) != len(items):
                raise TrainingError("criteria: %d criteria but %d weights" % (len(items), len(weights)))
            items = [(n, fn, w) for (n, fn, _), w in zip(items, weights)]
    out: list[_Criterion] = []
    seen: dict[str, int] = {}
    for name, fn, w in items:
        if not callable(fn):
            raise TrainingError("a criterion must be callable (an nn.Module loss or a function), got %r" % (fn,))
        name = name or _name_of(fn)
        if name in seen:
            seen[name] += 1
            name = "%s_%d" % (name, seen[name])
        else:
            seen[name] = 1
        out.append(_Criterion(name, fn, w))
    return out


class Trainer:
    """Trains ``model`` on ``train_data``. See docs/training.md for a tour; the arguments:

    Data
        ``train_data``, ``val_data``: an ``(inputs, targets)`` pair of tensors/arrays, a map-style torch
        ``Dataset``, a Viserion-style loader (``size()``, ``get_batch(indices, batch_num, epoch)``) or a pair of
        them, or a ``DataLoader`` (used as it is). ``transform(batch) -> batch``: applied to each training
        batch where it is fetched (augmentation). ``batch_size`` (per process), ``eval_batch_size``,
        ``shuffle``, ``drop_last``. ``num_workers`` (0: the main process), ``worker_type`` ('process': a
        torch DataLoader's worker processes; 'thread'), ``prefetch_factor``, ``persistent_workers``,
        ``pin_memory`` ('auto': when training on CUDA).
    Model and loss
        ``criterion``, or ``criteria`` (a list, a list of ``(criterion, weight)``, or a dict name →
        criterion or ``(criterion, weight)``) with ``weights``. Optional flows, called in Viserion's order
        (criteria indices count from 0): ``forward(model, inputs) -> output``;
        ``criteria_flow_forward(idx, output, inputs, targets, previous_values) -> args for criterion idx``;
        ``criteria_flow_backward(idx, output, inputs, targets, values, previous_terms) -> loss term (or None)``;
        ``model_flow_backward(output, terms, inputs, targets) -> the scalar to backpropagate``;
        ``criteria_print_out(epoch, is_training, values)``: called each epoch with the mean of each criterion.
    Optimizer
        ``optimizer``: an instance, an optimizer class (built with ``optimizer_options`` and
        ``learning_rate``), a function ``params -> optimizer``, or None (Adam). ``custom_learning_rate(epoch,
        current_lr) -> lr``: called before each epoch (epochs count from 1). ``scheduler``: stepped after each
        epoch. ``grad_clip``: max gradient norm.
    Execution
        ``epochs``, ``seed`` (None: a random one, printed), ``device`` ('auto', 'cpu', 'cuda', 'cuda:1', a
        list of devices), ``distributed`` ('auto': one process per GPU when several are visible; an int:
        that many processes (CPU: gloo); False), ``backend``, ``start_method``, ``sync_batchnorm``, ``amp``
        (True / 'fp16' / 'bf16'), ``num_threads``, ``tune_allocator`` (glibc keeps freed memory: no page
        faults at every step; process-wide, see :func:`deepforge.training.device.tune_allocator`).
    Reporting
        ``classification`` (None: True for CrossEntropyLoss / NLLLoss): accuracy, error rate, per-class
        accuracy; ``class_names``, ``num_classes``. ``debug``: shapes, dtypes, devices and hints at each stage.
        ``progress`` / ``plot`` ('auto': inside DeepForge, or progress on a terminal), ``log`` (deepforge.log),
        ``log_every`` (steps), ``plot_interval`` (seconds), ``verbose`` (the epoch lines), ``name``.
    Checkpoints
        ``checkpoint_dir`` (``last.pt`` after every ``checkpoint_every`` epochs, ``best.pt`` on the best
        validation), ``resume`` (True: ``checkpoint_dir/last.pt`` when it exists; or a path),
        ``save_state(trainer, epoch, record)``: called after each epoch (Viserion's saveState).

    The same keywords in groups (:mod:`deepforge.training.config`): ``data=DataConfig(…)``,
    ``loss=LossConfig(…)``, ``optim=OptimConfig(…)``, ``devices=DeviceConfig(…)``,
    ``checkpoints=CheckpointConfig(…)``, ``reporting=ReportingConfig(…)``; a keyword set both ways is a
    ``TypeError``.
    """

    @apply_configs
    def __init__(
        self,
        model,
        train_data,
        criterion=None,
        optimizer=None,
        *,
        val_data=None,
        epochs=10,
        batch_size=64,
        eval_batch_size=None,
        learning_rate=None,
        optimizer_options=None,
        custom_learning_rate=None,
        scheduler=None,
        grad_clip=None,
        criteria=None,
        weights=None,
        forward=None,
        criteria_flow_forward=None,
        criteria_flow_backward=None,
        model_flow_backward=None,
        criteria_print_out=None,
        transform=None,
        shuffle=True,
        drop_last=False,
        num_workers=0,
        worker_type="process",
        prefetch_factor=2,
        persistent_workers=True,
        pin_memory="auto",
        seed=0,
        device="auto",
        distributed="auto",
        backend=None,
        start_method=None,
        sync_batchnorm=False,
        amp=False,
        num_threads=None,
        tune_allocator=False,
        classification=None,
        num_classes=None,
        class_names=None,
        checkpoint_dir=None,
        checkpoint_every=1,
        resume=None,
        save_state=None,
        debug=False,
        progress="auto",
        log=True,
        log_every=10,
        plot="auto",
        plot_interval=5.0,
        verbose=True,
        name=None,
    ):
        if not isinstance(model, torch.nn.Module):
            raise TrainingError("model must be a torch.nn.Module, got %s" % type(model).__name__)
        if not isinstance(epochs, int) or epochs < 0:
            raise TrainingError("epochs must be an integer >= 0, got %r" % (epochs,))
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise TrainingError("batch_size must be an integer >= 1, got %r" % (batch_size,))
        self.model = model
        self.train_source = as_source(train_data, "train_data")
        self.val_source = as_source(val_data, "val_data") if val_data is not None else None
        self.criteria = _criteria_list(criterion, criteria, weights)
        if classification is None:
            classification = bool(self.criteria) and isinstance(self.criteria[0].fn, _CLASSIFICATION_LOSSES)
        self.classification = bool(classification)
        if not self.criteria:
            if not self.classification:
                raise TrainingError(
                    "no criterion: give criterion=… (e.g. torch.nn.MSELoss()) or criteria=[…], or "
                    "classification=True for a CrossEntropyLoss"
                )
            self.criteria = [_Criterion("CrossEntropyLoss", torch.nn.CrossEntropyLoss(), 1.0)]
        self.epochs = epochs
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or max(batch_size, 256)
        self.learning_rate = learning_rate
        self.optimizer = self._build_optimizer(optimizer, optimizer_options, learning_rate)
        self.custom_learning_rate = custom_learning_rate
        self.scheduler = scheduler
        self.grad_clip = grad_clip
        self.forward_fn = forward
        self.criteria_flow_forward = criteria_flow_forward
        self.criteria_flow_backward = criteria_flow_backward
        self.model_flow_backward = model_flow_backward
        self.criteria_print_out = criteria_print_out
        self.custom_flow = any(f is not None for f in (forward, criteria_flow_forward, criteria_flow_backward, model_flow_backward))
        self.transform = transform
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.worker_type = worker_type
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.pin_memory = pin_memory
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little")
            self._seed_was_random = True
        else:
            self._seed_was_random = False
        self.seed = int(seed)
        self.device_spec = device
        self.distributed = distributed
        self.backend = backend
        self.start_method = start_method
        self.sync_batchnorm = sync_batchnorm
        self.amp = amp
        self.num_threads = num_threads
        self.tune_allocator = tune_allocator
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.checkpoint_dir = os.fspath(checkpoint_dir) if checkpoint_dir else None
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.resume = resume
        self.save_state = save_state
        self.debug = bool(debug)
        self.progress = progress
        self.log = log
        self.log_every = max(1, int(log_every))
        self.plot = plot
        self.plot_interval = plot_interval
        self.verbose = verbose
        self.name = name or type(unwrap(model)).__name__
        # Runtime state.
        self.history = []
        self.epoch = 0
        self.step = 0
        self.device = None
        self.rank = 0
        self.world_size = 1
        self.scaler = None
        self.live_plot = None
        self.best_metric = None
        self._net = model
        self._loader = None
        self._val_loader = None

    # ----------------------------------------------------------------------------------------------------
    # setup

    def _build_optimizer(self, optimizer, options, learning_rate):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise TrainingError("the model has no trainable parameters (all have requires_grad=False)")
        options = dict(options or {})
        if learning_rate is not None:
            options.setdefault("lr", learning_rate)
        if optimizer is None:
            return torch.optim.Adam(params, **options)
        if isinstance(optimizer, torch.optim.Optimizer):
            if options:
                print_warning("optimizer_options/learning_rate are ignored: the optimizer given is already built")
            mine = {id(p) for p in self.model.parameters()}
            theirs = [p for g in optimizer.param_groups for p in g["params"]]
            if theirs and not any(id(p) in mine for p in theirs):
                raise TrainingError(
                    "the optimizer (%s) was built for other parameters than this model's: build it with "
                    "model.parameters() of the model given to the Trainer" % type(optimizer).__name__
                )
            return optimizer
        is_optimizer_class = isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)
        if is_optimizer_class:
            return optimizer(params, **options)
        if callable(optimizer):
            built = optimizer(params)
            if not isinstance(built, torch.optim.Optimizer):
                raise TrainingError("optimizer(params) must return a torch.optim.Optimizer, got %s" % type(built).__name__)
            return built
        raise TrainingError("optimizer must be a torch.optim.Optimizer, an optimizer class, a function of the parameters, or None; got %r" % (optimizer,))

    def _plan(self):
        """The devices and the number of processes."""
        devices = resolve_devices(self.device_spec)
        dist_opt = self.distributed
        if isinstance(dist_opt, bool) or dist_opt in (None, "auto"):
            auto = dist_opt in (None, "auto", True)
            if len(devices) > 1:
                if dist_opt is False:
                    raise TrainingError("several devices (%s) need distributed training; drop distributed=False" % ", ".join(map(str, devices)))
                return devices
            spec = self.device_spec
            wants_all_gpus = spec in (None, "auto", "cuda", "gpu") or (isinstance(spec, str) and spec.strip().lower() in ("auto", "cuda", "gpu"))
            if auto and devices[0].type == "cuda" and wants_all_gpus:
                count = cuda_device_count()
                if count > 1:
                    return [torch.device("cuda", i) for i in range(count)]
            return devices
        if isinstance(dist_opt, int):
            if dist_opt < 1:
                raise TrainingError("distributed must be 'auto', True, False or a number of processes >= 1, got %r" % (dist_opt,))
            if len(devices) > 1:
                if len(devices) != dist_opt:
                    raise TrainingError("distributed=%d but %d devices were given" % (dist_opt, len(devices)))
                return devices
            dev = devices[0]
            if dev.type == "cuda":
                count = cuda_device_count()
                first = dev.index or 0
                if first + dist_opt > count:
                    raise TrainingError("distributed=%d processes need %d GPUs from cuda:%d, but only %d are visible" % (dist_opt, dist_opt, first, count))
                return [torch.device("cuda", first + i) for i in range(dist_opt)]
            return [dev] * dist_opt
        raise TrainingError("distributed must be 'auto', True, False or a number of processes, got %r" % (dist_opt,))

    def _auto(self, value, default):
        return default if value == "auto" or value is None else bool(value)

    # ----------------------------------------------------------------------------------------------------
    # fit

    def fit(self):
        """Train for the remaining epochs (all of them, or those after the resumed checkpoint).

        Returns the history: one dict per epoch (``epoch``, ``train_loss``, ``train_accuracy``,
        ``val_loss``, ``val_accuracy``, ``val_error``, ``lr``, ``seconds``, ``samples_per_s``, …).
        """
        from .. import in_harness

        devices = self._plan()
        inside = in_harness()
        progress = self._auto(self.progress, inside or _isatty(sys.stderr))
        plot = self._auto(self.plot, inside)
        self.live_plot = None
        if plot:
            from .plotting import LivePlot

            self.live_plot = LivePlot(self.classification, self.plot_interval, self.name)
        reporter = LocalReporter(progress, bool(self.log), self.live_plot)
        previous_debug = _debug.set_debug(True) if self.debug else None
        try:
            if len(devices) > 1:
                from .distributed import run_distributed

                return run_distributed(self, devices, reporter)
            return self._fit_process(0, 1, devices[0], reporter)
        finally:
            reporter.close()
            if previous_debug is not None:
                _debug.set_debug(previous_debug)

    def _fit_process(self, rank, world, device, reporter):
        """The training loop of one process (the only one, or one rank of a distributed run)."""
        self.rank, self.world_size, self.device = rank, world, device
        self._is_main = rank == 0
        if self.num_threads:
            torch.set_num_threads(int(self.num_threads))
        if self.tune_allocator:
            from .device import tune_allocator

            if tune_allocator():
                print_debug("allocator: glibc keeps freed memory (M_MMAP_THRESHOLD 256 MiB, M_TRIM_THRESHOLD 1 GiB)")
            elif self.rank == 0:
                print_warning("tune_allocator: this C library has no mallopt (not glibc); left as it is")
        cuda = device.type == "cuda"
        pin = self._auto(self.pin_memory, cuda) and cuda
        dtype = amp_dtype(self.amp, device)
        self._amp_dtype = dtype
        self.scaler = torch.cuda.amp.GradScaler() if cuda and dtype == torch.float16 else None
        net = unwrap(self.model)
        net.to(device)
        _move_optimizer_state(self.optimizer, device)
        for c in self.criteria:
            if isinstance(c.fn, torch.nn.Module):
                c.fn.to(device)
        if world > 1:
            net = self._wrap_ddp(net, device)
        self._net = net
        self._non_blocking = cuda
        loader_kwargs = dict(
            rank=rank,
            world=world,
            num_workers=self.num_workers,
            worker_type=self.worker_type,
            pin_memory=pin,
            prefetch_factor=self.prefetch_factor,
            persistent_workers=self.persistent_workers,
        )
        self._loader = BatchLoader(self.train_source, self.batch_size, self.shuffle, self.seed, drop_last=self.drop_last, transform=self.transform, **loader_kwargs)
        self._val_loader = None
        if self.val_source is not None:
            self._val_loader = BatchLoader(self.val_source, self.eval_batch_size, False, self.seed, **loader_kwargs)
        if isinstance(self.train_source, IterableSource) and world > 1:
            sampler = getattr(self.train_source.iterable, "sampler", None)
            if not isinstance(sampler, torch.utils.data.distributed.DistributedSampler) and self._is_main:
                print_warning("train_data is a DataLoader without a DistributedSampler: every process sees all the data")

        resumed = self._maybe_resume(device)
        if not resumed:
            # Dropout and anything else random in training draws from generators seeded here (per rank).
            s = derive_seed(self.seed, rank, 0x7A1)
            torch.manual_seed(s)
            import numpy as np
            import random

            np.random.seed(s & 0xFFFFFFFF)
            random.seed(s)
        start_epoch = self.epoch
        if self._is_main:
            self._print_start(device, world, start_epoch)
        try:
            for epoch in range(start_epoch + 1, self.epochs + 1):
                self._run_epoch(epoch, reporter)
        finally:
            self._loader.close()
            if self._val_loader is not None:
                self._val_loader.close()
        if self._is_main and self.verbose and self.classification and self.history and self._last_val_report is not None:
            print("%s: validation after epoch %d:" % (self.name, self.epoch))
            print(format_report(self._last_val_report, unit="samples"))
        return self.history

    _last_val_report = None

    def _wrap_ddp(self, net, device):
        if self.sync_batchnorm:
            if device.type == "cuda":
                net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
            elif self._is_main:
                print_warning("sync_batchnorm needs GPUs; on the CPU each process keeps its own batch statistics")
        ids = [device.index] if device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids, output_device=ids[0] if ids else None)

    def _maybe_resume(self, device):
        path = None
        if self.resume:
            if self.resume is True:
                if not self.checkpoint_dir:
                    raise TrainingError("resume=True needs checkpoint_dir (where last.pt is)")
                candidate = os.path.join(self.checkpoint_dir, "last.pt")
                if os.path.exists(candidate):
                    path = candidate
                elif self._is_main and self.verbose:
                    print("%s: no checkpoint in %s yet: starting from epoch 1" % (self.name, self.checkpoint_dir))
            else:
                given = os.fspath(self.resume)
                if not os.path.exists(given):
                    raise TrainingError("resume=%r: there is no checkpoint at %s" % (self.resume, os.path.abspath(given)))
                path = given
        if path is None:
            return False
        state = load_checkpoint(path, self._net, self.optimizer, self.scaler, self.scheduler, map_location=device)
        _move_optimizer_state(self.optimizer, device)
        self.epoch = int(state.get("epoch", 0))
        self.step = int(state.get("step", 0))
        self.history = list(state.get("history") or [])
        extra = state.get("extra") or {}
        self.best_metric = extra.get("best_metric")
        saved_seed = state.get("seed")
        if saved_seed is not None and saved_seed != self.seed:
            if self._seed_was_random:
                self.seed = int(saved_seed)
            elif self._is_main:
                print_warning("resuming a run made with seed %s with seed %s: batches will differ from the original run" % (saved_seed, self.seed))
            loader = self._prepared_loader()
            loader.seed = self.seed
            if loader._fetcher is not None:  # an iterable source has none: its batches are its own
                loader._fetcher.seed = self.seed
        ranks = (state.get("rng") or {}).get("ranks") or []
        if self.rank < len(ranks) and len(ranks) == self.world_size:
            set_rng_state(ranks[self.rank])
        else:
            s = derive_seed(self.seed, self.rank, 0x7A1, self.epoch)
            torch.manual_seed(s)
            if self._is_main:
                print_warning("the checkpoint holds random states for %d process(es), this run has %d: reseeded" % (len(ranks), self.world_size))
        if self._is_main and self.verbose:
            print("%s: resumed from %s (epoch %d done, step %d)" % (self.name, path, self.epoch, self.step))
        return True

    def _print_start(self, device, world, start_epoch):
        net = unwrap(self._net)
        n_params = sum(p.numel() for p in net.parameters())
        if self.verbose:
            where = str(device)
            if world > 1:
                where = "%d processes (DistributedDataParallel, %s, %s)" % (world, self.backend_used, device.type)
            size = self.train_source.size()
            print(
                "%s: %s parameters, training on %s for %d epoch%s (batch size %d%s, %s samples%s, seed %d)"
                % (
                    self.name,
                    f"{n_params:,}",
                    where,
                    self.epochs - start_epoch,
                    "" if self.epochs - start_epoch == 1 else "s",
                    self.batch_size,
                    " per process" if world > 1 else "",
                    f"{size:,}" if size is not None else "?",
                    ", amp %s" % str(self._amp_dtype).replace("torch.", "") if self._amp_dtype is not None else "",
                    self.seed,
                )
            )
        if _debug.is_debug():
            print_debug("data: train %s; validation %s" % (self.train_source.describe(), self.val_source.describe() if self.val_source else "none"))
            print_debug("data loading: %s" % ", ".join("%s=%s" % kv for kv in self._prepared_loader().settings().items()))
            print_debug("model %s on %s: %s parameters (%s trainable), dtypes %s" % (
                type(net).__name__, device, f"{n_params:,}", f"{sum(p.numel() for p in net.parameters() if p.requires_grad):,}",
                ", ".join(sorted({str(p.dtype).replace("torch.", "") for p in net.parameters()})),
            ))
            print_debug("optimizer %s (lr %s); criteria: %s; classification: %s" % (
                type(self.optimizer).__name__, _fmt_lr(self._lr()), ", ".join("%s×%g" % (c.name, c.weight) for c in self.criteria), self.classification,
            ))
            if self._seed_was_random:
                print_debug("seed was not given: using %d (pass seed=%d to repeat this run)" % (self.seed, self.seed))
            if device.type == "cpu":
                threads = torch.get_num_threads()
                print_debug("torch uses %d CPU threads (num_threads=… to change)" % threads)
                try:
                    load = os.getloadavg()[0]
                except OSError:
                    load = 0.0
                cores = os.cpu_count() or 1
                if threads > 1 and load > cores and not os.environ.get("OMP_WAIT_POLICY"):
                    print_debug(
                        "hint: the load average is %.1f on %d cores: torch's threads spin while they wait and slow "
                        "down a lot when other processes compete for the cores; start with OMP_WAIT_POLICY=PASSIVE "
                        "or use num_threads=1" % (load, cores)
                    )

    backend_used = None

    # ----------------------------------------------------------------------------------------------------
    # one epoch

    def _lr(self):
        groups = self.optimizer.param_groups
        return groups[0].get("lr") if groups else None

    def _set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _run_epoch(self, epoch, reporter):
        self.epoch = epoch
        if self.custom_learning_rate is not None:
            current = self._lr()
            new = self.custom_learning_rate(epoch, current)
            if new is not None and new != current:
                if not isinstance(new, (int, float)) or not math.isfinite(new) or new < 0:
                    raise TrainingError("custom_learning_rate(%d, %r) returned %r; it must return a finite number >= 0" % (epoch, current, new))
                self._set_lr(float(new))
                print_debug("epoch %d: learning rate %s → %s" % (epoch, _fmt_lr(current), _fmt_lr(new)))
        lr = self._lr()
        net = self._net
        net.train()
        loader = self._prepared_loader()
        batches = loader.batches(epoch) if not isinstance(self.train_source, IterableSource) else None
        total = len(batches) if batches is not None else _len_or_none(self.train_source.iterable)
        reporter.epoch_start(epoch, self.epochs, total)
        n_crit = len(self.criteria)
        sums = [0.0, 0, 0] + [0.0] * n_crit  # loss·n, n, correct, criteria·n
        window = [0.0, 0, 0]
        started = time.perf_counter()
        for b, batch in enumerate(loader.iterate(epoch)):
            values, total_value, n, correct = self._train_step(batch, epoch, b, total)
            sums[0] += total_value * n
            sums[1] += n
            if correct is not None:
                sums[2] += correct
            for i, v in enumerate(values):
                sums[3 + i] += v * n
            window[0] += total_value * n
            window[1] += n
            window[2] += correct or 0
            self.step += 1
            if self.step % self.log_every == 0 or (total is not None and b + 1 == total):
                logged = {"loss": window[0] / window[1]}
                if self.classification:
                    logged["accuracy"] = window[2] / window[1]
                reporter.step(self.step, logged, epoch - 1 + (b + 1) / total if total else float(epoch))
                window = [0.0, 0, 0]
            else:
                reporter.step()
        elapsed = time.perf_counter() - started
        sums = self._all_reduce(sums)
        count = sums[1]
        record = {"epoch": epoch, "step": self.step, "lr": lr}
        record["train_loss"] = sums[0] / count if count else float("nan")
        if self.classification:
            record["train_accuracy"] = sums[2] / count if count else None
        if n_crit > 1:
            for i, c in enumerate(self.criteria):
                record["train_" + c.name] = sums[3 + i] / count if count else float("nan")
        record["seconds"] = elapsed
        record["samples_per_s"] = count / elapsed if elapsed > 0 else None
        if self.scheduler is not None:
            self.scheduler.step()
        if self._val_loader is not None:
            record.update(self._validate(epoch))
        self.history.append(record)
        if self._is_main:
            self._report_epoch(record, reporter)
        self._checkpoint(epoch, record)

    def _split(self, batch):
        if isinstance(batch, dict):
            for a, b in (("inputs", "targets"), ("input", "target"), ("x", "y"), ("image", "label"), ("images", "labels")):
                if a in batch and b in batch:
                    return batch[a], batch[b]
            raise TrainingError("a batch is a dict with keys %s; the Trainer needs (inputs, targets) or a dict with inputs/targets" % ", ".join(map(str, batch)))
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return batch[0], batch[1]
        raise TrainingError("a batch must be (inputs, targets), got %s" % describe(batch))

    def _forward(self, net, inputs):
        return self.forward_fn(net, inputs) if self.forward_fn is not None else net(inputs)

    def _losses(self, output, inputs, targets):
        criteria = self.criteria
        if not self.custom_flow and len(criteria) == 1:
            c = criteria[0]
            value = c.fn(output, targets)
            return [value], value if c.weight == 1.0 else value * c.weight
        values: list = []
        for i, c in enumerate(criteria):
            if self.criteria_flow_forward is not None:
                args = self.criteria_flow_forward(i, output, inputs, targets, values)
                if not isinstance(args, (tuple, list)):
                    args = (args,)
            else:
                args = (output, targets)
            values.append(c.fn(*args))
        terms: list = []
        for i, c in enumerate(criteria):
            if self.criteria_flow_backward is not None:
                term = self.criteria_flow_backward(i, output, inputs, targets, values, terms)
            else:
                term = values[i] * c.weight if c.weight != 1.0 else values[i]
            terms.append(term)
        if self.model_flow_backward is not None:
            total = self.model_flow_backward(output, terms, inputs, targets)
        else:
            used = [t for t in terms if t is not None]
            if not used:
                raise TrainingError("criteria_flow_backward returned None for every criterion: nothing to backpropagate")
            total = used[0]
            for t in used[1:]:
                total = total + t
        if not isinstance(total, torch.Tensor) or total.numel() != 1:
            raise TrainingError("the loss to backpropagate must be a one-element tensor, got %s" % describe(total))
        return values, total

    def _train_step(self, batch, epoch, b, total_batches):
        first = not getattr(self, "_first_done", False)
        batch = to_device(batch, self.device, self._non_blocking)
        inputs, targets = self._split(batch)
        net = self._net
        self.optimizer.zero_grad(set_to_none=True)
        if first:
            output, values, total = self._first_forward(net, inputs, targets)
        else:
            with autocast_context(self.device, self._amp_dtype):
                output = self._forward(net, inputs)
                values, total = self._losses(output, inputs, targets)
        loss_value = total.item()
        if not math.isfinite(loss_value):
            self._non_finite(loss_value, values, inputs, epoch, b, total_batches)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            if self.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            if self.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.grad_clip)
            self.optimizer.step()
        n = _batch_len(targets, inputs)
        correct = None
        if self.classification and isinstance(output, torch.Tensor) and output.dim() == 2:
            with torch.no_grad():
                t = targets if targets.dim() == 1 else targets.argmax(1)
                correct = int((output.argmax(1) == t).sum())
        crit_values = [float(v) for v in values] if len(values) > 1 else []
        if first:
            self._first_done = True
            if _debug.is_debug():
                grads = [p.grad for p in net.parameters() if p.grad is not None]
                norm = torch.norm(torch.stack([g.detach().float().norm() for g in grads])).item() if grads else 0.0
                print_debug("first step done: gradient norm %.4g over %d tensors; loss %.4g" % (norm, len(grads), loss_value))
                if not grads:
                    print_warning("no parameter received a gradient: is the loss connected to the model?")
        return crit_values, loss_value, n, correct

    def _first_forward(self, net, inputs, targets):
        debug = _debug.is_debug() and self._is_main
        if debug:
            print_debug("first batch: inputs %s" % describe(inputs, stats=True))
            print_debug("first batch: targets %s" % describe(targets, stats=True))
            self._input_hints(net, inputs, targets)
        try:
            with autocast_context(self.device, self._amp_dtype):
                output = self._forward(net, inputs)
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ShapeMismatchError(
                "the model %s failed on the first batch (inputs %s): %s: %s"
                % (self.name, describe(inputs), type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            ) from exc
        if debug:
            print_debug("model output: %s" % describe(output, stats=True))
        if not self.custom_flow:
            self._check_output(output, targets)
        try:
            with autocast_context(self.device, self._amp_dtype):
                values, total = self._losses(output, inputs, targets)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise ShapeMismatchError(
                "the loss could not be computed on the first batch: model output %s, targets %s, criteria %s: %s: %s"
                % (describe(output), describe(targets), ", ".join(c.name for c in self.criteria), type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            ) from exc
        if debug:
            print_debug("loss: %s = %.5g (%s)" % (" + ".join("%g×%s" % (c.weight, c.name) for c in self.criteria), total.item(), describe(total)))
            if self.classification and isinstance(output, torch.Tensor) and output.dim() == 2:
                expected = math.log(output.shape[1])
                if isinstance(self.criteria[0].fn, torch.nn.CrossEntropyLoss):
                    if abs(total.item() - expected) > 1.0:
                        print_debug("hint: an untrained classifier's cross-entropy is about ln(%d) = %.2f; %.2f suggests large initial outputs (check the initialisation or the input scale)" % (output.shape[1], expected, total.item()))
                    else:
                        print_debug("hint: the initial loss is close to ln(%d) = %.2f, as expected for an untrained classifier" % (output.shape[1], expected))
        return output, values, total

    def _input_hints(self, net, inputs, targets):
        params = list(unwrap(net).parameters())
        if isinstance(inputs, torch.Tensor) and params:
            p = params[0]
            if inputs.device != p.device:
                print_debug("hint: inputs are on %s but the model is on %s" % (inputs.device, p.device))
            if inputs.is_floating_point() and inputs.dtype != p.dtype:
                print_debug("hint: inputs are %s but the model's weights are %s: convert the data (e.g. .float())" % (inputs.dtype, p.dtype))
            if not inputs.is_floating_point():
                print_debug("hint: inputs are %s: most layers need floating point (normalise, e.g. x.float() / 255)" % inputs.dtype)
            elif inputs.numel():
                mean, std = inputs.float().mean().item(), inputs.float().std().item() if inputs.numel() > 1 else 0.0
                if abs(mean) > 5 or std > 20:
                    print_debug("hint: inputs have mean %.3g and std %.3g: normalising them (mean ~0, std ~1) usually trains better" % (mean, std))
        if isinstance(targets, torch.Tensor) and self.classification and isinstance(self.criteria[0].fn, _CLASSIFICATION_LOSSES):
            if targets.is_floating_point() and targets.dim() == 1:
                print_debug("hint: class labels are %s; CrossEntropyLoss wants integer class indices (targets.long())" % targets.dtype)

    def _check_output(self, output, targets):
        if not isinstance(output, torch.Tensor) or not isinstance(targets, torch.Tensor):
            return
        if self.classification:
            if output.dim() < 2:
                raise ShapeMismatchError(
                    "the model output has shape %s but a classifier must output scores of shape [batch, classes]; the labels have shape %s"
                    % (_shape(output), _shape(targets))
                )
            if output.shape[0] != targets.shape[0]:
                raise ShapeMismatchError(
                    "the model output has shape %s but the labels have shape %s: %d outputs for %d labels. Flatten with x.flatten(1) "
                    "(or x.view(x.size(0), -1)) so that the batch dimension is kept" % (_shape(output), _shape(targets), output.shape[0], targets.shape[0])
                )
            classes = output.shape[1]
            if not targets.is_floating_point():
                if targets.dim() != output.dim() - 1 or tuple(targets.shape[1:]) != tuple(output.shape[2:]):
                    raise ShapeMismatchError("the model output has shape %s but the labels have shape %s: class-index labels need shape %s"
                                             % (_shape(output), _shape(targets), "[%s]" % ", ".join(str(n) for n in [output.shape[0]] + list(output.shape[2:]))))
                valid = targets[targets != -100] if targets.numel() else targets
                if valid.numel():
                    high, low = int(valid.max()), int(valid.min())
                    if high >= classes:
                        raise ShapeMismatchError(
                            "the model output has shape %s (%d classes) but the labels (shape %s) go up to %d: the last layer must output at least %d values"
                            % (_shape(output), classes, _shape(targets), high, high + 1)
                        )
                    if low < 0:
                        raise ShapeMismatchError("the labels (shape %s) contain %d; class indices must be in 0..%d for an output of shape %s" % (_shape(targets), low, classes - 1, _shape(output)))
                if self.num_classes is not None and classes != self.num_classes:
                    raise ShapeMismatchError("the model output has shape %s (%d classes) but num_classes=%d" % (_shape(output), classes, self.num_classes))
            elif targets.shape != output.shape:
                raise ShapeMismatchError("the model output has shape %s but the (probability) labels have shape %s" % (_shape(output), _shape(targets)))
            return
        fn = self.criteria[0].fn
        if len(self.criteria) == 1 and isinstance(fn, _ELEMENTWISE_LOSSES) and output.shape != targets.shape:
            raise ShapeMismatchError(
                "the model output has shape %s but the targets have shape %s; %s compares them element by element (torch would "
                "broadcast them silently and train on the wrong thing)" % (_shape(output), _shape(targets), type(fn).__name__)
            )

    def _non_finite(self, loss_value, values, inputs, epoch, b, total_batches):
        parts = []
        for c, v in zip(self.criteria, values):
            try:
                parts.append("%s=%s" % (c.name, float(v)))
            except (TypeError, ValueError, RuntimeError):
                pass
        bad_inputs = ""
        if isinstance(inputs, torch.Tensor) and inputs.is_floating_point():
            if not torch.isfinite(inputs).all():
                bad_inputs = " This batch's inputs contain NaN or inf values."
            else:
                bad_inputs = " The inputs of this batch are finite."
        where = "epoch %d, batch %d%s (step %d)" % (epoch, b + 1, " of %d" % total_batches if total_batches else "", self.step + 1)
        checkpoint = ""
        if self.checkpoint_dir and os.path.exists(os.path.join(self.checkpoint_dir, "last.pt")):
            checkpoint = " The last good checkpoint is %s." % os.path.join(self.checkpoint_dir, "last.pt")
        raise NonFiniteLossError(
            "%s: the loss is %s at %s (%s); training stopped.%s Try a lower learning rate (now %s), gradient clipping "
            "(grad_clip=1.0), or check the data and the loss.%s"
            % (self.name, loss_value, where, ", ".join(parts) or "no criteria values", bad_inputs, _fmt_lr(self._lr()), checkpoint),
            epoch=epoch,
            batch=b + 1,
            step=self.step + 1,
        )

    def _prepared_loader(self):
        """The training data's loader, which fit() makes before anything reads batches."""
        loader = self._loader
        if loader is None:
            raise TrainingError("the training data loader is used before fit() made it")
        return loader

    def _reduce_device(self):
        """Where collective operations run: the training device if it is a GPU, else the CPU (gloo)."""
        device = self.device
        return device if device is not None and device.type == "cuda" else torch.device("cpu")

    def _all_reduce(self, values):
        if self.world_size == 1:
            return values
        import torch.distributed as dist

        dev = self._reduce_device()
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=dev)
        dist.all_reduce(t)
        out = t.tolist()
        return [int(round(v)) if isinstance(orig, int) else v for v, orig in zip(out, values)]

    @torch.no_grad()
    def _validate(self, epoch):
        net = unwrap(self._net)
        net.eval()
        meter = None
        n_crit = len(self.criteria)
        sums = [0.0, 0] + [0.0] * n_crit
        loader = self._val_loader
        batches = epoch_val_batches(loader, self.rank, self.world_size)
        first = True
        for batch in _fetch_all(loader, batches):
            batch = to_device(batch, self.device, self._non_blocking)
            inputs, targets = self._split(batch)
            with autocast_context(self.device, self._amp_dtype):
                output = self._forward(net, inputs)
                values, total = self._losses(output, inputs, targets)
            if first and _debug.is_debug() and self._is_main:
                print_debug("validation batch: inputs %s, output %s, loss %.5g" % (describe(inputs), describe(output), total.item()))
            first = False
            n = _batch_len(targets, inputs)
            sums[0] += total.item() * n
            sums[1] += n
            if n_crit > 1:
                for i, v in enumerate(values):
                    sums[2 + i] += float(v) * n
            if self.classification and isinstance(output, torch.Tensor) and output.dim() == 2:
                if meter is None:
                    meter = ClassificationMeter(self.num_classes or output.shape[1], device=output.device)
                meter.update(output, targets if targets.dim() == 1 else targets.argmax(1))
        net.train()
        if self.world_size > 1 and self.classification:
            import torch.distributed as dist

            k = self.num_classes or (meter.num_classes if meter else 0)
            k = int(self._all_reduce_max(k))
            if meter is None:
                meter = ClassificationMeter(k, device=self.device)
            conf = meter.confusion.to(self._reduce_device())
            dist.all_reduce(conf)
            meter.confusion = conf
        sums = self._all_reduce(sums)
        count = sums[1]
        out: dict[str, object] = {"val_loss": sums[0] / count if count else float("nan")}
        if n_crit > 1:
            for i, c in enumerate(self.criteria):
                out["val_" + c.name] = sums[2 + i] / count if count else float("nan")
        if meter is not None:
            report = meter.report(self.class_names)
            out["val_accuracy"] = report["accuracy"]
            out["val_error"] = report["error_rate"]
            out["val_per_class"] = {c["name"]: c["accuracy"] for c in report["per_class"]}
            self._last_val_report = report
        return out

    def _all_reduce_max(self, value):
        import torch.distributed as dist

        dev = self._reduce_device()
        t = torch.tensor([float(value)], device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    def _report_epoch(self, record, reporter):
        epoch = record["epoch"]
        if self.verbose:
            parts = ["%s: epoch %d/%d" % (self.name, epoch, self.epochs), "train loss %.4f" % record["train_loss"]]
            if self.classification and record.get("train_accuracy") is not None:
                parts[-1] += " acc %s" % _fmt_pct(record["train_accuracy"])
            if "val_loss" in record:
                text = "val loss %.4f" % record["val_loss"]
                if record.get("val_accuracy") is not None:
                    text += " acc %s (error %s)" % (_fmt_pct(record["val_accuracy"]), _fmt_pct(record["val_error"]))
                parts.append(text)
            parts.append("lr %s" % _fmt_lr(record["lr"]))
            rate = record.get("samples_per_s")
            parts.append("%.1f s%s" % (record["seconds"], " (%.0f samples/s)" % rate if rate else ""))
            print("  ".join(parts))
        if self.criteria_print_out is not None:
            train_values = {c.name: record.get("train_" + c.name, record["train_loss"]) for c in self.criteria}
            self.criteria_print_out(epoch, True, train_values)
            if "val_loss" in record:
                val_values = {c.name: record.get("val_" + c.name, record["val_loss"]) for c in self.criteria}
                self.criteria_print_out(epoch, False, val_values)
        elif len(self.criteria) > 1 and self.verbose:
            print("    criteria: " + ", ".join("%s %.4f" % (c.name, record["train_" + c.name]) for c in self.criteria))
        logged = {"epoch_loss": record["train_loss"]}
        if record.get("train_accuracy") is not None:
            logged["epoch_accuracy"] = record["train_accuracy"]
        for key in ("val_loss", "val_accuracy", "val_error"):
            if record.get(key) is not None and math.isfinite(record[key]):
                logged[key] = record[key]
        if record.get("lr") is not None:
            logged["lr"] = record["lr"]
        logged = {k: v for k, v in logged.items() if v is not None and math.isfinite(v)}
        reporter.epoch_end(epoch, logged, record)

    def _checkpoint(self, epoch, record):
        metric = None
        if "val_accuracy" in record and record["val_accuracy"] is not None:
            metric = record["val_accuracy"]
        elif "val_loss" in record and math.isfinite(record["val_loss"]):
            metric = -record["val_loss"]
        improved = metric is not None and (self.best_metric is None or metric > self.best_metric)
        if improved:
            self.best_metric = metric
        record["best"] = bool(improved)
        want = self.checkpoint_dir and (epoch % self.checkpoint_every == 0 or epoch == self.epochs)
        if want:
            states = self._gather_rng()
            if self._is_main:
                path = os.path.join(self.checkpoint_dir, "last.pt")
                save_checkpoint(
                    path,
                    self._net,
                    self.optimizer,
                    epoch=epoch,
                    step=self.step,
                    scaler=self.scaler,
                    scheduler=self.scheduler,
                    rng=states,
                    history=self.history,
                    seed=self.seed,
                    extra={"best_metric": self.best_metric, "name": self.name},
                )
                if improved:
                    save_checkpoint(os.path.join(self.checkpoint_dir, "best.pt"), self._net, None, epoch=epoch, step=self.step, rng=states, history=self.history, seed=self.seed)
                print_debug("checkpoint: %s (epoch %d)" % (path, epoch))
        if self.save_state is not None and self._is_main:
            self.save_state(self, epoch, record)

    def _gather_rng(self):
        state = rng_state()
        if self.world_size == 1:
            return [state]
        import torch.distributed as dist

        states = [None] * self.world_size
        dist.all_gather_object(states, state)
        return states

    # ----------------------------------------------------------------------------------------------------
    # after training

    def evaluate(self, data=None, classification=None, progress=False):
        """Evaluate the (trained) model on ``data`` (default: the validation data); a report dict."""
        from .evaluation import evaluate

        data = data if data is not None else self.val_source
        if data is None:
            raise TrainingError("evaluate: no data given and the Trainer has no val_data")
        return evaluate(
            unwrap(self.model),
            data,
            criterion=self.criteria[0].fn if len(self.criteria) == 1 and not self.custom_flow else None,
            batch_size=self.eval_batch_size,
            device=self.device or resolve_devices(self.device_spec)[0],
            classification=self.classification if classification is None else classification,
            num_classes=self.num_classes,
            class_names=self.class_names,
            amp=self.amp,
            forward=self.forward_fn,
            progress=progress,
        )

    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_loader", "_val_loader", "live_plot", "_net"):
            state[key] = None
        return state


def epoch_val_batches(loader, rank, world):
    """Validation batches of this rank: every ``world``-th sample from ``rank``, no padding (exact metrics)."""
    size = loader.source.size() if not isinstance(loader.source, IterableSource) else None
    if size is None:
        return None
    order = torch.arange(size)
    if world > 1:
        order = order[rank::world]
    return list(order.split(loader.batch_size))


def _fetch_all(loader, batches):
    if batches is None:
        yield from loader.iterate(1)
        return
    # Reuse the loader's machinery (workers, pinning) with these batches.
    original = loader.batches
    loader.batches = lambda epoch: batches
    try:
        yield from loader.iterate(1)
    finally:
        loader.batches = original


def _batch_len(targets, inputs):
    for t in (targets, inputs):
        if isinstance(t, torch.Tensor) and t.dim() > 0:
            return int(t.shape[0])
        if isinstance(t, (list, tuple)) and t:
            return _batch_len(t[0], None)
    return 1


def _len_or_none(obj):
    try:
        return len(obj)
    except TypeError:
        return None


def _isatty(stream):
    try:
        return stream.isatty()
    except Exception:
        return False


def _move_optimizer_state(optimizer, device):
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.device != device and key != "step":
                state[key] = value.to(device)


def fit(model, train_data, criterion=None, optimizer=None, **options):
    """``Trainer(model, train_data, criterion, optimizer, **options).fit()``; returns the trainer."""
    trainer = Trainer(model, train_data, criterion, optimizer, **options)
    trainer.fit()
    return trainer
