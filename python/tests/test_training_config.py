"""deepforge.training's keyword groups: Trainer(model, data, data=DataConfig(…), optim=OptimConfig(…), …)."""

import dataclasses
import inspect

import pytest
import torch
import torch.nn as nn

from deepforge.training import (
    CheckpointConfig,
    DataConfig,
    DeviceConfig,
    LossConfig,
    OptimConfig,
    ReportingConfig,
    Trainer,
    fit,
)
from deepforge.training.config import CONFIG_GROUPS

# What stays a plain argument: the run's subject (model, data, criterion, optimizer) and its length and seed.
UNGROUPED = {"self", "model", "train_data", "criterion", "optimizer", "epochs", "seed"}


def make_data(n=96):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(n, 8, generator=g)
    return x, (x[:, 0] > 0).long()


def make_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def on_epoch(trainer, epoch, record):  # a hook shared by both call styles, so they can be compared by identity
    pass


def shift_lr(epoch, lr):
    return lr * 0.5


def flat_signature():
    return inspect.signature(Trainer.__init__.__wrapped__).parameters


def test_every_trainer_keyword_is_in_exactly_one_group_with_the_same_default():
    grouped: dict[str, str] = {}
    for keyword, cls in CONFIG_GROUPS.items():
        for field in dataclasses.fields(cls):
            assert field.name not in grouped, "%s is in %s and %s" % (field.name, grouped.get(field.name), keyword)
            grouped[field.name] = keyword
            assert field.default == flat_signature()[field.name].default, field.name
    assert set(flat_signature()) - UNGROUPED == set(grouped)
    # help(Trainer) shows the groups beside the keywords.
    shown = inspect.signature(Trainer.__init__).parameters
    assert all(shown[k].kind is inspect.Parameter.KEYWORD_ONLY for k in CONFIG_GROUPS)


# The same non-default settings, flat and grouped.
FLAT = dict(
    batch_size=16,
    eval_batch_size=32,
    shuffle=False,
    drop_last=True,
    num_workers=0,
    worker_type="thread",
    pin_memory=False,
    criteria_print_out=None,
    learning_rate=0.05,
    optimizer_options={"momentum": 0.5},
    custom_learning_rate=shift_lr,
    grad_clip=1.0,
    device="cpu",
    distributed=False,
    num_threads=1,
    checkpoint_every=2,
    save_state=on_epoch,
    classification=True,
    num_classes=2,
    class_names=["neg", "pos"],
    log=False,
    log_every=3,
    plot=False,
    plot_interval=1.5,
    progress=False,
    verbose=False,
    name="Tiny",
)


def grouped_options(tmp_path, val):
    return dict(
        data=DataConfig(
            val_data=val, batch_size=16, eval_batch_size=32, shuffle=False, drop_last=True, worker_type="thread", pin_memory=False
        ),
        optim=OptimConfig(learning_rate=0.05, optimizer_options={"momentum": 0.5}, custom_learning_rate=shift_lr, grad_clip=1.0),
        devices=DeviceConfig(device="cpu", distributed=False, num_threads=1),
        checkpoints=CheckpointConfig(checkpoint_dir=tmp_path, checkpoint_every=2, save_state=on_epoch),
        reporting=ReportingConfig(
            classification=True,
            num_classes=2,
            class_names=["neg", "pos"],
            log=False,
            log_every=3,
            plot=False,
            plot_interval=1.5,
            progress=False,
            verbose=False,
            name="Tiny",
        ),
    )


def settings(trainer):
    """The Trainer's configuration, without the objects each construction makes anew."""
    fresh = {"model", "optimizer", "train_source", "val_source", "criteria", "_net", "checkpoint_dir"}
    out = {k: v for k, v in vars(trainer).items() if k not in fresh}
    out["optimizer"] = (type(trainer.optimizer).__name__, trainer.optimizer.defaults)
    out["criteria"] = [(c.name, c.weight) for c in trainer.criteria]
    out["val_samples"] = trainer.val_source.size() if trainer.val_source is not None else None
    return out


def test_keywords_and_groups_give_the_same_configuration_and_the_same_training(tmp_path):
    x, y = make_data()
    flat = Trainer(
        make_model(), (x, y), nn.CrossEntropyLoss(), torch.optim.SGD,
        val_data=(x[:32], y[:32]), checkpoint_dir=tmp_path / "flat", epochs=2, seed=5, **FLAT,
    )  # fmt: skip
    grouped = Trainer(
        make_model(), (x, y), nn.CrossEntropyLoss(), torch.optim.SGD, epochs=2, seed=5,
        **grouped_options(tmp_path / "grouped", (x[:32], y[:32])),
    )  # fmt: skip
    assert settings(flat) == settings(grouped)
    assert settings(flat)["batch_size"] == 16 and settings(flat)["learning_rate"] == 0.05  # not the defaults
    assert flat.optimizer.defaults["momentum"] == 0.5
    flat.fit()
    grouped.fit()
    untimed = [[{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in t.history] for t in (flat, grouped)]
    assert untimed[0] == untimed[1] and len(untimed[0]) == 2
    for a, b in zip(flat.model.parameters(), grouped.model.parameters()):
        assert torch.equal(a, b)
    assert sorted(p.name for p in (tmp_path / "grouped").iterdir()) == ["best.pt", "last.pt"]


def test_groups_and_flat_keywords_mix_when_they_set_different_things():
    x, y = make_data()
    t = Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), data=DataConfig(batch_size=8), shuffle=False, verbose=False)
    assert (t.batch_size, t.shuffle, t.eval_batch_size) == (8, False, 256)
    # A field a group leaves out keeps the keyword's value, not the group's default.
    t = Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), batch_size=12, data=DataConfig(shuffle=False))
    assert (t.batch_size, t.shuffle) == (12, False)
    # Several criteria through LossConfig, and fit() takes groups too.
    loss = LossConfig(criteria={"ce": nn.CrossEntropyLoss(), "ce2": (nn.CrossEntropyLoss(), 0.5)})
    t = fit(make_model(), (x, y), loss=loss, epochs=1, reporting=ReportingConfig(verbose=False, progress=False, plot=False, log=False))
    assert [(c.name, c.weight) for c in t.criteria] == [("ce", 1.0), ("ce2", 0.5)]
    assert "train_ce2" in t.history[0]


def test_a_keyword_given_both_ways_is_a_type_error_naming_it():
    x, y = make_data()
    with pytest.raises(TypeError, match=r"Trainer got batch_size twice: as the keyword batch_size=… and in data=DataConfig\(batch_size=…\)"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), batch_size=32, data=DataConfig(batch_size=16))
    # Even when both give the same value: one place to read it.
    with pytest.raises(TypeError, match="learning_rate twice"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), learning_rate=0.1, optim=OptimConfig(0.1))
    with pytest.raises(TypeError, match=r"devices=DeviceConfig\(amp=…\)"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), amp=True, devices=DeviceConfig(amp=True))


def test_a_group_of_the_wrong_kind_or_field_is_a_clear_error():
    x, y = make_data()
    with pytest.raises(TypeError, match=r"Trainer\(data=…\) must be a deepforge.training.DataConfig, got dict"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), data={"batch_size": 8})
    with pytest.raises(TypeError, match=r"Trainer\(optim=…\) must be a deepforge.training.OptimConfig, got DataConfig"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), optim=DataConfig())
    with pytest.raises(TypeError, match=r"give the group as devices=DeviceConfig"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), device=DeviceConfig(device="cpu"))
    with pytest.raises(TypeError, match="batchsize"):
        DataConfig(batchsize=8)  # type: ignore[call-arg]  # the misspelt keyword is what this checks
    # The Trainer's own checks still run on what a group gives.
    with pytest.raises(Exception, match="batch_size must be an integer >= 1, got 0"):
        Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), data=DataConfig(batch_size=0))


def test_a_group_is_frozen_and_can_be_shared():
    data = DataConfig(batch_size=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.batch_size = 4  # type: ignore[misc]  # assigning to a frozen group is what this checks
    x, y = make_data()
    a = Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), data=data)
    b = Trainer(make_model(), (x, y), nn.CrossEntropyLoss(), data=data, epochs=3)
    assert (a.batch_size, b.batch_size, b.epochs) == (8, 8, 3)
    assert DataConfig(batch_size=8) == data and DataConfig() != data
