import numpy as np
import torch

import deepforge.training as training
from utils.augment import FlipShift
from utils.schedules import Cosine


class Train():
    """Trains `model` (a reference: the pipeline picks an architecture of resources/, and the operation gets a
    freshly built network of it) with deepforge.training: AdamW with a cosine learning rate (the per-epoch
    custom_learning_rate hook), `validation` training images held out and checked after every epoch, a
    checkpoint per epoch in `checkpoint_dir` (`resume` continues from it), live loss and accuracy (plot,
    metrics, progress). `augment`: random horizontal flips, and shifts of up to `shift` pixels, applied per
    batch where batches are fetched. `limit` trains on the first N images only (0: all)."""

    def __init__(self, model, epochs=12, batch_size=128, learning_rate=0.002, weight_decay=0.0001, augment=False,
                 shift=0, validation=5000, limit=0, seed=0, num_workers=0, threads=2, device="auto", amp=False,
                 debug=False, checkpoint_dir="checkpoints", resume=False):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.augment = augment
        self.shift = shift
        self.validation = validation
        self.limit = limit
        self.seed = seed
        self.num_workers = num_workers
        self.threads = threads
        self.device = device
        self.amp = amp
        self.debug = debug
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume

    def execute(self, training_data):
        model = self.model
        if self.threads:
            torch.set_num_threads(self.threads)
        images, labels = training_data["images"], training_data["labels"]
        if self.limit:
            images, labels = images[:self.limit], labels[:self.limit]
        order = np.random.default_rng(self.seed).permutation(len(images))
        held_out = min(self.validation, len(images) // 5)
        val_idx, train_idx = np.sort(order[:held_out]), np.sort(order[held_out:])
        train = (images[train_idx], labels[train_idx])
        val = (images[val_idx], labels[val_idx]) if held_out else None
        background = -training_data["mean"] / training_data["std"]  # a black pixel, normalised

        trainer = training.Trainer(
            model,
            train,
            torch.nn.CrossEntropyLoss(),
            torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay),
            val_data=val,
            epochs=self.epochs,
            batch_size=self.batch_size,
            custom_learning_rate=Cosine(self.learning_rate, self.epochs),
            transform=FlipShift(background, max_shift=self.shift) if self.augment else None,
            class_names=training_data["classes"],
            seed=self.seed,
            num_workers=self.num_workers,
            device=self.device,
            amp=self.amp,
            debug=self.debug,
            checkpoint_dir=self.checkpoint_dir or None,
            resume=bool(self.resume),
        )
        trainer.fit()
        model.eval()
        return model
