import os

from deepforge.training.datasets import load_fashion_mnist

from utils.image_data import dataset


class LoadFashionMNIST():
    """Fashion-MNIST as uint8 images [N, 28, 28] with int64 labels and the class names: from `dataset_dir`
    (Debian: apt-get install dataset-fashion-mnist), else `download_dir`, else downloaded from `url` into
    `download_dir`; the files are checked. `train_limit` / `test_limit` keep the first N images (0: all)."""

    def __init__(self, dataset_dir="/usr/share/datasets/fashion-mnist",
                 download_dir="~/.cache/deepforge/fashion-mnist",
                 url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 train_limit=0, test_limit=0):
        self.dataset_dir = os.path.expanduser(dataset_dir) if dataset_dir else None
        self.download_dir = os.path.expanduser(download_dir) if download_dir else None
        self.url = url
        self.train_limit = train_limit
        self.test_limit = test_limit

    def execute(self):
        data = load_fashion_mnist(self.dataset_dir, self.download_dir, self.url or None)
        train_n = self.train_limit or len(data["train_images"])
        test_n = self.test_limit or len(data["test_images"])
        training_data = dataset(data["train_images"][:train_n], data["train_labels"][:train_n], data["classes"])
        testing_data = dataset(data["test_images"][:test_n], data["test_labels"][:test_n], data["classes"])
        print("train: %d images, test: %d images, %d classes"
              % (len(training_data["images"]), len(testing_data["images"]), len(data["classes"])))
        return training_data, testing_data
