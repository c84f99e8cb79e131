"""deepforge.training: Viserion's training framework for PyTorch.

Give it data, a model, a criterion (or several, with an optional custom flow) and an optimizer; it takes
care of parallel data loading with reproducible seeding, CPU↔GPU transfers, several GPUs
(DistributedDataParallel), mixed precision, a debug mode, validation and classification error rates,
checkpoints and resume, and live metrics, progress and plots in DeepForge (plain stdout elsewhere)::

    import torch
    from deepforge.training import Trainer

    trainer = Trainer(model, (images, labels), torch.nn.CrossEntropyLoss(),
                      torch.optim.Adam(model.parameters(), lr=1e-3),
                      val_data=(val_images, val_labels), epochs=10, batch_size=128)
    history = trainer.fit()

Nothing here changes how PyTorch code is written: models, losses and optimizers are plain torch objects.
See docs/training.md.
"""

import torch as _torch  # noqa: F401  (fails early, and clearly, without torch)

from ._debug import is_debug, print_debug, print_error, print_warning, set_debug
from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .config import CheckpointConfig, DataConfig, DeviceConfig, LossConfig, OptimConfig, ReportingConfig
from .data import BatchLoader, DatasetSource, TensorSource, ViserionSource, batch_numpy_rng, batch_rng
from .device import resolve_device, to_device, tune_allocator
from .errors import (
    CheckpointMismatchError,
    DataError,
    DeviceUnavailableError,
    NonFiniteLossError,
    ShapeMismatchError,
    TrainingError,
)
from .evaluation import evaluate, format_report, plot_confusion_matrix
from .serialization import configurable
from .trainer import Trainer, fit


def seed_everything(seed):
    """Seed torch (CPU and CUDA), numpy and Python's ``random``: call it before building a model."""
    import random

    import numpy as np

    _torch.manual_seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    random.seed(seed)


__all__ = [
    "Trainer",
    "fit",
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "DeviceConfig",
    "CheckpointConfig",
    "ReportingConfig",
    "evaluate",
    "format_report",
    "plot_confusion_matrix",
    "save_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "seed_everything",
    "configurable",
    "resolve_device",
    "to_device",
    "tune_allocator",
    "batch_rng",
    "batch_numpy_rng",
    "BatchLoader",
    "TensorSource",
    "DatasetSource",
    "ViserionSource",
    "print_debug",
    "print_warning",
    "print_error",
    "set_debug",
    "is_debug",
    "TrainingError",
    "DataError",
    "ShapeMismatchError",
    "NonFiniteLossError",
    "CheckpointMismatchError",
    "DeviceUnavailableError",
]
