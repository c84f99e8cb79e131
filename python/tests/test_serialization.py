"""deepforge.serialization in-process: registry, MRO lookup, numpy fast path, atomic writes."""

import io
import os
import pickle

import numpy as np
import pytest

from deepforge import serialization
from deepforge.serialization import SerializationError, UnknownSerializerError


class Base:
    def __init__(self, value):
        self.value = value


class Child(Base):
    tag: str  # set by its serializer's load


class GrandChild(Child):
    pass


def _dump_tagged(tag):
    def dump(obj, file):
        file.write(("%s:%s" % (tag, obj.value)).encode())

    return dump


def _load_tagged(cls):
    def load(file):
        tag, value = file.read().decode().split(":")
        obj = cls(value)
        obj.tag = tag
        return obj

    return load


@pytest.fixture
def registry():
    yield serialization
    for cls in (Base, Child, GrandChild, np.ndarray):
        serialization.unregister(cls)


def test_most_specific_registration_wins(registry, tmp_path):
    base_name = registry.register(Base, _dump_tagged("base"), _load_tagged(Base))
    child_name = registry.register(Child, _dump_tagged("child"), _load_tagged(Child))
    assert base_name == "test_serialization.Base"
    assert child_name == "test_serialization.Child"
    assert registry.serializer_name(Base(1)) == base_name
    assert registry.serializer_name(Child(1)) == child_name
    assert registry.serializer_name(GrandChild(1)) == child_name  # nearest class in the MRO
    assert registry.serializer_name(object()) == "pickle"
    path = tmp_path / "gc"
    assert registry.dumps_to(path, GrandChild(5)) == child_name
    assert path.read_bytes() == b"child:5"
    loaded = registry.load_from(path, child_name)
    assert type(loaded) is Child and loaded.value == "5" and loaded.tag == "child"
    assert child_name in registry.known_serializers()


def test_register_checks_its_arguments(registry):
    with pytest.raises(TypeError, match="cls must be a class"):
        registry.register(Base(1), pickle.dump, pickle.load)
    with pytest.raises(TypeError, match="pickle.dump"):
        registry.register(Base, None, pickle.load)


def test_unknown_serializer_names_the_known_ones(registry, tmp_path):
    registry.register(Base, _dump_tagged("b"), _load_tagged(Base))
    with pytest.raises(UnknownSerializerError) as info:
        registry.load_from(tmp_path / "x", "nope.Nope")
    message = str(info.value)
    assert "unknown serializer 'nope.Nope'" in message
    assert "pickle, numpy.ndarray, test_serialization.Base" in message


def test_default_is_pickle_protocol_5(tmp_path):
    path = tmp_path / "v"
    assert serialization.dumps_to(path, {"a": [1, 2, (3, 4)]}) == "pickle"
    data = path.read_bytes()
    assert data[:2] == b"\x80\x05"
    assert pickle.loads(data) == {"a": [1, 2, (3, 4)]}
    # and anything pickled elsewhere (an uploaded artifact) loads
    (tmp_path / "p2").write_bytes(pickle.dumps([1, "x"], protocol=2))
    assert serialization.load_from(tmp_path / "p2", "pickle") == [1, "x"]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12).reshape(3, 4),
        np.asfortranarray(np.random.RandomState(0).rand(300, 2000)),  # 4.8 MB, Fortran order, mapped
        np.random.RandomState(1).rand(2000, 1000)[:, ::2],  # non-contiguous
        np.zeros((0, 5)),
        np.array(3.5),
        np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
        np.array(["x", "yz"]),
    ],
    ids=["small", "fortran", "strided", "empty", "0d", "structured", "unicode"],
)
def test_numpy_arrays_use_npy(array, tmp_path):
    path = tmp_path / "a"
    assert serialization.dumps_to(path, array) == "numpy.ndarray"
    assert path.read_bytes()[:6] == b"\x93NUMPY"
    assert np.array_equal(np.load(path), array)  # plain .npy: any numpy reads it
    loaded = serialization.load_from(path, "numpy.ndarray")
    assert type(loaded) is np.ndarray
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    assert np.array_equal(loaded, array)
    assert loaded.flags.writeable


def test_large_arrays_are_mapped_copy_on_write(tmp_path):
    array = np.random.RandomState(0).rand(1024, 1024)
    path = tmp_path / "big"
    serialization.dumps_to(path, array)
    before = path.read_bytes()
    loaded = serialization.load_from(path, "numpy.ndarray")
    assert type(loaded) is np.ndarray and isinstance(loaded.base, np.memmap)
    loaded[:] = 0  # private to this process
    assert path.read_bytes() == before
    assert np.array_equal(serialization.load_from(path, "numpy.ndarray"), array)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_numpy_subclasses_and_object_arrays_are_pickled(tmp_path):
    masked: np.ndarray = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    objects = np.array([1, "a", None], dtype=object)
    for value in (masked, objects, np.matrix([[1, 2]])):
        path = tmp_path / "v"
        assert serialization.dumps_to(path, value) == "pickle"
        loaded = serialization.load_from(path, "pickle")
        assert type(loaded) is type(value)
    assert list(serialization.load_from(path, "pickle").flat) == [1, 2]
    path = tmp_path / "m"
    serialization.dumps_to(path, masked)
    assert serialization.load_from(path, "pickle").mask.tolist() == [False, True, False]


def test_memmap_is_saved_as_a_plain_array(tmp_path):
    mm = np.memmap(tmp_path / "raw", dtype="f4", mode="w+", shape=(4,))
    mm[:] = [1, 2, 3, 4]
    assert serialization.dumps_to(tmp_path / "out", mm) == "numpy.ndarray"
    assert serialization.load_from(tmp_path / "out", "numpy.ndarray").tolist() == [1, 2, 3, 4]


def test_a_user_registration_for_ndarray_beats_the_builtin(registry, tmp_path):
    registry.register(np.ndarray, lambda a, f: f.write(b"custom"), lambda f: f.read())
    assert registry.dumps_to(tmp_path / "a", np.arange(3)) == "numpy.ndarray"
    assert (tmp_path / "a").read_bytes() == b"custom"
    registry.unregister(np.ndarray)
    registry.dumps_to(tmp_path / "b", np.arange(3))
    assert np.array_equal(registry.load_from(tmp_path / "b", "numpy.ndarray"), np.arange(3))


def test_failed_dump_leaves_nothing_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out"
    path.write_bytes(b"previous")
    with pytest.raises(SerializationError, match="builtins.generator") as info:
        serialization.dumps_to(path, (i for i in range(3)))
    assert isinstance(info.value.__cause__, TypeError)
    assert path.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_failing_custom_dump_leaves_nothing(registry, tmp_path):
    def dump(obj, file):
        file.write(b"partial")
        raise RuntimeError("disk on fire")

    registry.register(Base, dump, _load_tagged(Base))
    with pytest.raises(SerializationError, match="disk on fire"):
        registry.dumps_to(tmp_path / "x", Base(1))
    assert os.listdir(tmp_path) == []


def test_truncated_npy_is_an_error(tmp_path):
    path = tmp_path / "a"
    serialization.dumps_to(path, np.arange(1000))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(SerializationError, match="truncated"):
        serialization.load_from(path, "numpy.ndarray")


def test_dump_and_load_with_file_objects():
    buf = io.BytesIO()
    assert serialization.dump(np.arange(4), buf) == "numpy.ndarray"
    buf.seek(0)
    assert serialization.load(buf, "numpy.ndarray").tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------------------------------------ content hash


_BLOCK = 8 * 1024 * 1024
_NPY_HEADER = 128  # what np.save writes before the data of these arrays


def _content_id_of(path):
    """The content id (docs/adr/0006) of a file, computed the straightforward way: whole file, sliced."""
    import hashlib

    with open(path, "rb") as f:
        data = f.read()
    if len(data) <= _BLOCK:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    digests = b"".join(hashlib.sha256(data[i : i + _BLOCK]).digest() for i in range(0, len(data), _BLOCK))
    return "sha256t:" + hashlib.sha256(digests).hexdigest()


@pytest.mark.parametrize(
    "value, scheme",
    [
        (np.random.RandomState(1).rand(3, 1000, 1000), "sha256t"),  # 24 MB .npy: blocks across 16 MiB writes
        (np.random.RandomState(2).bytes(_BLOCK - _NPY_HEADER), "sha256"),  # bytes: pickled, just under 8 MiB
        (np.frombuffer(np.random.RandomState(3).bytes(_BLOCK - _NPY_HEADER), np.uint8), "sha256"),  # 8 MiB file
        (np.frombuffer(np.random.RandomState(4).bytes(_BLOCK - _NPY_HEADER + 1), np.uint8), "sha256t"),  # +1
        (np.asfortranarray(np.arange(600000.0).reshape(1000, 600)), "sha256"),  # Fortran order
        (np.arange(4000000.0)[::2], "sha256t"),  # not contiguous: numpy's own writer
        ({"x": np.ones(1 << 21), "y": list(range(100000))}, "sha256t"),  # pickle: frames and a big buffer
        (b"x" * (3 << 20), "sha256"),
    ],
    ids=["npy", "pickled-bytes", "npy-8MiB", "npy-8MiB+1", "fortran", "strided", "pickle", "bytes"],
)
def test_the_hash_is_the_content_id_of_the_file(tmp_path, value, scheme):
    name, digest = serialization.dumps_to_hashed(tmp_path / "out", value)
    assert name == serialization.serializer_name(value)
    assert digest == _content_id_of(tmp_path / "out")
    assert digest.partition(":")[0] == scheme
    assert (os.path.getsize(tmp_path / "out") > _BLOCK) == (scheme == "sha256t")


def test_the_exact_block_boundary(tmp_path):
    exact = np.zeros(_BLOCK - _NPY_HEADER, np.uint8)
    assert serialization.dumps_to_hashed(tmp_path / "a", exact)[1].startswith("sha256:")
    assert os.path.getsize(tmp_path / "a") == _BLOCK
    one_more = np.zeros(_BLOCK - _NPY_HEADER + 1, np.uint8)
    digest = serialization.dumps_to_hashed(tmp_path / "b", one_more)[1]
    assert os.path.getsize(tmp_path / "b") == _BLOCK + 1
    assert digest == _content_id_of(tmp_path / "b") and digest.startswith("sha256t:")


def test_small_outputs_get_no_hash(tmp_path):
    assert serialization.dumps_to_hashed(tmp_path / "a", 1) == ("pickle", None)
    assert serialization.dumps_to_hashed(tmp_path / "b", np.arange(1000)) == ("numpy.ndarray", None)


def test_custom_serializers_are_hashed_unless_they_seek_or_use_the_descriptor(registry, tmp_path):
    chunk = bytearray(b"a" * (1 << 20))

    def reusing_one_buffer(obj, file):
        for i in range(3):
            chunk[:1] = b"%d" % i  # the same buffer, changed after each write: hashed before write returns
            file.write(chunk)

    registry.register(Base, reusing_one_buffer, _load_tagged(Base))
    name, digest = registry.dumps_to_hashed(tmp_path / "seq", Base(1))
    assert name == "test_serialization.Base"
    assert digest == _content_id_of(tmp_path / "seq")

    def reusing_it_across_blocks(obj, file):
        for i in range(19):  # 19 MiB, odd sizes: blocks end inside writes
            chunk[:2] = b"%02d" % i
            file.write(chunk)
            file.write(b"%d" % i * 7)

    registry.register(Base, reusing_it_across_blocks, _load_tagged(Base))
    digest = registry.dumps_to_hashed(tmp_path / "blocks", Base(1))[1]
    assert digest == _content_id_of(tmp_path / "blocks") and digest.startswith("sha256t:")

    def seeking(obj, file):
        file.write(b"\0" * 8)
        file.write(chunk)
        file.seek(0)
        file.write(b"HEADER!!")
        file.seek(0, 2)

    registry.register(Base, seeking, _load_tagged(Base))
    assert registry.dumps_to_hashed(tmp_path / "seek", Base(1))[1] is None
    assert (tmp_path / "seek").read_bytes()[:8] == b"HEADER!!"

    def through_the_descriptor(obj, file):
        file.write(chunk)
        file.flush()
        os.write(file.fileno(), b"behind the hash")

    registry.register(Base, through_the_descriptor, _load_tagged(Base))
    assert registry.dumps_to_hashed(tmp_path / "fd", Base(1))[1] is None
    assert (tmp_path / "fd").read_bytes().endswith(b"behind the hash")


def test_a_failed_hashed_dump_leaves_nothing(tmp_path):
    with pytest.raises(SerializationError):
        serialization.dumps_to_hashed(tmp_path / "x", [np.ones(1 << 20), lambda: 1])
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------------------------
# dump_output: small outputs as bytes for the output event (docs/adr/0035)


@pytest.mark.parametrize(
    "value",
    [1, {"a": [1, 2, 3]}, np.arange(100), b"", np.asfortranarray(np.ones((20, 30)))],
    ids=["int", "dict", "npy", "empty-bytes", "fortran"],
)
def test_small_outputs_come_back_as_the_bytes_a_file_would_hold(tmp_path, value):
    name, digest, data = serialization.dump_output(tmp_path / "out" / "value", value, True, 64 * 1024)
    assert (name, digest) == (serialization.serializer_name(value), None)
    # No file, not even the folder: the bytes are what dumps_to would have written.
    assert not (tmp_path / "out").exists()
    serialization.dumps_to(tmp_path / "file", value)
    assert data == (tmp_path / "file").read_bytes()
    loaded = serialization.load(io.BytesIO(data), name)
    if isinstance(value, np.ndarray):
        assert np.array_equal(loaded, value)
    else:
        assert loaded == value


def test_bigger_outputs_spill_into_the_file_serialized_once(tmp_path):
    calls = []

    class Counted:
        def __init__(self, payload):
            self.payload = payload

        def __reduce__(self):
            calls.append(1)
            return (bytes, (self.payload,))

    big = Counted(b"z" * (2 << 20))
    path = tmp_path / "out" / "value"
    name, digest, data = serialization.dump_output(path, big, True, 64 * 1024)
    assert data is None and name == "pickle"
    # Pickled once (what kept in memory went first into the file), and the file is what dumps_to writes.
    assert calls == [1]
    assert digest == _content_id_of(path)
    serialization.dumps_to(tmp_path / "file", big)
    assert path.read_bytes() == (tmp_path / "file").read_bytes()
    assert [p for p in os.listdir(tmp_path / "out")] == ["value"]
    # A big array spills in the middle of its data: the file is the whole .npy all the same.
    arr = np.arange(50000.0)
    assert serialization.dump_output(tmp_path / "out" / "arr", arr, False, 64 * 1024) == ("numpy.ndarray", None, None)
    assert np.array_equal(serialization.load_from(tmp_path / "out" / "arr", "numpy.ndarray"), arr)


def test_custom_serializers_and_a_zero_limit_always_write_files(registry, tmp_path):
    registry.register(Base, _dump_tagged("b"), _load_tagged(Base))
    name, _, data = serialization.dump_output(tmp_path / "a" / "x", Base("v"), False, 64 * 1024)
    assert data is None and name == serialization.serializer_name(Base("v"))
    assert (tmp_path / "a" / "x").read_bytes() == b"b:v"
    assert serialization.dump_output(tmp_path / "b" / "y", 5, False, 0)[2] is None
    assert serialization.load_from(tmp_path / "b" / "y") == 5


def test_a_failed_output_leaves_nothing_small_or_spilled(tmp_path):
    with pytest.raises(SerializationError):
        serialization.dump_output(tmp_path / "s" / "x", [1, lambda: 1], True, 64 * 1024)
    assert not (tmp_path / "s").exists()
    with pytest.raises(SerializationError):
        serialization.dump_output(tmp_path / "b" / "x", [b"x" * (100 * 1024), lambda: 1], True, 64 * 1024)
    assert os.listdir(tmp_path / "b") == []
