"""Trained models are saved as their architecture (class + constructor arguments) and weights, on the CPU."""

import torch

import deepforge
from deepforge.training.serialization import dump_module, load_module

deepforge.serialization.register(torch.nn.Module, dump_module, load_module)
