from utils.image_data import dataset, normalize, statistics


class NormalizeImages():
    """Scales images to mean 0 and standard deviation 1. `training_data` and `testing_data` are dicts with
    `images` ([N, H, W] or [N, C, H, W], e.g. uint8), `labels` and `classes`; the statistics are those of the
    training images (pixels divided by `scale` first), and both sets are normalised with them, as float32
    [N, C, H, W]."""

    def __init__(self, scale=255.0):
        self.scale = scale

    def execute(self, training_data, testing_data):
        mean, std = statistics(training_data["images"], self.scale)
        print("pixel mean %.4f, std %.4f (%d training images)" % (mean, std, len(training_data["images"])))
        normalized_train = dataset(normalize(training_data["images"], mean, std, self.scale),
                                   training_data["labels"], training_data["classes"], mean, std)
        normalized_test = dataset(normalize(testing_data["images"], mean, std, self.scale),
                                  testing_data["labels"], testing_data["classes"], mean, std)
        return normalized_train, normalized_test
