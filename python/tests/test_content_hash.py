"""Content ids (docs/adr/0006) against the vectors the engine's tests check too, and a straightforward sum."""

import hashlib
import json
import os

import numpy as np
import pytest

from conftest import PYTHON_DIR
from deepforge import content_hash, serialization

REPO = os.path.dirname(PYTHON_DIR)
VECTORS_FILE = os.path.join(REPO, "packages", "protocol", "fixtures", "content-hash.vectors.json")
with open(VECTORS_FILE) as _f:
    VECTORS = json.load(_f)
BLOCK = VECTORS["blockBytes"]


def content(size):
    """Byte i is ((i * 2654435761) mod 2^32) >> 24 (the vectors file's description)."""
    i = np.arange(size, dtype=np.uint64)
    return (((i * 2654435761) % (1 << 32)) >> 24).astype(np.uint8).tobytes()


def straightforward(data):
    if len(data) <= BLOCK:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    digests = [hashlib.sha256(data[i : i + BLOCK]).digest() for i in range(0, len(data), BLOCK)]
    return "sha256t:" + hashlib.sha256(b"".join(digests)).hexdigest()


def test_the_block_size_is_the_engines():
    assert content_hash.BLOCK_BYTES == BLOCK == 8 * 1024 * 1024
    assert serialization._HASH_BLOCK == BLOCK


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["size"]))
def test_vectors(vector, tmp_path):
    data = content(vector["size"])
    assert hashlib.sha256(data).hexdigest() == vector["sha256"]  # the content is the one the vectors describe
    assert straightforward(data) == vector["id"]
    assert content_hash.content_id(data) == vector["id"]
    # In pieces that do not line up with the blocks.
    hasher = content_hash.ContentHasher()
    view = memoryview(data)
    step = 3 * 1024 * 1024 + 7
    for start in range(0, len(data), step):
        hasher.update(view[start : start + step])
    assert hasher.content_id() == vector["id"] and hasher.size == vector["size"]
    path = tmp_path / "f"
    path.write_bytes(data)
    assert content_hash.file_content_id(path) == vector["id"]


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["vectors"] if v["size"] >= (1 << 20)], ids=lambda v: str(v["size"])
)
def test_vectors_through_the_parallel_writer(vector, tmp_path):
    """The writer's hash (two threads, blocks queued by reference or copied) gives the same ids."""
    data = content(vector["size"])

    class Raw:
        pass

    def dump(obj, file):  # the bytes as they are, in writes that do not line up with the blocks
        for start in range(0, len(data), 5 * 1024 * 1024 + 3):
            file.write(data[start : start + 5 * 1024 * 1024 + 3])

    serialization.register(Raw, dump, lambda f: None)
    try:
        name, digest = serialization.dumps_to_hashed(tmp_path / "raw", Raw())
    finally:
        serialization.unregister(Raw)
    assert (tmp_path / "raw").read_bytes() == data
    assert digest == vector["id"]
    # A built-in serializer: big pieces are queued by reference, not copied.
    name, digest = serialization.dumps_to_hashed(tmp_path / "npy", np.frombuffer(data, np.uint8))
    assert digest == straightforward((tmp_path / "npy").read_bytes())


def test_scheme_prefixes_keep_small_and_big_apart():
    big = content(BLOCK + 1)
    digests = hashlib.sha256(big[:BLOCK]).digest() + hashlib.sha256(big[BLOCK:]).digest()
    # A 64-byte file made of the big one's block digests has the same hex, but not the same id.
    assert content_hash.content_id(digests).partition(":")[2] == content_hash.content_id(big).partition(":")[2]
    assert content_hash.content_id(digests) != content_hash.content_id(big)
