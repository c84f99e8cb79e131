"""deepforge.training: reproducibility, resume, data forms, Viserion flows, DDP on CPU, reporting."""

import os
import time

import pytest
import torch
import torch.nn as nn

import deepforge.training as training
from deepforge.training import Trainer
from deepforge.training.data import epoch_batches


def make_data(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > 0).long() + 2 * (x[:, 0, :, :4].mean((1, 2)) > 0).long()
    return x, y


class TinyNet(nn.Module):
    def __init__(self, dropout=0.2, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(4 * 16, classes)

    def forward(self, x):
        x = torch.relu(self.conv(x))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(self.drop(x.flatten(1)))


def noisy(batch):
    """Augmentation with the global torch RNG: reproducible only if the Trainer seeds each batch."""
    x, y = batch
    return x + 0.1 * torch.randn_like(x), y


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def train(seed=0, model_seed=0, **options):
    torch.manual_seed(model_seed)
    model = TinyNet()
    x, y = make_data()
    defaults = dict(epochs=2, batch_size=32, seed=seed, verbose=False, progress=False, plot=False)
    defaults.update(options)
    trainer = Trainer(model, (x, y), nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.01), **defaults)
    trainer.fit()
    return trainer, state_of(model)


def test_same_seed_same_weights_whatever_the_workers():
    _, main = train(transform=noisy)
    _, again = train(transform=noisy)
    assert_same_state(main, again)
    _, workers = train(transform=noisy, num_workers=2)
    assert_same_state(main, workers)
    _, other_seed = train(seed=1, transform=noisy)
    assert not torch.equal(main["fc.weight"], other_seed["fc.weight"])


def test_thread_workers_with_batch_rng_are_reproducible():
    def augment(batch):
        x, y = batch
        return x + 0.1 * torch.randn(x.shape, generator=training.batch_rng()), y

    _, a = train(transform=augment, num_workers=2, worker_type="thread")
    _, b = train(transform=augment, num_workers=2, worker_type="thread")
    _, main = train(transform=augment)
    assert_same_state(a, b)
    assert_same_state(a, main)


def test_epoch_order_depends_on_seed_and_epoch_only_and_ranks_split_it():
    a = torch.cat(epoch_batches(10, 3, seed=5, epoch=2))
    assert torch.equal(a, torch.cat(epoch_batches(10, 3, seed=5, epoch=2)))
    assert not torch.equal(a, torch.cat(epoch_batches(10, 3, seed=5, epoch=3)))
    assert sorted(a.tolist()) == list(range(10))
    r0 = torch.cat(epoch_batches(10, 2, seed=5, epoch=2, rank=0, world=2))
    r1 = torch.cat(epoch_batches(10, 2, seed=5, epoch=2, rank=1, world=2))
    assert len(r0) == len(r1) == 5 and sorted(torch.cat([r0, r1]).tolist()) == list(range(10))


def test_resume_from_a_checkpoint_continues_bit_identically(tmp_path):
    _, straight = train(epochs=3, transform=noisy, checkpoint_dir=tmp_path / "a")
    first, _ = train(epochs=1, transform=noisy, checkpoint_dir=tmp_path / "b")
    assert (tmp_path / "b" / "last.pt").exists()
    assert not [f for f in os.listdir(tmp_path / "b") if f.endswith(".tmp")]
    # A fresh process would start from other weights and another RNG state: the checkpoint restores both.
    torch.manual_seed(123)
    resumed, after = train(model_seed=99, epochs=3, transform=noisy, checkpoint_dir=tmp_path / "b", resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert_same_state(straight, after)
    state = training.read_checkpoint(tmp_path / "b" / "last.pt")
    assert state["epoch"] == 3 and state["step"] == 3 * 6
    assert set(state["rng"]["ranks"][0]) >= {"torch", "numpy", "python"}


def test_classification_validation_history_and_evaluate(capsys):
    x, y = make_data(256)
    torch.manual_seed(0)
    model = TinyNet(dropout=0.0)
    trainer = Trainer(
        model,
        (x[:192], y[:192]),
        nn.CrossEntropyLoss(),
        val_data=(x[192:].numpy(), y[192:].numpy()),
        learning_rate=0.02,
        epochs=4,
        batch_size=16,
        class_names=["a", "b", "c", "d"],
        progress=False,
        plot=False,
    )
    history = trainer.fit()
    out = capsys.readouterr().out
    assert "TinyNet: epoch 4/4" in out and "val loss" in out and "(error " in out
    assert "correctly classified" in out
    last = history[-1]
    assert last["val_accuracy"] > 0.6 and last["train_accuracy"] > 0.6
    assert abs(last["val_error"] - (1 - last["val_accuracy"])) < 1e-12
    assert set(last["val_per_class"]) == {"a", "b", "c", "d"}
    report = trainer.evaluate()
    assert report["count"] == 64 and report["correct"] == round(last["val_accuracy"] * 64)
    text = training.format_report(report)
    lines = text.splitlines()
    assert lines[0] == "correctly classified %d of 64 images (%.2f %%)" % (report["correct"], 100 * report["accuracy"])
    assert len(lines) == 5 and lines[1].startswith("a  ") and lines[1].endswith(" %")


class PairLoader:
    """Viserion-style loader: size() and get_batch(indices, batch_num, epoch)."""

    def __init__(self, tensor):
        self.tensor = tensor
        self.calls = []

    def size(self):
        return self.tensor.shape

    def get_batch(self, indices, batch_num, epoch):
        self.calls.append((batch_num, epoch, len(indices)))
        return self.tensor[indices]


def test_viserion_loaders_criteria_flows_and_learning_rate_hook(capsys):
    x, y = make_data(64)
    xs, ys = PairLoader(x), PairLoader(y)
    torch.manual_seed(0)
    model = TinyNet()
    seen: dict = {"forward": [], "backward": [], "model": 0, "printed": [], "lrs": []}

    def criteria_flow_forward(idx, output, inputs, targets, previous):
        seen["forward"].append((idx, len(previous)))
        if idx == 0:
            return output, targets
        return output.softmax(1), nn.functional.one_hot(targets, 4).float()

    def criteria_flow_backward(idx, output, inputs, targets, values, previous):
        seen["backward"].append((idx, len(previous)))
        return values[idx] * (1.0 if idx == 0 else 0.5)

    def model_flow_backward(output, terms, inputs, targets):
        seen["model"] += 1
        return terms[0] + terms[1]

    def lr(epoch, current):
        seen["lrs"].append((epoch, current))
        return 0.01 / epoch

    trainer = Trainer(
        model,
        (xs, ys),
        criteria={"ce": nn.CrossEntropyLoss(), "mse": nn.MSELoss()},
        criteria_flow_forward=criteria_flow_forward,
        criteria_flow_backward=criteria_flow_backward,
        model_flow_backward=model_flow_backward,
        criteria_print_out=lambda epoch, training_, values: seen["printed"].append((epoch, training_, sorted(values))),
        custom_learning_rate=lr,
        learning_rate=0.01,
        optimizer=torch.optim.SGD,
        optimizer_options={"momentum": 0.9},
        classification=True,
        epochs=2,
        batch_size=16,
        progress=False,
        plot=False,
    )
    trainer.fit()
    assert xs.calls[:2] == [(0, 1, 16), (1, 1, 16)] and xs.calls[-1] == (3, 2, 16)
    assert seen["forward"][:2] == [(0, 0), (1, 1)] and seen["backward"][:2] == [(0, 0), (1, 1)]
    assert seen["model"] == 8
    assert seen["lrs"] == [(1, 0.01), (2, 0.01)]
    assert trainer.optimizer.param_groups[0]["lr"] == 0.005
    assert seen["printed"] == [(1, True, ["ce", "mse"]), (2, True, ["ce", "mse"])]
    assert "train_ce" in trainer.history[0] and "train_mse" in trainer.history[0]


class PairDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_torch_dataset_and_dataloader_forms_train():
    x, y = make_data(64)
    torch.manual_seed(0)
    m1 = TinyNet()
    Trainer(m1, PairDataset(*make_data()), nn.CrossEntropyLoss(), epochs=1, batch_size=32, verbose=False, progress=False).fit()
    torch.manual_seed(0)
    m2 = TinyNet()
    Trainer(m2, make_data(), nn.CrossEntropyLoss(), epochs=1, batch_size=32, verbose=False, progress=False).fit()
    assert_same_state(state_of(m1), state_of(m2))  # same samples, same order: a Dataset is batched like tensors
    loader = torch.utils.data.DataLoader(PairDataset(x, y), batch_size=16, shuffle=True)
    trainer = Trainer(TinyNet(), loader, nn.CrossEntropyLoss(), epochs=2, verbose=False, progress=False)
    trainer.fit()
    assert trainer.step == 8


def test_debug_mode_prints_shapes_dtypes_devices_and_hints_only_when_on(capsys):
    training.print_debug("hidden")
    train(epochs=1)
    out = capsys.readouterr().out
    assert "[debug]" not in out
    train(epochs=1, debug=True)
    out = capsys.readouterr().out
    assert "[debug] first batch: inputs float32 [32, 1, 8, 8] on cpu" in out
    assert "[debug] model output: float32 [32, 4] on cpu" in out
    assert "[debug] loss: 1×CrossEntropyLoss" in out
    assert "hint:" in out
    assert not training.is_debug()  # back off after fit


def test_amp_on_the_cpu_uses_bfloat16():
    torch.manual_seed(0)
    model = TinyNet()
    seen = []
    x, y = make_data(32)

    def forward(net, inputs):
        out = net(inputs)
        seen.append(out.dtype)
        return out

    Trainer(model, (x, y), nn.CrossEntropyLoss(), epochs=1, batch_size=16, amp=True, device="cpu", forward=forward, verbose=False, progress=False).fit()
    assert seen == [torch.bfloat16, torch.bfloat16]
    assert next(model.parameters()).dtype == torch.float32


def test_metrics_progress_and_plot_reach_deepforge(run_job):
    result = run_job(
        """
        import torch, torch.nn as nn
        from deepforge.training import Trainer

        class Fit():
            def execute(self):
                torch.manual_seed(0)
                x = torch.randn(96, 4); y = (x[:, 0] > 0).long()
                model = nn.Linear(4, 2)
                trainer = Trainer(model, (x, y), nn.CrossEntropyLoss(), val_data=(x, y), epochs=2, batch_size=16, log_every=2)
                trainer.fit()
                return trainer.history[-1]["val_accuracy"]
        """,
        outputs=["accuracy"],
    )
    assert result.returncode == 0, result
    metrics = result.of("metric")
    steps = [m for m in metrics if "loss" in m["values"]]
    epochs = [m for m in metrics if "epoch_loss" in m["values"]]
    assert [m["step"] for m in steps] == [2, 4, 6, 8, 10, 12]
    assert {"accuracy", "loss"} <= set(steps[0]["values"])
    assert [m["step"] for m in epochs] == [1, 2]
    assert {"val_loss", "val_accuracy", "val_error", "lr", "epoch_accuracy"} <= set(epochs[0]["values"])
    bars = result.of("progress")
    assert any(p.get("done") and p.get("desc") == "epoch 2/2" and p["n"] == 6 for p in bars)
    plots = result.plots
    assert plots and {a.get("title") for a in plots[-1]["axes"]} >= {"Linear: loss", "Linear: accuracy"}
    assert "Linear: epoch 2/2" in result.stdout


def test_distributed_on_cpu_matches_one_process_with_the_combined_batch():
    """2 processes (gloo), batch 8 each, average the same gradients as one process with batch 16."""
    x, y = make_data(64)

    def run(**options):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
        trainer = Trainer(model, (x, y), nn.CrossEntropyLoss(), optimizer=torch.optim.SGD, learning_rate=0.1, val_data=(x, y), epochs=2, shuffle=False, verbose=False, progress=False, plot=False, **options)
        trainer.fit()
        return trainer, state_of(model)

    single, one = run(batch_size=16)
    ddp, two = run(batch_size=8, distributed=2, device="cpu")
    assert ddp.step == single.step == 8
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key
    assert ddp.history[-1]["val_accuracy"] == single.history[-1]["val_accuracy"]
    assert abs(ddp.history[-1]["train_loss"] - single.history[-1]["train_loss"]) < 1e-5


def test_distributed_errors_come_back_with_their_class():
    x, y = make_data(64)
    bad = x.clone()
    bad[40:] = float("nan")
    trainer = Trainer(TinyNet(), (bad, y), nn.CrossEntropyLoss(), epochs=1, batch_size=8, shuffle=False, distributed=2, device="cpu", verbose=False, progress=False)
    with pytest.raises(training.NonFiniteLossError, match=r"epoch 1, batch 3 of 4"):
        trainer.fit()


def test_distributed_spawn_needs_picklable_hooks():
    x, y = make_data(32)
    trainer = Trainer(TinyNet(), (x, y), nn.CrossEntropyLoss(), custom_learning_rate=lambda e, lr: lr, distributed=2, device="cpu", start_method="spawn", verbose=False, progress=False)
    with pytest.raises(training.TrainingError, match=r"custom_learning_rate \(function\) cannot be pickled.*lambdas"):
        trainer.fit()


def test_model_serializer_stores_class_config_and_weights(tmp_path):
    from deepforge import serialization
    from deepforge.training.serialization import dump_module, load_module

    name = serialization.register(nn.Module, dump_module, load_module)
    try:
        model = ConfigNet(hidden=5).eval()
        path = tmp_path / "model"
        assert serialization.dumps_to(path, model) == name == "torch.nn.modules.module.Module"
        raw = torch.load(path)
        assert raw["class"] == "test_training.ConfigNet" and raw["config"] == {"hidden": 5, "classes": 3}
        loaded = serialization.load_from(path, name)
        assert isinstance(loaded, ConfigNet) and not loaded.training
        assert_same_state(state_of(model), state_of(loaded))
        plain = nn.Sequential(nn.Linear(2, 2))
        serialization.dumps_to(path, plain)
        assert_same_state(state_of(plain), state_of(serialization.load_from(path, name)))
    finally:
        serialization.unregister(nn.Module)


@training.configurable
class ConfigNet(nn.Module):
    def __init__(self, hidden=4, classes=3):
        super().__init__()
        self.layer = nn.Linear(hidden, classes)


def test_distributed_with_spawn_as_for_gpus():
    """GPUs need start_method='spawn': the Trainer is pickled to fresh interpreters (here 2 CPU processes)."""
    x, y = make_data(64)

    def run(**options):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
        trainer = Trainer(model, (x, y), nn.CrossEntropyLoss(), learning_rate=0.05, epochs=1, shuffle=False, verbose=False, progress=False, plot=False, **options)
        trainer.fit()
        return state_of(model)

    one = run(batch_size=16)
    two = run(batch_size=8, distributed=2, device="cpu", start_method="spawn")
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-5), key


class _Holder:
    """What _leave_group needs of a Trainer: its DDP wrapper in ``_net``."""

    _net: object = None


def _leave_with_a_collective_in_flight(rank, init_file):
    import torch.distributed as dist
    from deepforge.training.distributed import _leave_group

    dist.init_process_group("gloo", init_method="file://" + init_file, rank=rank, world_size=2)
    holder = _Holder()
    holder._net = torch.nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
    if rank == 1:
        time.sleep(1.0)  # rank 0 starts leaving while a gloo worker of its own still runs the collective below
    t = torch.ones(2)
    work = dist.all_reduce(t, async_op=True)
    if rank == 1:
        work.wait()
    del t, work  # the worker thread, not Python, now frees the tensor's Python object: it needs the GIL
    _leave_group(holder)


def test_distributed_ranks_leave_the_process_group_without_deadlock(tmp_path):
    """torch deadlocks if DDP's reducer frees a gloo group while a worker needs the GIL (see distributed.py)."""
    import torch.multiprocessing as mp

    context = mp.start_processes(_leave_with_a_collective_in_flight, args=(str(tmp_path / "rendezvous"),), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + 90
    try:
        while not context.join(timeout=0.5):
            assert time.monotonic() < deadline, "a rank hung while leaving the process group"
    finally:
        for p in context.processes:
            if p.is_alive():
                p.kill()
                p.join(5)


def test_distributed_reports_the_failure_not_the_peers_lost_connection():
    x, y = make_data(64)
    bad = x.clone()
    bad[41] = float("nan")  # in rank 1's share only: rank 0 then loses its peer in the gradients' all-reduce
    trainer = Trainer(TinyNet(), (bad, y), nn.CrossEntropyLoss(), epochs=1, batch_size=8, shuffle=False, distributed=2, device="cpu", verbose=False, progress=False)
    with pytest.raises(training.NonFiniteLossError, match=r"epoch 1, batch 3 of 4") as caught:
        trainer.fit()
    assert "in distributed process 1" in str(caught.value.__cause__)


def test_distributed_rank_stuck_after_training_is_stopped(monkeypatch, capsys):
    from deepforge.training import distributed

    leave = distributed._leave_group

    def stuck(trainer):
        if trainer.rank == 1:
            time.sleep(600)
        leave(trainer)

    monkeypatch.setattr(distributed, "_leave_group", stuck)  # fork: the ranks inherit the patched module
    monkeypatch.setattr(distributed, "_EXIT_GRACE_S", 1)
    trainer, trained = train(epochs=1, distributed=2, device="cpu", start_method="fork")
    assert trainer.epoch == 1 and len(trainer.history) == 1
    assert "process 1 still running 1 s after training ended: stopped" in capsys.readouterr().err


def test_tune_allocator_keeps_training_results():
    assert training.tune_allocator() is True  # glibc (Debian)
    _, plain = train(epochs=1)
    _, tuned = train(epochs=1, tune_allocator=True)
    assert_same_state(plain, tuned)
