import numpy as np

class RandomImages():
    def __init__(self, count=9, size=28, channels=1, seed=0):
        self.count = count
        self.size = size
        self.channels = channels
        self.seed = seed

    def execute(self):
        rng = np.random.default_rng(self.seed)
        shape: tuple[int, ...] = (self.count, self.size, self.size)
        if self.channels > 1:
            shape = shape + (self.channels,)
        images = rng.random(shape).astype(np.float32) * 0.6
        # A bright square in each image so the pictures are not pure noise.
        for i in range(self.count):
            top = (i * 3) % (self.size - 8)
            images[i, top:top + 8, top:top + 8] = 1.0
        return images
