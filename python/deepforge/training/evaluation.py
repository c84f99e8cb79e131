"""Evaluation: loss, accuracy, error rate, per-class accuracy and the confusion matrix of a classifier."""

import math

import torch

from ._reporting import make_bar

__all__ = ["ClassificationMeter", "evaluate", "format_report", "plot_confusion_matrix"]


class ClassificationMeter:
    """Accumulates a confusion matrix (rows: true class, columns: predicted class) batch by batch."""

    def __init__(self, num_classes, device="cpu"):
        self.num_classes = int(num_classes)
        self.confusion = torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64, device=device)

    def update(self, output, targets):
        """``output``: scores ``[batch, classes]``; ``targets``: class indices ``[batch]``."""
        preds = output.detach().argmax(1)
        targets = targets.detach().to(preds.device).long().view(-1)
        keep = (targets >= 0) & (targets < self.num_classes)  # ignore_index (-100) and friends
        k = self.num_classes
        if self.confusion.device != preds.device:
            self.confusion = self.confusion.to(preds.device)
        self.confusion += torch.bincount(targets[keep] * k + preds[keep], minlength=k * k).view(k, k)
        return int((preds[keep] == targets[keep]).sum())

    @property
    def count(self):
        return int(self.confusion.sum())

    @property
    def correct(self):
        return int(self.confusion.diag().sum())

    def report(self, class_names=None):
        conf = self.confusion.cpu()
        count, correct = int(conf.sum()), int(conf.diag().sum())
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        if len(names) < self.num_classes:
            names += [str(i) for i in range(len(names), self.num_classes)]
        per_class = []
        for i in range(self.num_classes):
            n = int(conf[i].sum())
            c = int(conf[i, i])
            per_class.append({"index": i, "name": names[i], "count": n, "correct": c, "accuracy": c / n if n else None})
        accuracy = correct / count if count else float("nan")
        return {
            "count": count,
            "correct": correct,
            "accuracy": accuracy,
            "error_rate": 1.0 - accuracy if count else float("nan"),
            "per_class": per_class,
            "confusion": conf.tolist(),
            "class_names": names[: self.num_classes],
        }


@torch.no_grad()
def evaluate(
    model,
    data,
    criterion=None,
    batch_size=256,
    device="auto",
    classification=True,
    num_classes=None,
    class_names=None,
    num_workers=0,
    amp=False,
    forward=None,
    progress=False,
):
    """Run ``model`` over ``data`` (any form a Trainer accepts) in eval mode; returns a report dict:

    ``count``, ``loss`` (mean, when a criterion is given) and, for classification, ``correct``,
    ``accuracy``, ``error_rate``, ``per_class`` (name, count, correct, accuracy), ``confusion``.
    The model is put back in the mode it was in.
    """
    from .checkpoint import unwrap
    from .data import BatchLoader, as_source
    from .device import amp_dtype, autocast_context, resolve_device, to_device

    dev = resolve_device(device)
    net = unwrap(model)
    moved_from = None
    params = list(net.parameters())
    if params and params[0].device != dev:
        moved_from = params[0].device
        net.to(dev)
    was_training = net.training
    net.eval()
    source = as_source(data, "data")
    loader = BatchLoader(source, batch_size, shuffle=False, num_workers=num_workers, pin_memory=dev.type == "cuda")
    dtype = amp_dtype(amp, dev)
    meter = None
    loss_sum, count = 0.0, 0
    bar = None
    if progress:
        bar = make_bar(total=len(loader), desc="evaluate")
    try:
        for batch in loader.iterate(1):
            batch = to_device(batch, dev, non_blocking=dev.type == "cuda")
            inputs, targets = batch[0], batch[1]
            with autocast_context(dev, dtype):
                output = forward(net, inputs) if forward is not None else net(inputs)
                if criterion is not None:
                    loss = criterion(output, targets)
            n = len(targets)
            count += n
            if criterion is not None:
                loss_sum += float(loss) * n
            if classification and output.dim() == 2:
                if meter is None:
                    meter = ClassificationMeter(num_classes or output.shape[1], device=output.device)
                meter.update(output, targets)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        loader.close()
        net.train(was_training)
        if moved_from is not None:
            net.to(moved_from)
    report = meter.report(class_names) if meter is not None else {"count": count}
    report["count"] = count
    if criterion is not None:
        report["loss"] = loss_sum / count if count else float("nan")
    return report


def _pct(value, digits):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return "%.*f %%" % (digits, 100.0 * value)


def format_report(report, unit="images"):
    """The test console of DeepForge's First Steps (Fig. 3.7): overall accuracy, then one line per class::

        correctly classified 9215 of 10000 images (92.15 %)
        T-shirt/top  88.1 %
        Trouser      98.3 %
    """
    lines = [
        "correctly classified %d of %d %s (%s)" % (report["correct"], report["count"], unit, _pct(report["accuracy"], 2))
    ]
    per_class = report.get("per_class") or []
    width = max((len(c["name"]) for c in per_class), default=0)
    for c in per_class:
        lines.append("%-*s  %s" % (width, c["name"], _pct(c["accuracy"], 1).rjust(7)))
    return "\n".join(lines)


def plot_confusion_matrix(report, title="Confusion matrix", normalize=True, figure=None):
    """An ``imshow`` of the confusion matrix of ``report`` (rows: true class, columns: predicted), with the
    class names as tick labels and each cell's value written in it. Returns the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    conf = np.asarray(report["confusion"], dtype=np.float64)
    names = report.get("class_names") or [str(i) for i in range(len(conf))]
    shown = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1) if normalize else conf
    fig = figure if figure is not None else plt.figure(figsize=(7.5, 6.5))
    fig.clf()
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = report.get("accuracy")
    ax.set_title("%s (accuracy %s)" % (title, _pct(acc, 2)) if acc is not None else title)
    for i in range(len(conf)):
        for j in range(len(conf)):
            value = shown[i, j]
            if conf[i, j] == 0:
                continue
            text = ("%.2f" % value) if normalize else ("%d" % conf[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize=6, color="white" if value > 0.5 * shown.max() else "black")
    fig.tight_layout()
    return fig
