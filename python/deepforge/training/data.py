"""Training data: what a Trainer accepts, how an epoch is cut into batches, and how batches are fetched.

Data can be

- an ``(inputs, targets)`` pair of tensors or numpy arrays (batches are cut with one ``index_select``);
- any map-style ``torch.utils.data.Dataset`` (items are collated with torch's ``default_collate``);
- a Viserion-style loader: an object with ``size()`` (an int, or a size whose first entry is the number of
  samples) and ``get_batch(indices, batch_num, epoch)`` returning a whole batch; or a pair of them
  ``(inputs_loader, targets_loader)`` (Viserion's ``superDataLoader(opts, xLoader, yLoader)``);
- a ``torch.utils.data.DataLoader`` (or any re-iterable of batches), used as it is.

Reproducibility. Each epoch's order is a permutation drawn from ``(seed, epoch)`` alone, and every batch is
fetched with the random number generators seeded from ``(seed, epoch, batch, rank)``: torch's CPU
generator, numpy's and Python's global ones in worker processes and in the main process (where the training
stream is saved and restored around the fetch, so loading never disturbs it), and, in every mode,
:func:`batch_rng` / :func:`batch_numpy_rng`. So the same seed gives the same batches whatever the number of
workers, and a resumed run fetches exactly what an uninterrupted one would have. Worker *threads* share the
global generators, which are therefore not reseeded there: random augmentation in threads should use
:func:`batch_rng` (or seed from the ``batch_num`` and ``epoch`` that ``get_batch`` receives, as Viserion did).
"""

import collections
import concurrent.futures
import random
import threading

import numpy as np
import torch
import torch.utils.data

from .errors import DataError

__all__ = [
    "TensorSource",
    "DatasetSource",
    "ViserionSource",
    "as_source",
    "batch_rng",
    "batch_numpy_rng",
    "derive_seed",
    "epoch_batches",
    "BatchLoader",
]

_tls = threading.local()


_M64 = (1 << 64) - 1


def _mix64(z):
    """splitmix64's finalizer: a cheap, well-mixed 64-bit hash step."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def derive_seed(*parts):
    """A 63-bit seed derived from integers (splitmix64 over the parts: stable, a few microseconds)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = _mix64(h ^ (int(part) & _M64))
    return h >> 1


def batch_rng():
    """A ``torch.Generator`` seeded for the batch being fetched (same batch, same numbers; any worker mode)."""
    seed = getattr(_tls, "seed", None)
    if seed is None:
        raise RuntimeError("batch_rng() is only available while a Trainer fetches a batch (in get_batch, __getitem__ or a transform)")
    gen = getattr(_tls, "torch_gen", None)
    if gen is None:
        gen = _tls.torch_gen = torch.Generator().manual_seed(seed)
    return gen


def batch_numpy_rng():
    """A ``numpy.random.Generator`` seeded for the batch being fetched."""
    seed = getattr(_tls, "seed", None)
    if seed is None:
        raise RuntimeError("batch_numpy_rng() is only available while a Trainer fetches a batch")
    gen = getattr(_tls, "np_gen", None)
    if gen is None:
        gen = _tls.np_gen = np.random.default_rng(seed)
    return gen


# ---------------------------------------------------------------------------------------------------------
# sources


def _as_tensor(value, what):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise DataError("%s is a numpy array of Python objects; it needs a numeric dtype" % what)
        if not value.flags.writeable:
            value = np.array(value)  # torch wants writable memory
        return torch.from_numpy(value)
    try:
        return torch.as_tensor(value)
    except Exception as exc:
        raise DataError("%s cannot be made a tensor (%s: %s)" % (what, type(value).__name__, exc)) from None


class TensorSource:
    """Samples are rows of ``inputs`` and ``targets``; a batch is one ``index_select`` of each."""

    kind = "tensors"

    def __init__(self, inputs, targets):
        self.inputs = _as_tensor(inputs, "inputs")
        self.targets = _as_tensor(targets, "targets")
        if self.inputs.dim() == 0 or self.targets.dim() == 0:
            raise DataError("inputs and targets must have a first (sample) dimension")
        if len(self.inputs) != len(self.targets):
            raise DataError(
                "inputs and targets have different numbers of samples: %d inputs %s, %d targets %s"
                % (len(self.inputs), list(self.inputs.shape), len(self.targets), list(self.targets.shape))
            )

    def size(self):
        return len(self.inputs)

    def fetch(self, indices, batch_num, epoch):
        return self.inputs.index_select(0, indices), self.targets.index_select(0, indices)

    def describe(self):
        return "inputs %s %s, targets %s %s" % (
            str(self.inputs.dtype).replace("torch.", ""),
            list(self.inputs.shape),
            str(self.targets.dtype).replace("torch.", ""),
            list(self.targets.shape),
        )


class DatasetSource:
    """A map-style torch Dataset: a batch is ``collate_fn([dataset[i] for i in indices])``."""

    kind = "dataset"

    def __init__(self, dataset, collate_fn=None):
        self.dataset = dataset
        self.collate_fn = collate_fn or torch.utils.data.default_collate
        try:
            self._size = len(dataset)
        except TypeError:
            raise DataError("%s has no len(); a map-style Dataset needs __len__ and __getitem__" % type(dataset).__name__) from None

    def size(self):
        return self._size

    def fetch(self, indices, batch_num, epoch):
        return self.collate_fn([self.dataset[i] for i in indices.tolist()])

    def describe(self):
        return "%s with %d samples" % (type(self.dataset).__name__, self._size)


def _viserion_size(loader):
    size = loader.size()
    if isinstance(size, torch.Tensor):
        size = size.tolist()
    if isinstance(size, (list, tuple, torch.Size)):
        if not size:
            raise DataError("%s.size() returned an empty size" % type(loader).__name__)
        size = size[0]
    try:
        return int(size)
    except (TypeError, ValueError):
        raise DataError("%s.size() must return the number of samples (or a size starting with it), got %r" % (type(loader).__name__, size)) from None


def _viserion_fetch(loader, indices, batch_num, epoch):
    if hasattr(loader, "get_batch"):
        return loader.get_batch(indices, batch_num, epoch)
    return loader.getNarrowChunkNonContiguous(1, indices, batch_num, epoch)


def is_viserion_loader(obj):
    return callable(getattr(obj, "size", None)) and (
        callable(getattr(obj, "get_batch", None)) or callable(getattr(obj, "getNarrowChunkNonContiguous", None))
    )


class ViserionSource:
    """Viserion-style loaders: ``size()`` and ``get_batch(indices, batch_num, epoch)`` returning a batch.

    With one loader, ``get_batch`` returns ``(inputs, targets)``; with two (inputs and targets loaders, as
    Viserion's ``superDataLoader(opts, xLoader, yLoader)``) each returns its half. ``indices`` is a 1-D
    ``torch.LongTensor``; ``batch_num`` counts from 0 within the epoch, ``epoch`` from 1.
    """

    kind = "viserion"

    def __init__(self, loader, targets_loader=None):
        self.loader = loader
        self.targets_loader = targets_loader
        self._size = _viserion_size(loader)
        if targets_loader is not None:
            other = _viserion_size(targets_loader)
            if other != self._size:
                raise DataError(
                    "the inputs loader %s has %d samples but the targets loader %s has %d"
                    % (type(loader).__name__, self._size, type(targets_loader).__name__, other)
                )

    def size(self):
        return self._size

    def fetch(self, indices, batch_num, epoch):
        x = _viserion_fetch(self.loader, indices, batch_num, epoch)
        if self.targets_loader is None:
            return x
        return x, _viserion_fetch(self.targets_loader, indices, batch_num, epoch)

    def describe(self):
        names = type(self.loader).__name__
        if self.targets_loader is not None:
            names += " + " + type(self.targets_loader).__name__
        return "%s with %d samples" % (names, self._size)


class IterableSource:
    """A DataLoader (or any re-iterable of batches) used as it is: its own order, workers and seeding."""

    kind = "iterable"

    def __init__(self, iterable):
        self.iterable = iterable

    def size(self):
        dataset = getattr(self.iterable, "dataset", None)
        try:
            return len(dataset) if dataset is not None else None
        except TypeError:
            return None

    def describe(self):
        return "%s (batches as it makes them)" % type(self.iterable).__name__


def _array_like(x):
    return isinstance(x, (torch.Tensor, np.ndarray))


def as_source(data, what="train_data"):
    """The source for any accepted form of data (see the module documentation)."""
    if isinstance(data, (TensorSource, DatasetSource, ViserionSource, IterableSource)):
        return data
    if isinstance(data, torch.utils.data.DataLoader):
        return IterableSource(data)
    if is_viserion_loader(data):
        return ViserionSource(data)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        a, b = data
        if is_viserion_loader(a) and is_viserion_loader(b):
            return ViserionSource(a, b)
        if _array_like(a) and _array_like(b):
            return TensorSource(a, b)
    if isinstance(data, dict):
        raise DataError(
            "%s is a dict (keys: %s); pass (inputs, targets), e.g. (data['images'], data['labels'])"
            % (what, ", ".join(map(str, list(data)[:8])))
        )
    if isinstance(data, torch.utils.data.IterableDataset):
        raise DataError("%s is an IterableDataset; wrap it in a torch DataLoader and pass that" % what)
    if callable(getattr(data, "__getitem__", None)) and callable(getattr(data, "__len__", None)):
        return DatasetSource(data)
    raise DataError(
        "%s must be a torch Dataset, a DataLoader, an (inputs, targets) pair of tensors or arrays, or a "
        "Viserion-style loader with size() and get_batch(indices, batch_num, epoch); got %s"
        % (what, type(data).__name__)
    )


# ---------------------------------------------------------------------------------------------------------
# batches of an epoch


def epoch_batches(size, batch_size, shuffle=True, seed=0, epoch=1, rank=0, world=1, drop_last=False):
    """The index tensors of one epoch's batches, for one rank of ``world``.

    The order depends on ``(seed, epoch)`` only. With several ranks the permutation is padded (wrapping
    around, as torch's DistributedSampler does) to a multiple of ``world`` and rank ``r`` takes every
    ``world``-th index from ``r``: each rank has the same number of batches.
    """
    if size <= 0:
        return []
    if shuffle:
        gen = torch.Generator().manual_seed(derive_seed(seed, epoch, 0x5EED))
        order = torch.randperm(size, generator=gen)
    else:
        order = torch.arange(size)
    if world > 1:
        padded = -(-size // world) * world
        if padded > size:
            order = torch.cat([order, order[: padded - size]])
        order = order[rank::world]
    batches = list(order.split(batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size and len(batches) > 1:
        batches.pop()
    return batches


class _Fetcher(torch.utils.data.Dataset):
    """Fetches one batch job ``(epoch, batch_num, indices)`` with its generators seeded. Picklable."""

    def __init__(self, source, transform, seed, rank):
        self.source = source
        self.transform = transform
        self.seed = seed
        self.rank = rank
        self.seed_globals = True
        self.restore_globals = False

    def __getitem__(self, job):
        epoch, batch_num, indices = job
        if not isinstance(indices, torch.Tensor):
            indices = torch.as_tensor(indices, dtype=torch.int64)
        seed = derive_seed(self.seed, epoch, batch_num, self.rank, 1)
        _tls.seed, _tls.torch_gen, _tls.np_gen = seed, None, None
        saved = None
        if self.seed_globals:
            if self.restore_globals:
                saved = (torch.default_generator.get_state(), np.random.get_state(), random.getstate())
            torch.default_generator.manual_seed(seed)
            np.random.seed(seed & 0xFFFFFFFF)
            random.seed(seed)
        try:
            batch = self.source.fetch(indices, batch_num, epoch)
            if self.transform is not None:
                batch = self.transform(batch)
            return batch
        finally:
            _tls.seed = _tls.torch_gen = _tls.np_gen = None
            if saved is not None:
                torch.default_generator.set_state(saved[0])
                np.random.set_state(saved[1])
                random.setstate(saved[2])

    def __len__(self):  # pragma: no cover - the sampler drives the DataLoader
        return self.source.size()


class _JobSampler(torch.utils.data.Sampler):
    def __init__(self):
        self.jobs = []

    def __iter__(self):
        return iter(self.jobs)

    def __len__(self):
        return len(self.jobs)


def _worker_init(_worker_id):
    # One thread per worker process: the trainer's own threads do the heavy math.
    torch.set_num_threads(1)


class BatchLoader:
    """Cuts epochs into batches and fetches them: in the main process, in worker processes (a torch
    DataLoader over batch jobs) or in worker threads, with reproducible seeding (module documentation)."""

    def __init__(
        self,
        source,
        batch_size,
        shuffle=True,
        seed=0,
        rank=0,
        world=1,
        drop_last=False,
        num_workers=0,
        worker_type="process",
        pin_memory=False,
        prefetch_factor=2,
        persistent_workers=True,
        transform=None,
        multiprocessing_context=None,
    ):
        if worker_type not in ("process", "thread"):
            raise ValueError("worker_type must be 'process' or 'thread', got %r" % (worker_type,))
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers must be an integer >= 0, got %r" % (num_workers,))
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be an integer >= 1, got %r" % (batch_size,))
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world = world
        self.drop_last = drop_last
        self.num_workers = num_workers
        self.worker_type = worker_type
        self.pin_memory = pin_memory
        self.prefetch_factor = max(1, int(prefetch_factor))
        self.persistent_workers = persistent_workers
        self.transform = transform
        self.multiprocessing_context = multiprocessing_context
        self._fetcher = _Fetcher(source, transform, seed, rank) if not isinstance(source, IterableSource) else None
        # Cutting tensors draws no random numbers: the generators need no seeding then (the fast path).
        self._needs_rng = transform is not None or not isinstance(source, TensorSource)
        self._loader: "torch.utils.data.DataLoader | None" = None
        self._sampler: "_JobSampler | None" = None
        self._pool: "concurrent.futures.ThreadPoolExecutor | None" = None

    def settings(self):
        """What the loader does, for printouts and benchmark reports."""
        if isinstance(self.source, IterableSource):
            return {"source": self.source.describe()}
        return {
            "source": self.source.kind,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "num_workers": self.num_workers,
            "worker_type": self.worker_type if self.num_workers else "main process",
            "pin_memory": self.pin_memory,
            "prefetch_factor": self.prefetch_factor if self.num_workers else None,
            "persistent_workers": self.persistent_workers if self.num_workers and self.worker_type == "process" else None,
        }

    def batches(self, epoch):
        return epoch_batches(
            self.source.size(), self.batch_size, self.shuffle, self.seed, epoch, self.rank, self.world, self.drop_last
        )

    def __len__(self):
        if isinstance(self.source, IterableSource):
            return len(self.source.iterable)
        return len(self.batches(1))

    def iterate(self, epoch):
        """The batches of ``epoch`` (from 1), in order."""
        if isinstance(self.source, IterableSource):
            sampler = getattr(self.source.iterable, "sampler", None)
            if sampler is not None and hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            yield from self.source.iterable
            return
        fetcher = self._fetcher
        assert fetcher is not None  # only an IterableSource has none
        jobs = [(epoch, b, idx) for b, idx in enumerate(self.batches(epoch))]
        if self.num_workers == 0:
            fetcher.seed_globals = self._needs_rng
            fetcher.restore_globals = True
            for job in jobs:
                batch = fetcher[job]
                yield _pin(batch) if self.pin_memory else batch
        elif self.worker_type == "thread":
            yield from self._iterate_threads(fetcher, jobs)
        else:
            yield from self._iterate_processes(fetcher, jobs)

    def _iterate_threads(self, fetcher, jobs):
        fetcher.seed_globals = False  # shared by the threads: see batch_rng()
        pool = self._pool
        if pool is None:
            pool = self._pool = concurrent.futures.ThreadPoolExecutor(
                self.num_workers, thread_name_prefix="deepforge-loader"
            )
        window = self.num_workers * self.prefetch_factor
        pending: "collections.deque[concurrent.futures.Future]" = collections.deque()
        it = iter(jobs)
        try:
            for job in it:
                pending.append(pool.submit(fetcher.__getitem__, job))
                if len(pending) >= window:
                    break
            while pending:
                batch = pending.popleft().result()
                for job in it:
                    pending.append(pool.submit(fetcher.__getitem__, job))
                    break
                yield _pin(batch) if self.pin_memory else batch
        finally:
            for future in pending:
                future.cancel()

    def _iterate_processes(self, fetcher, jobs):
        loader, sampler = self._loader, self._sampler
        if loader is None or sampler is None:
            fetcher.seed_globals = self._needs_rng
            fetcher.restore_globals = False
            sampler = self._sampler = _JobSampler()
            loader = self._loader = torch.utils.data.DataLoader(
                fetcher,
                batch_size=None,
                sampler=self._sampler,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                prefetch_factor=self.prefetch_factor,
                persistent_workers=self.persistent_workers,
                worker_init_fn=_worker_init,
                # A generator of its own: creating worker iterators must not consume the training RNG.
                generator=torch.Generator().manual_seed(self.seed & 0xFFFFFFFFFFFF),
                multiprocessing_context=self.multiprocessing_context,
            )
        # Indices travel to the workers as lists: a tensor would be moved to shared memory for each batch.
        sampler.jobs = [(epoch, b, idx.tolist()) for epoch, b, idx in jobs]
        yield from loader

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._loader is not None:
            iterator = getattr(self._loader, "_iterator", None)
            if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()
            self._loader = None


def _pin(batch):
    from .device import pin

    return pin(batch)
