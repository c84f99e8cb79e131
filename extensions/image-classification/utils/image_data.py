"""Image-classification data as the extension's operations pass it between them: a dict with ``images`` (float32
[N, C, H, W] once normalised, uint8 [N, H, W] or [N, C, H, W] before), ``labels`` (int64 [N]) and ``classes``
(the class names), plus the ``mean`` and ``std`` the images were normalised with."""

import numpy as np


def as_nchw(images):
    """[N, H, W] → [N, 1, H, W]; [N, C, H, W] stays as it is."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images[:, None, :, :]
    if images.ndim != 4:
        raise ValueError("images must be [N, H, W] or [N, C, H, W], not %r" % (images.shape,))
    return images


def statistics(images, scale):
    """Mean and standard deviation of the pixels scaled to [0, 1]."""
    pixels = np.asarray(images, dtype=np.float64) / scale
    std = float(pixels.std())
    return float(pixels.mean()), std if std > 0 else 1.0


def normalize(images, mean, std, scale):
    """Pixels scaled by ``scale``, then ``mean`` removed and divided by ``std``: float32 [N, C, H, W]."""
    scaled = as_nchw(images).astype(np.float32) / np.float32(scale)
    return (scaled - np.float32(mean)) / np.float32(std)


def dataset(images, labels, classes, mean=0.0, std=1.0):
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(images):
        raise ValueError("%d images but %d labels" % (len(images), len(labels)))
    return {"images": images, "labels": labels, "classes": list(classes), "mean": mean, "std": std}
