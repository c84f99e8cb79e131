"""IDX files (the MNIST family's format) and Fashion-MNIST: found on disk or downloaded, always checked.

IDX: two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dimensions, each dimension as a big-endian int32, then the data
(big-endian). Files may be gzip-compressed (``.gz``). :func:`read_idx` checks every part of that and
names the file and what is wrong in a :class:`~deepforge.training.errors.DataError`.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib

import numpy as np

from .errors import DataError

__all__ = [
    "read_idx",
    "find_or_download",
    "load_fashion_mnist",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_URL",
    "DEFAULT_DATASET_DIR",
]

_TYPES: "dict[int, tuple[np.dtype, str]]" = {
    0x08: (np.dtype(np.uint8), "unsigned byte"),
    0x09: (np.dtype(np.int8), "signed byte"),
    0x0B: (np.dtype(">i2"), "int16"),
    0x0C: (np.dtype(">i4"), "int32"),
    0x0D: (np.dtype(">f4"), "float32"),
    0x0E: (np.dtype(">f8"), "float64"),
}

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
#: The official location (zalandoresearch/fashion-mnist README).
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: Debian's dataset-fashion-mnist package installs the files here.
DEFAULT_DATASET_DIR = "/usr/share/datasets/fashion-mnist"
#: file → (md5 of the .gz, what it holds, number of items, ndim)
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "training images", 60000, 3),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "training labels", 60000, 1),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "test images", 10000, 3),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "test labels", 10000, 1),
}


def _read_bytes(path):
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError("%s: the gzip data is corrupt or truncated (%s)" % (path, exc)) from None
    with open(path, "rb") as f:
        return f.read()


def read_idx(path, ndim=None, dtype=None, shape=None):
    """The array stored in the IDX file ``path`` (gzip or not), checked: magic number, type code, number of
    dimensions (``ndim``), element type (``dtype``), dimensions (``shape``, ``None`` entries match anything)
    and the exact file size. Raises :class:`DataError` naming the file and the problem."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError("%s: not an IDX file: only %d bytes, shorter than the 4-byte magic number" % (path, len(data)))
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            "%s: not an IDX file: the magic number %s should start with two zero bytes (is it an HTML error page, "
            "or another format?)" % (path, data[:4].hex())
        )
    code, dims = data[2], data[3]
    if code not in _TYPES:
        raise DataError("%s: unknown IDX element type 0x%02X in the magic number %s" % (path, code, data[:4].hex()))
    elem, type_name = _TYPES[code]
    if ndim is not None and dims != ndim:
        raise DataError("%s: the magic number %s says %d dimension%s, expected %d" % (path, data[:4].hex(), dims, "" if dims == 1 else "s", ndim))
    if dtype is not None and np.dtype(elem) != np.dtype(dtype):
        raise DataError("%s: elements are %s (type code 0x%02X), expected %s" % (path, type_name, code, np.dtype(dtype).name))
    header = 4 + 4 * dims
    if len(data) < header:
        raise DataError("%s: truncated header: %d dimensions need %d header bytes, the file has %d" % (path, dims, header, len(data)))
    size = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if shape is not None:
        for i, (got, want) in enumerate(zip(size, shape)):
            if want is not None and got != want:
                raise DataError("%s: dimension %d is %d, expected %d (dimensions %s)" % (path, i, got, want, " x ".join(map(str, size))))
    itemsize = np.dtype(elem).itemsize
    count = 1
    for n in size:
        count *= n
    expected = header + count * itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has %d extra bytes at the end" % (len(data) - expected)
        if len(data) < expected:
            what = "truncated: %s of %d x %d bytes need %d bytes after the %d-byte header, found %d" % (
                " x ".join(map(str, size)), count, itemsize, count * itemsize, header, len(data) - header)
        raise DataError("%s: %s (dimensions %s)" % (path, what, " x ".join(map(str, size))))
    array = np.frombuffer(data, dtype=elem, count=count, offset=header).reshape(size)
    return array.astype(np.dtype(elem).newbyteorder("="), copy=True) if itemsize > 1 else array.copy()


def _md5(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url, target, timeout, md5=None):
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".part", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out, 1 << 20)
        if md5 is not None:
            got = _md5(tmp)
            if got != md5:
                raise DataError("%s: downloaded file has MD5 %s, expected %s (a damaged or different file)" % (url, got, md5))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _candidates(directory, name):
    """``name`` as given, or without ``.gz``."""
    yield os.path.join(directory, name)
    if name.endswith(".gz"):
        yield os.path.join(directory, name[:-3])


def find_or_download(files, dataset_dir, download_dir=None, base_url=None, timeout=30, what="the dataset", hint=""):
    """Paths of ``files`` (name → md5 or None): from ``dataset_dir``, else ``download_dir``, else downloaded
    from ``base_url`` into ``download_dir``. When nothing works, :class:`DataError` names every place looked."""
    found = {}
    places = [d for d in (dataset_dir, download_dir) if d]
    for name in files:
        for directory in places:
            hit = next((p for p in _candidates(directory, name) if os.path.isfile(p)), None)
            if hit:
                found[name] = hit
                break
    missing = [n for n in files if n not in found]
    if not missing:
        return found
    failures = []
    if base_url and download_dir:
        for name in missing:
            url = base_url.rstrip("/") + "/" + name
            target = os.path.join(download_dir, name)
            try:
                _download(url, target, timeout, files[name])
                found[name] = target
            except DataError as exc:
                failures.append(str(exc))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                failures.append("%s: %s" % (url, reason))
                if not isinstance(exc, urllib.error.HTTPError):
                    break  # no network (or no such host): the other files would fail the same way
    missing = [n for n in files if n not in found]
    if not missing:
        return found
    looked = []
    if dataset_dir:
        looked.append("%s (%s)" % (dataset_dir, "does not exist" if not os.path.isdir(dataset_dir) else "lacks " + ", ".join(missing)))
    if download_dir:
        looked.append("%s (%s)" % (download_dir, "does not exist" if not os.path.isdir(download_dir) else "lacks " + ", ".join(missing)))
    if base_url and download_dir:
        tried = "downloading from %s failed (%s)" % (base_url, "; ".join(failures[:2]) + ("; …" if len(failures) > 2 else ""))
    elif base_url:
        tried = "no download directory given, so nothing was downloaded from %s" % base_url
    else:
        tried = "no download URL given"
    raise DataError("%s not found: looked in %s; %s.%s" % (what, " and ".join(looked) or "no directory", tried, (" " + hint) if hint else ""))


def load_fashion_mnist(dataset_dir=DEFAULT_DATASET_DIR, download_dir=None, base_url=FASHION_MNIST_URL, timeout=30):
    """Fashion-MNIST as uint8 arrays, checked: ``{"train_images": [60000, 28, 28], "train_labels": [60000],
    "test_images", "test_labels", "classes": [...], "files": {name: path}}``."""
    files = {name: md5 for name, (md5, _, _, _) in FASHION_MNIST_FILES.items()}
    paths = find_or_download(
        files,
        dataset_dir,
        download_dir,
        base_url,
        timeout,
        what="Fashion-MNIST",
        hint="Install it with `apt-get install dataset-fashion-mnist` (into %s), or put the four files (%s) in one "
        "of those directories." % (DEFAULT_DATASET_DIR, ", ".join(FASHION_MNIST_FILES)),
    )
    out = {"classes": list(FASHION_MNIST_CLASSES), "files": paths}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_file = "%s-images-idx3-ubyte.gz" % prefix
        labels_file = "%s-labels-idx1-ubyte.gz" % prefix
        images = read_idx(paths[images_file], ndim=3, dtype=np.uint8, shape=(None, 28, 28))
        labels = read_idx(paths[labels_file], ndim=1, dtype=np.uint8)
        if len(images) != len(labels):
            raise DataError(
                "%s has %d images but %s has %d labels: the files do not belong together"
                % (paths[images_file], len(images), paths[labels_file], len(labels))
            )
        expected = FASHION_MNIST_FILES[images_file][2]
        if len(images) != expected:
            raise DataError("%s has %d images; Fashion-MNIST's %s set has %d" % (paths[images_file], len(images), split, expected))
        if labels.size and labels.max() >= len(FASHION_MNIST_CLASSES):
            raise DataError("%s: label %d is not a Fashion-MNIST class (0..9)" % (paths[labels_file], int(labels.max())))
        out["%s_images" % split] = images
        out["%s_labels" % split] = labels.astype(np.int64)
    return out
