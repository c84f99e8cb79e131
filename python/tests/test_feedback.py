"""Live feedback: metrics, progress (tqdm and deepforge.progress), redraw captures."""

import math

import pytest

from conftest import assert_ok


# ------------------------------------------------------------------------------------------------ metrics


def test_log_metrics(run_job):
    result = assert_ok(
        run_job(
            """
            import numpy as np
            import torch
            import deepforge

            class Train():
                def execute(self):
                    for epoch in range(3):
                        deepforge.log(step=epoch, loss=1.0 / (epoch + 1), acc=np.float32(0.5) + epoch / 10)
                    deepforge.log(lr=torch.tensor(0.125))
                    deepforge.log(step=np.int64(7), **{"val/loss": 3})
                    try:
                        deepforge.log(step=1, loss="high")
                    except TypeError as exc:
                        print("rejected:", exc)
                    try:
                        deepforge.log(step=1, loss=float("inf"))
                    except TypeError as exc:
                        print("rejected:", exc)
            """
        )
    )
    metrics = result.of("metric")
    assert [m["step"] for m in metrics] == [0, 1, 2, None, 7]
    assert metrics[0]["values"] == {"loss": 1.0, "acc": 0.5}
    assert math.isclose(metrics[2]["values"]["acc"], 0.7, rel_tol=1e-6)
    assert metrics[3]["values"] == {"lr": 0.125}
    assert metrics[4]["values"] == {"val/loss": 3.0}
    assert "rejected: deepforge.log: metric 'loss' must be a finite number, got 'high' (str)" in result.stdout
    assert "got inf (float)" in result.stdout


def test_log_outside_a_job_validates_and_does_nothing(capsys):
    import deepforge

    assert not deepforge.in_harness()
    assert deepforge.log(step=1, loss=0.5) == {"loss": 0.5}
    with pytest.raises(TypeError, match="metric 'loss' must be a finite number"):
        deepforge.log(loss=float("nan"))
    with pytest.raises(deepforge.MetricValueError, match="step must be a finite number"):
        deepforge.log(step="one", loss=1)
    with pytest.raises(TypeError, match="no metrics given"):
        deepforge.log(step=1)
    with pytest.raises(TypeError, match=r"single-element"):
        import numpy as np

        deepforge.log(loss=np.arange(3))
    assert capsys.readouterr() == ("", "")


# ------------------------------------------------------------------------------------------------ progress

TQDM_JOB = """
import sys
import time
from tqdm import tqdm, trange
from tqdm.auto import tqdm as auto_tqdm
import tqdm as tqdm_module

class Loop():
    def execute(self):
        total = 0
        for i in tqdm(range(50), desc="epoch"):
            time.sleep(0.02)
            total += i
        for i in trange(3, desc="short"):
            pass
        with auto_tqdm(total=200, unit="img") as bar:
            for _ in range(4):
                bar.update(50)
        for i in tqdm_module.tqdm(range(5), disable=True):
            pass
        print("classes", tqdm.__name__, tqdm.__module__, issubclass(auto_tqdm, tqdm))
        return total
"""


def test_tqdm_bars_become_progress_events(run_job):
    result = assert_ok(run_job(TQDM_JOB, outputs=["total"]))
    assert result.load_output("total") == sum(range(50))
    events = result.of("progress")
    bars: dict[str, list] = {}
    for event in events:
        bars.setdefault(event["bar"], []).append(event)
    assert len(bars) == 3  # the disabled bar says nothing
    epoch, short, images = bars.values()
    assert epoch[0]["desc"] == "epoch" and epoch[0]["n"] == 0 and epoch[0]["total"] == 50
    # ~1 s of work at <= 2 events/s (+ first and last)
    assert 2 <= len(epoch) <= 6, epoch
    assert epoch[-1]["done"] is True and epoch[-1]["n"] == 50
    assert sum(1 for e in epoch if e.get("done")) == 1
    assert all(e["n"] <= f["n"] for e, f in zip(epoch, epoch[1:]))
    assert epoch[-1]["rate"] > 0
    assert short[-1] == dict(short[-1], n=3, total=3, done=True, desc="short")
    assert images[-1]["n"] == 200 and images[-1]["unit"] == "img" and images[-1]["done"] is True
    assert "classes tqdm tqdm.std True" in result.stdout
    # the console gets the final bars as plain lines, never carriage-return redraws
    assert "\r" not in result.stderr
    final_lines = [line for line in result.stderr.splitlines() if "|" in line]
    assert len(final_lines) == 3, result.stderr
    assert final_lines[0].startswith("epoch: 100%")


def test_deepforge_progress_without_tqdm(run_job):
    result = assert_ok(
        run_job(
            """
            import deepforge

            class Count():
                def execute(self):
                    seen = [x for x in deepforge.progress(range(1000), desc="items")]
                    with deepforge.progress(total=3, desc="manual") as bar:
                        bar.update(2)
                        bar.update(1)
                    return len(seen)
            """,
            outputs=["n"],
        )
    )
    assert result.load_output("n") == 1000
    events = result.of("progress")
    items = [e for e in events if e.get("desc") == "items"]
    manual = [e for e in events if e.get("desc") == "manual"]
    assert items[0]["n"] == 0 and items[0]["total"] == 1000
    assert items[-1]["n"] == 1000 and items[-1]["done"] is True
    assert len(items) <= 4
    assert manual[-1]["n"] == 3 and manual[-1]["done"] is True
    assert items[0]["bar"] != manual[0]["bar"]


def test_progress_outside_a_job_just_iterates():
    import deepforge

    assert list(deepforge.progress(iter([1, 2, 3]))) == [1, 2, 3]


# ------------------------------------------------------------------------------------------------ plots


def test_redraws_are_captured(run_job):
    result = assert_ok(
        run_job(
            """
            import time
            import matplotlib.pyplot as plt

            class Live():
                def execute(self):
                    fig, ax = plt.subplots()
                    line, = ax.plot([0], [0], label="loss")
                    for i in range(1, 4):
                        line.set_data(range(i + 1), [v * v for v in range(i + 1)])
                        ax.relim()
                        ax.autoscale_view()
                        fig.canvas.draw()
                        time.sleep(0.3)
                    ax.set_title("after draw")
                    fig.canvas.draw_idle()
                    time.sleep(0.3)
                    ax.set_title("after plt.draw")
                    plt.draw()
                    plt.pause(0.3)
                    ax.set_title("after pause")
                    plt.pause(0)  # would block forever with Agg
                    fig.savefig("own.png")  # the user's own savefig is not a snapshot
            """
        )
    )
    plots = result.plots
    assert [p["seq"] for p in plots] == list(range(1, len(plots) + 1))
    titles = [p["axes"][0].get("title") for p in plots]
    assert titles[:3] == [None, None, None]
    assert [len(p["axes"][0]["lines"][0]["x"]) for p in plots[:3]] == [2, 3, 4]
    assert titles[3:] == ["after draw", "after plt.draw", "after pause"]
    import os

    assert os.path.exists(os.path.join(result.spec["workDir"], "own.png"))


def test_figures_never_shown_are_sent_when_the_job_ends(run_job):
    result = assert_ok(
        run_job(
            """
            import matplotlib.pyplot as plt

            class Quiet():
                def execute(self):
                    plt.figure("Loss curve")
                    plt.plot([1, 2, 3], [3, 1, float("nan")])
                    plt.axhline(1.5, color="k", label="target")
                    plt.figure()
                    plt.plot([1, 2])
                    plt.close()  # closed without show: not sent
            """
        )
    )
    (plot,) = result.plots
    assert plot["title"] == "Loss curve"
    ax = plot["axes"][0]
    assert ax["lines"][0]["y"] == [3.0, 1.0, None]
    assert ax["rules"] == [{"axis": "y", "value": 1.5, "color": "#000000", "label": "target"}]


def test_throttled_show_is_sent_when_the_figure_closes(run_job):
    result = assert_ok(
        run_job(
            """
            import matplotlib.pyplot as plt

            class ShowClose():
                def execute(self):
                    plt.plot([1, 2, 3])
                    plt.show()
                    plt.plot([3, 2, 1])
                    plt.show()  # inside the throttle interval: held back...
                    plt.close()  # ...and sent before the figure goes away
                    plt.plot([5, 5])  # a new figure 1
                    plt.show()
            """
        )
    )
    plots = result.plots
    assert [(p["figure"], p["seq"]) for p in plots] == [(1, 1), (1, 2), (1, 3)]
    assert [len(p["axes"][0]["lines"]) for p in plots] == [1, 2, 1]
    assert plots[2]["axes"][0]["lines"][0]["y"] == [5.0, 5.0]


def test_show_twice_without_changes_sends_once(run_job):
    result = assert_ok(
        run_job(
            """
            import time
            import matplotlib.pyplot as plt

            class Twice():
                def execute(self):
                    plt.plot([1, 2])
                    plt.show()
                    time.sleep(0.3)
                    plt.show()
            """
        )
    )
    assert len(result.plots) == 1


def test_exception_after_plotting_still_sends_the_figure(run_job):
    result = run_job(
        """
        import matplotlib.pyplot as plt

        class PlotThenFail():
            def execute(self):
                plt.plot([1, 2, 3])
                raise RuntimeError("after plotting")
        """
    )
    assert result.error["message"] == "RuntimeError: after plotting"
    assert len(result.plots) == 1
    assert [e["type"] for e in result.events][-2:] == ["plot", "error"]


def test_large_figures_fall_back_to_png(run_job):
    result = assert_ok(
        run_job(
            """
            import numpy as np
            import matplotlib.pyplot as plt
            from mpl_toolkits.mplot3d import Axes3D

            class Many():
                def execute(self):
                    rng = np.random.RandomState(0)
                    fig = plt.figure()
                    ax = fig.add_subplot(111, projection='3d')
                    ax.scatter(rng.rand(30000), rng.rand(30000), rng.rand(30000), s=1)
                    plt.show()
            """
        )
    )
    (plot,) = result.plots
    assert "png" in plot and "svg" not in plot
    import base64

    assert base64.b64decode(plot["png"])[:4] == b"\x89PNG"
    (scatter,) = plot["axes"][0]["scatters"]
    assert len(scatter["x"]) == 10000 and len(scatter["z"]) == 10000  # subsampled for the event
