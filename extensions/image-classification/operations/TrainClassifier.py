import torch

import deepforge.training as training


class TrainClassifier():
    """Trains `model` (a reference: the pipeline picks an architecture, e.g. SmallCNN) to classify the images of
    `training_data` (normalised: NormalizeImages) with AdamW and cross-entropy, `validation` images held out and
    checked after every epoch; loss and accuracy are plotted live. `limit` trains on the first N images (0: all)."""

    def __init__(self, model, epochs=5, batch_size=128, learning_rate=0.002, validation=1000, limit=0, seed=0,
                 device="auto"):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.limit = limit
        self.seed = seed
        self.device = device

    def execute(self, training_data):
        model = self.model
        images, labels = training_data["images"], training_data["labels"]
        if self.limit:
            images, labels = images[:self.limit], labels[:self.limit]
        held_out = min(self.validation, len(images) // 5)
        train = (images[held_out:], labels[held_out:])
        val = (images[:held_out], labels[:held_out]) if held_out else None
        trainer = training.Trainer(
            model,
            train,
            torch.nn.CrossEntropyLoss(),
            torch.optim.AdamW(model.parameters(), lr=self.learning_rate),
            val_data=val,
            epochs=self.epochs,
            batch_size=self.batch_size,
            class_names=training_data["classes"],
            seed=self.seed,
            device=self.device,
        )
        trainer.fit()
        model.eval()
        return model
