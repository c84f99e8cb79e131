"""The warm worker's choice of libraries to import for later jobs (python/deepforge/zygote.py)."""

import json

from deepforge import zygote


def _spec(tmp_path, source, name="code"):
    code = tmp_path / name
    (code / "operations").mkdir(parents=True)
    (code / "operations" / "Op.py").write_text(source)
    spec = tmp_path / ("%s.json" % name)
    spec.write_text(json.dumps({"codeDir": str(code), "operation": {"file": "operations/Op.py"}}))
    return str(spec)


def test_preloads_the_heavy_libraries_an_operation_imports_anywhere_in_its_file(tmp_path):
    source = "\n".join(
        [
            "import torch.nn as nn",
            "from matplotlib import pyplot as plt",
            "import json, os",
            "from . import sibling",
            "import utils.helpers",
            "class Op():",
            "    def execute(self):",
            "        import numpy as np",
            "        from PIL import Image",
            "        return 1",
        ]
    )
    # matplotlib first (its backend is chosen before pyplot loads), then in order of mention.
    assert zygote._imports_of(_spec(tmp_path, source)) == ["torch", "matplotlib", "matplotlib.pyplot", "numpy", "PIL"]


def test_preloads_nothing_for_plain_code_or_code_it_cannot_read(tmp_path):
    assert zygote._imports_of(_spec(tmp_path, "import json\nclass Op():\n    pass\n")) == []
    assert zygote._imports_of(_spec(tmp_path, "class Op(:\n", "broken")) == []
    assert zygote._imports_of(str(tmp_path / "missing.json")) == []


def test_never_preloads_tqdm_which_the_harness_patches_as_the_job_imports_it(tmp_path):
    assert zygote._imports_of(_spec(tmp_path, "from tqdm import tqdm\nimport numpy\n")) == ["numpy"]


def test_follows_the_project_modules_an_operation_imports(tmp_path):
    spec = _spec(tmp_path, "from utils.models import Net\nimport utils.data as data\nclass Op():\n    pass\n")
    utils = tmp_path / "code" / "utils"
    utils.mkdir()
    (utils / "models.py").write_text("import torch\nfrom utils import layers\nclass Net(torch.nn.Module):\n    pass\n")
    (utils / "layers.py").write_text("import scipy.signal\nfrom utils import models  # a cycle\n")
    (utils / "data").mkdir()
    (utils / "data" / "__init__.py").write_text("import pandas as pd\n")
    # Breadth first: the operation's own modules, then what they import.
    assert zygote._imports_of(spec) == ["torch", "pandas", "scipy"]
