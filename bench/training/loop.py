"""deepforge.training's loop against a hand-written PyTorch loop: same model, data, batch size, optimizer.

Run by bench/training/run.mjs (``node bench/training/run.mjs``), which prints the table and writes it to
docs/benchmarks.md; this script prints one JSON object on stdout. Each round is one short epoch of each
loop over the same images from the same initial weights, the two a couple of seconds apart, alternating
which goes first: on a machine shared with other work the load changes over seconds to minutes, so the
ratio of a pair (library images/s ÷ hand-written images/s) compares like with like, and the median over
many pairs is one result. glibc's malloc is told to keep freed memory (``tune_allocator``), in this process, so
for both loops: otherwise each step page-faults its activations back and step times swing with the
allocator's state. The other, steadier result: both loops call the same timed loss once per step, so
the intervals between calls are whole steps; the median step time of each loop over all rounds gives images/s
= batch size ÷ median step time (a burst of other work on the machine moves a few steps, not the median).
The ratio of the best round of each is reported too.

Two data-loading setups, each used by both loops:

- ``tensors``: the images are one tensor in memory; batches are cut in the main process (the library's
  ``(inputs, targets)`` form; the hand-written loop indexes a ``randperm`` the same way);
- ``dataset``: a map-style Dataset read item by item, collated, in one worker process (the library's
  ``num_workers=1``; the hand-written loop a ``torch.utils.data.DataLoader(num_workers=1)``).

Besides images per second of wall time, each loop's images per CPU second of this process
(``time.process_time``; the library's includes its setup) are reported: on a machine shared with other work,
wall time swings with their load, CPU time much less.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "examples", "fashion-mnist"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from deepforge.training import Trainer, tune_allocator  # noqa: E402
from deepforge.training.datasets import DEFAULT_DATASET_DIR, load_fashion_mnist  # noqa: E402
from utils.models import FashionCNN  # noqa: E402  (the example's model)


class ImageDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


def load_images(n):
    try:
        data = load_fashion_mnist(DEFAULT_DATASET_DIR, None, None)
        pixels = data["train_images"][:n].astype(np.float32) / 255.0
        images = torch.from_numpy(((pixels - 0.2860) / 0.3530)[:, None])
        labels = torch.from_numpy(data["train_labels"][:n])
        return images, labels, "Fashion-MNIST (first %d training images)" % n
    except Exception:
        g = torch.Generator().manual_seed(0)
        return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g), "random 28×28 images (%d)" % n


class TimedLoss:
    """CrossEntropyLoss that notes when it is called: once per step in both loops, so the intervals between
    calls are whole training steps (fetch, forward, loss, backward, optimizer step, bookkeeping)."""

    def __init__(self):
        self.loss = nn.CrossEntropyLoss()
        self.stamps = []

    def __call__(self, output, target):
        self.stamps.append(time.perf_counter())
        return self.loss(output, target)

    def steps(self):
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def make_optimizer(model, lr):
    return torch.optim.AdamW(model.parameters(), lr=lr)


def hand_written(model, images, labels, batch_size, setup, seed):
    """The loop one writes by hand: shuffle, batches, forward, loss, backward, step; loss and accuracy kept."""
    criterion = TimedLoss()
    optimizer = make_optimizer(model, 1e-3)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    batches: "Iterator[tuple[torch.Tensor, torch.Tensor]]"
    if setup == "tensors":
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        batches = ((images.index_select(0, idx), labels.index_select(0, idx)) for idx in order.split(batch_size))
    else:
        loader = torch.utils.data.DataLoader(
            ImageDataset(images, labels),
            batch_size=batch_size,
            shuffle=True,
            num_workers=1,
            generator=torch.Generator().manual_seed(seed),
        )
        batches = iter(loader)
    start, cpu_start = time.perf_counter(), time.process_time()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        output = model(x)
        loss = criterion(output, y)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(y)
        correct += int((output.argmax(1) == y).sum())
        seen += len(y)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return seen / elapsed, seen / cpu, criterion.steps()


def library(model, images, labels, batch_size, setup, seed):
    data = (images, labels) if setup == "tensors" else ImageDataset(images, labels)
    criterion = TimedLoss()
    trainer = Trainer(
        model,
        data,
        criterion,
        make_optimizer(model, 1e-3),
        classification=True,
        epochs=1,
        batch_size=batch_size,
        seed=seed,
        num_workers=0 if setup == "tensors" else 1,
        device="cpu",
        verbose=False,
        progress=False,
        plot=False,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    history = trainer.fit()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    trainer.settings = trainer._loader.settings()
    return history[0]["samples_per_s"], len(images) / cpu, criterion.steps(), elapsed, trainer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1920)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--setups", default="tensors,dataset")
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc settings alone")
    parser.add_argument("--no-warmup", action="store_true", help="no warm-up round (the smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # For both loops alike: without it, every step page-faults its activations back from the kernel, and the
    # step times swing with the allocator's state (see deepforge.training.device.tune_allocator).
    if args.default_malloc:
        malloc = "glibc defaults"
    else:
        malloc = "tuned (tune_allocator)" if tune_allocator() else "defaults (not glibc)"
    images, labels, what = load_images(args.images)
    torch.manual_seed(0)
    initial = FashionCNN().state_dict()

    def fresh():
        model = FashionCNN()
        model.load_state_dict(initial)
        return model

    results = {}
    for setup in args.setups.split(","):
        # Warm-up (allocator, oneDNN kernels, worker start) for both, not measured.
        if not args.no_warmup:
            hand_written(fresh(), images[:1024], labels[:1024], args.batch_size, setup, 0)
            library(fresh(), images[:1024], labels[:1024], args.batch_size, setup, 0)
        rounds = []
        settings = None
        steps: dict[str, list] = {"library": [], "hand": []}
        for r in range(args.rounds):
            order = ("library", "hand") if r % 2 == 0 else ("hand", "library")
            row = {}
            for which in order:
                torch.manual_seed(r)
                if which == "library":
                    rate, cpu_rate, times, wall, trainer = library(fresh(), images, labels, args.batch_size, setup, r)
                    steps["library"] += times
                    row["library"] = rate
                    row["library_cpu"] = cpu_rate
                    row["library_wall_rate"] = len(images) / wall
                    settings = trainer.settings
                else:
                    rate, cpu_rate, times = hand_written(fresh(), images, labels, args.batch_size, setup, r)
                    steps["hand"] += times
                    row["hand"] = rate
                    row["hand_cpu"] = cpu_rate
            row["ratio"] = row["library"] / row["hand"]
            row["cpu_ratio"] = row["library_cpu"] / row["hand_cpu"]
            rounds.append(row)
            print(
                "%s round %d: library %.0f img/s (incl. setup %.0f), hand-written %.0f img/s, ratio %.3f; "
                "per CPU second of this process: ratio %.3f"
                % (setup, r + 1, row["library"], row["library_wall_rate"], row["hand"], row["ratio"], row["cpu_ratio"]),
                file=sys.stderr,
            )
        ratios = [r["ratio"] for r in rounds]
        step_library = statistics.median(steps["library"])
        step_hand = statistics.median(steps["hand"])
        results[setup] = {
            "rounds": rounds,
            "steps": len(steps["library"]),
            "step_library_ms": 1000 * step_library,
            "step_hand_ms": 1000 * step_hand,
            "step_ratio": step_hand / step_library,
            "step_library_rate": args.batch_size / step_library,
            "step_hand_rate": args.batch_size / step_hand,
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "best_ratio": max(r["library"] for r in rounds) / max(r["hand"] for r in rounds),
            "cpu_ratio_median": statistics.median(r["cpu_ratio"] for r in rounds),
            "cpu_ratio_min": min(r["cpu_ratio"] for r in rounds),
            "cpu_ratio_max": max(r["cpu_ratio"] for r in rounds),
            "library_median": statistics.median(r["library"] for r in rounds),
            "library_wall_median": statistics.median(r["library_wall_rate"] for r in rounds),
            "hand_median": statistics.median(r["hand"] for r in rounds),
            "library_loader": settings,
        }
    print(json.dumps({
        "data": what,
        "images": len(images),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "malloc": malloc,
        "model": "FashionCNN (examples/fashion-mnist/utils/models.py), %d parameters" % sum(p.numel() for p in FashionCNN().parameters()),
        "optimizer": "AdamW(lr=1e-3)",
        "results": results,
    }))


if __name__ == "__main__":
    main()
