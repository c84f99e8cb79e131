"""deepforge.preview: what the artifact view shows, from real files and a real subprocess."""

import base64
import json
import os
import pickle
import subprocess
import sys
import zlib

import numpy as np

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

from deepforge import preview, serialization  # noqa: E402


def run_preview(path, *args):
    r = subprocess.run(
        [sys.executable, "-m", "deepforge.preview", str(path), *args],
        cwd=PYTHON_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    return r.returncode, r.stdout, r.stderr


def decode_png(data):
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(raw[16:20], "big"), int.from_bytes(raw[20:24], "big")
    color_type = raw[25]
    idat = raw.index(b"IDAT")
    length = int.from_bytes(raw[idat - 4 : idat], "big")
    pixels = zlib.decompress(raw[idat + 4 : idat + 4 + length])
    return width, height, color_type, pixels


def test_small_values_have_a_repr_and_a_length(tmp_path):
    path = tmp_path / "v.pkl"
    path.write_bytes(pickle.dumps({"a": 1, "b": [1, 2, 3]}))
    code, out, _ = run_preview(path)
    assert code == 0
    result = json.loads(out)
    assert result == {"pyType": "builtins.dict", "repr": "{'a': 1, 'b': [1, 2, 3]}", "length": 2}


def test_numpy_arrays_have_shape_dtype_min_max_and_an_image(tmp_path):
    arr = np.arange(64, dtype=np.float32).reshape(8, 8)
    arr[0, 0] = np.nan
    path = tmp_path / "a.npy"
    name = serialization.dumps_to(str(path), arr)
    code, out, _ = run_preview(path, "--serializer", name)
    assert code == 0
    result = json.loads(out)
    assert result["pyType"] == "numpy.ndarray"
    assert result["shape"] == [8, 8]
    assert result["dtype"] == "float32"
    assert result["min"] == 1.0 and result["max"] == 63.0
    width, height, color_type, pixels = decode_png(result["png"])
    assert (width, height, color_type) == (8, 8, 0)
    assert len(pixels) == 8 * (8 + 1)


def test_rgb_images_and_vectors():
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255
    result = preview.preview_value(rgb)
    width, height, color_type, pixels = decode_png(result["png"])
    assert (width, height, color_type) == (5, 4, 2)
    assert pixels[1:4] == b"\xff\x00\x00"
    vector = preview.preview_value(np.array([3, -1, 2]))
    assert vector["shape"] == [3] and vector["min"] == -1.0 and vector["max"] == 3.0
    assert "png" not in vector


def test_tensors_are_previewed_channels_first():
    torch = __import__("torch")
    t = torch.rand(3, 6, 7)
    result = preview.preview_value(t)
    assert result["pyType"] == "torch.Tensor"
    assert result["shape"] == [3, 6, 7]
    assert result["dtype"] == "torch.float32"
    width, height, color_type, _ = decode_png(result["png"])
    assert (width, height, color_type) == (7, 6, 2)


def test_an_unloadable_artifact_is_an_error_message_not_a_crash(tmp_path):
    path = tmp_path / "broken.pkl"
    path.write_bytes(b"not a pickle")
    code, out, _ = run_preview(path)
    assert code == 0
    result = json.loads(out)
    assert result["pyType"] == "unknown"
    assert "cannot load the artifact" in result["error"]


def test_custom_serializers_from_the_project_code(tmp_path):
    code_dir = tmp_path / "code"
    (code_dir / "serializers").mkdir(parents=True)
    (code_dir / "serializers" / "upper.py").write_text(
        "import deepforge\n"
        "class Shout(str):\n"
        "    pass\n"
        "def dump(obj, f):\n"
        "    f.write(obj.upper().encode())\n"
        "def load(f):\n"
        "    return Shout(f.read().decode())\n"
        "deepforge.serialization.register(Shout, dump, load)\n"
    )
    path = tmp_path / "data"
    path.write_bytes(b"HELLO")
    code, out, _ = run_preview(path, "--serializer", "serializers.upper.Shout", "--code-dir", str(code_dir))
    assert code == 0, out
    result = json.loads(out)
    assert result["pyType"] == "serializers.upper.Shout"
    assert result["repr"] == "'HELLO'"


def test_a_serializer_importing_the_project_utils_loads_as_in_a_job(tmp_path):
    # Issue 13: this failed with "No module named 'utils'" while jobs loaded the same artifact.
    code_dir = tmp_path / "code"
    (code_dir / "serializers").mkdir(parents=True)
    (code_dir / "utils").mkdir()
    (code_dir / "utils" / "words.py").write_text("class Shout(str):\n    pass\n")
    (code_dir / "serializers" / "upper.py").write_text(
        "import deepforge\n"
        "from utils.words import Shout\n"
        "def dump(obj, f):\n"
        "    f.write(obj.upper().encode())\n"
        "def load(f):\n"
        "    return Shout(f.read().decode())\n"
        "deepforge.serialization.register(Shout, dump, load)\n"
    )
    path = tmp_path / "data"
    path.write_bytes(b"HELLO")
    code, out, err = run_preview(path, "--serializer", "utils.words.Shout", "--code-dir", str(code_dir))
    assert code == 0, err
    result = json.loads(out)
    assert "error" not in result, result
    assert result["pyType"] == "utils.words.Shout"
    assert result["repr"] == "'HELLO'"


def test_a_missing_file_is_a_usage_error(tmp_path):
    code, _, err = run_preview(tmp_path / "nope")
    assert code == 2
    assert "no such file" in err
