"""Content ids of stored data, as the engine names its blobs (docs/adr/0006-block-content-hash.md).

The id is a pure function of the bytes; its scheme follows from their size:

- at most :data:`BLOCK_BYTES` (8 MiB): ``sha256:<hex>``, the plain sha256 (what ``sha256sum`` prints);
- more: ``sha256t:<hex>``, the sha256 of the concatenated raw 32-byte sha256 digests of consecutive
  :data:`BLOCK_BYTES` blocks (the last one may be shorter). The blocks can be hashed on several cores at once,
  which :func:`deepforge.serialization.dumps_to_hashed` does while it writes an output.

The prefixes keep the two schemes apart: a small file made of some big file's block digests has the same hex,
not the same id. By hand, for a file over 8 MiB::

    split -b 8388608 --filter='openssl dgst -sha256 -binary' big.npy | sha256sum

This module is the straightforward, one-thread version (for checks and tools); the engine's is
``packages/engine/src/storage/content-hasher.ts``. Both are tested against
``packages/protocol/fixtures/content-hash.vectors.json``.
"""

import hashlib
import os

__all__ = ["BLOCK_BYTES", "ContentHasher", "content_id", "file_content_id", "id_from_digests"]

#: Content over this many bytes gets a ``sha256t:`` id; each block of the tree is this big.
BLOCK_BYTES = 8 * 1024 * 1024


def id_from_digests(digests, size):
    """The id of ``size`` bytes from the raw sha256 digests of their blocks, in order."""
    if size <= BLOCK_BYTES:
        return "sha256:" + (digests[0] if digests else hashlib.sha256().digest()).hex()
    return "sha256t:" + hashlib.sha256(b"".join(digests)).hexdigest()


class ContentHasher:
    """The content id of bytes handed to :meth:`update` in pieces of any size."""

    def __init__(self):
        self._block = hashlib.sha256()
        self._fill = 0
        self._size = 0
        self._digests = []

    def update(self, data):
        view = memoryview(data).cast("B")
        self._size += len(view)
        while view:
            take = min(len(view), BLOCK_BYTES - self._fill)
            self._block.update(view[:take])
            view = view[take:]
            self._fill += take
            if self._fill == BLOCK_BYTES:
                self._digests.append(self._block.digest())
                self._block = hashlib.sha256()
                self._fill = 0

    @property
    def size(self):
        return self._size

    def content_id(self):
        digests = self._digests + [self._block.digest()] if self._fill or not self._digests else self._digests
        return id_from_digests(digests, self._size)


def content_id(data):
    """The content id of bytes in memory (``bytes``, ``bytearray``, a ``memoryview``, a numpy array's buffer)."""
    hasher = ContentHasher()
    hasher.update(data)
    return hasher.content_id()


def file_content_id(path):
    """The content id of a file's bytes."""
    hasher = ContentHasher()
    buf = bytearray(BLOCK_BYTES)
    view = memoryview(buf)
    with open(os.fspath(path), "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
    return hasher.content_id()

