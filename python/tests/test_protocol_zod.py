"""Every kind of event the runtime emits, checked against the real zod schema (packages/protocol).

The other tests check events with tests/schema.py (a strict mirror); this one makes sure the mirror and the
TypeScript contract agree, using node + tsx from the repository's node_modules. Skipped without them.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import PYTHON_DIR
from test_seeds import MNIST_FASHION, PRED_VIS, SCATTER_3D
from test_feedback import TQDM_JOB

REPO = os.path.dirname(PYTHON_DIR)
TSX = os.path.join(REPO, "node_modules", ".bin", "tsx")


@pytest.mark.skipif(not (shutil.which("node") and os.path.exists(TSX)), reason="node / tsx not installed")
def test_events_match_the_zod_schema(run_job):
    jobs = [
        run_job(SCATTER_3D),
        run_job(MNIST_FASHION),
        run_job(
            PRED_VIS,
            attributes={"num_rows": 2, "num_cols": 2},
            inputs={"pt": np.random.rand(8), "gt": np.random.rand(8), "pdfs": np.random.rand(8, 180)},
        ),
        run_job(TQDM_JOB, outputs=["total"]),
        run_job(
            """
            import deepforge
            import matplotlib.pyplot as plt

            class Mixed():
                def execute(self):
                    deepforge.log(step=1, loss=0.5)
                    deepforge.log(acc=1)
                    plt.plot([1, float("nan")], [float("inf"), 2])
                    plt.axvline(0.5)
                    plt.title("t")
                    return 1, 2, 3
            """,
            outputs=["a", "b"],
        ),
        run_job("class E():\n    def execute(self):\n        return 1 / 0\n", "E"),
        run_job("class U():\n    def execute(self):\n        return 1\n", "U", outputs=["x"], spec_overrides={"usage": True}),
        run_job("class S():\n    def execute(self)\n", "S"),
        run_job("class V():\n    def execute(self):\n        pass\n", "V", spec_overrides={"v": 9}),
        run_job("class O():\n    def execute(self):\n        return [1]\n", "O", outputs=["x"]),
        run_job(
            "import numpy as np\nclass H():\n    def execute(self):\n        return np.ones(1 << 18)\n",
            "H",
            outputs=["x"],
            spec_overrides={"outputHashes": True},
        ),
        run_job(
            "import numpy as np\nclass T():\n    def execute(self):\n        return np.ones(1 << 18), np.ones(1 << 21)\n",
            "T",
            outputs=["small", "big"],
            spec_overrides={"outputHashes": True, "outputContentIds": True},
        ),
    ]
    lines = [json.dumps(e) for job in jobs for e in job.events]
    types = {e["type"] for job in jobs for e in job.events}
    assert types >= {"hello", "phase", "plot", "metric", "progress", "output", "error"}
    assert any("sha256" in e for job in jobs for e in job.of("output"))
    assert {e["hash"].partition(":")[0] for job in jobs for e in job.of("output") if "hash" in e} == {
        "sha256",
        "sha256t",
    }
    proc = subprocess.run(
        [TSX, os.path.join(PYTHON_DIR, "tests", "validate_events.ts")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 invalid" in proc.stdout
