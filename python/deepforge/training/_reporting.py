"""Progress bars and the Trainer's reporters, shared by the training loop, distributed ranks and evaluation.

Its own module so that trainer, distributed and evaluation each import it and none of them imports another for
these: the package's import graph stays acyclic (python/tests/test_training_imports.py checks it).
"""

__all__ = ["make_bar", "NullReporter", "LocalReporter"]


def make_bar(total, desc):
    """A progress bar over ``total`` batches: tqdm's, or DeepForge's own where tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - Debian's python3-tqdm is installed with DeepForge
        from .. import progress

        return progress(total=total, desc=desc, unit="batch")
    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True)


class NullReporter:
    """Reports nothing: the ranks of a distributed run other than the first."""

    def epoch_start(self, epoch, epochs, total):
        pass

    def step(self, log_step=None, values=None, position=None):
        pass

    def epoch_end(self, epoch, values, record):
        pass

    def close(self):
        pass


class LocalReporter:
    """Progress bars, ``deepforge.log`` metrics and the live plot, in this process."""

    def __init__(self, progress, log, plot):
        self.progress = progress
        self.log = log
        self.plot = plot
        self.bar = None

    def epoch_start(self, epoch, epochs, total):
        if self.progress:
            self.bar = make_bar(total, "epoch %d/%d" % (epoch, epochs))

    def step(self, log_step=None, values=None, position=None):
        if self.bar is not None:
            self.bar.update(1)
        if values:
            if self.bar is not None and hasattr(self.bar, "set_postfix"):
                self.bar.set_postfix({k: "%.4g" % v for k, v in values.items()}, refresh=False)
            if self.log:
                from .. import log

                log(step=log_step, **values)
            if self.plot is not None:
                self.plot.add_step(position, values.get("loss"), values.get("accuracy"))
                self.plot.maybe_draw()

    def epoch_end(self, epoch, values, record):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.log and values:
            from .. import log

            log(step=epoch, **values)
        if self.plot is not None:
            self.plot.add_epoch(record)
            self.plot.draw()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.plot is not None:
            self.plot.draw()
