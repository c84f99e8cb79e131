"""Architectures (``resources/<name>.json``): the layer catalog read from PyTorch and the project, and shape
inference on the meta device. ``python -m deepforge.architecture`` is how the engine asks (see __main__)."""

from .catalog import catalog, custom_layers, torch_layers
from .graph import ArchitectureError, ArchitectureModule, infer, meta_device

__all__ = [
    "ArchitectureError",
    "ArchitectureModule",
    "catalog",
    "custom_layers",
    "infer",
    "meta_device",
    "torch_layers",
]
