import matplotlib.pyplot as plt
import torch

import deepforge
import deepforge.training as training


class EvaluateClassifier():
    """Accuracy of `model` on `testing_data` (normalised like its training data), overall and per class, logged
    as metrics, with a plot of the confusion matrix; returns the report."""

    def __init__(self, batch_size=500, device="auto"):
        self.batch_size = batch_size
        self.device = device

    def execute(self, testing_data, model):
        report = training.evaluate(
            model,
            (testing_data["images"], testing_data["labels"]),
            criterion=torch.nn.CrossEntropyLoss(),
            batch_size=self.batch_size,
            device=self.device,
            class_names=testing_data["classes"],
        )
        print(training.format_report(report))
        deepforge.log(test_accuracy=report["accuracy"], test_loss=report["loss"])
        training.plot_confusion_matrix(report, title="Test set")
        plt.show()
        return report
