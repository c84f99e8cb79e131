"""The Trainer's keyword arguments in groups: ``Trainer(model, train_data, data=DataConfig(batch_size=128), …)``.

Each group is a frozen dataclass whose fields are the Trainer keywords of that name and default, so a group can
be built once and shared between runs. Flat keywords keep working (``Trainer(model, data, batch_size=128)``);
a keyword set both in a group and as a flat keyword is a ``TypeError`` naming it. A field left out of a group
does not count as set: ``data=DataConfig(batch_size=128), shuffle=False`` is fine.
"""

import dataclasses
import functools
import inspect

__all__ = [
    "DataConfig",
    "LossConfig",
    "OptimConfig",
    "DeviceConfig",
    "CheckpointConfig",
    "ReportingConfig",
    "CONFIG_GROUPS",
    "apply_configs",
]


class _Group:
    """Base of the groups: remembers which fields its caller set (only those can clash with a keyword).

    In ``__new__``, which gets the same arguments as the dataclass's ``__init__``: that ``__init__`` stays the
    generated one, which type checkers and ``help()`` read.
    """

    _given: frozenset

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))
        return self


@dataclasses.dataclass(frozen=True)
class DataConfig(_Group):
    """How batches are made. ``val_data``: evaluated after each epoch (the same forms as ``train_data``).
    ``batch_size`` (per process), ``eval_batch_size`` (None: ``max(batch_size, 256)``), ``shuffle``,
    ``drop_last``; ``transform(batch) -> batch`` on each training batch where it is fetched; ``num_workers``
    (0: the main process), ``worker_type`` ('process' or 'thread'), ``prefetch_factor``,
    ``persistent_workers``, ``pin_memory`` ('auto': when training on CUDA)."""

    val_data: object = None
    batch_size: int = 64
    eval_batch_size: object = None
    shuffle: bool = True
    drop_last: bool = False
    transform: object = None
    num_workers: int = 0
    worker_type: str = "process"
    prefetch_factor: int = 2
    persistent_workers: bool = True
    pin_memory: object = "auto"


@dataclasses.dataclass(frozen=True)
class LossConfig(_Group):
    """Several criteria and Viserion's custom flow. ``criteria`` (a list, a list of ``(criterion, weight)`` or
    a dict name → criterion or ``(criterion, weight)``) with ``weights``; ``forward(model, inputs)``,
    ``criteria_flow_forward``, ``criteria_flow_backward``, ``model_flow_backward``, ``criteria_print_out``
    (see docs/training.md, "Model, criteria, custom flow"). One ``criterion`` stays the Trainer's third
    argument."""

    criteria: object = None
    weights: object = None
    forward: object = None
    criteria_flow_forward: object = None
    criteria_flow_backward: object = None
    model_flow_backward: object = None
    criteria_print_out: object = None


@dataclasses.dataclass(frozen=True)
class OptimConfig(_Group):
    """How the optimizer is built and driven. ``learning_rate`` and ``optimizer_options`` (for an optimizer
    class, or Adam when there is no optimizer), ``custom_learning_rate(epoch, current_lr) -> lr`` before each
    epoch, a torch ``scheduler`` stepped after each epoch, ``grad_clip`` (max gradient norm). The optimizer
    itself stays the Trainer's fourth argument."""

    learning_rate: object = None
    optimizer_options: object = None
    custom_learning_rate: object = None
    scheduler: object = None
    grad_clip: object = None


@dataclasses.dataclass(frozen=True)
class DeviceConfig(_Group):
    """Where and how it runs. ``device`` ('auto', 'cpu', 'cuda', 'cuda:1' or a list), ``distributed``
    ('auto', True, False or a number of processes), ``backend``, ``start_method``, ``sync_batchnorm``,
    ``amp`` (True, 'fp16', 'bf16'), ``num_threads``, ``tune_allocator``."""

    device: object = "auto"
    distributed: object = "auto"
    backend: object = None
    start_method: object = None
    sync_batchnorm: bool = False
    amp: object = False
    num_threads: object = None
    tune_allocator: bool = False


@dataclasses.dataclass(frozen=True)
class CheckpointConfig(_Group):
    """``checkpoint_dir`` (``last.pt`` every ``checkpoint_every`` epochs, ``best.pt`` on the best validation),
    ``resume`` (True: ``checkpoint_dir/last.pt`` when it exists; or a path), ``save_state(trainer, epoch,
    record)`` after each epoch."""

    checkpoint_dir: object = None
    checkpoint_every: int = 1
    resume: object = None
    save_state: object = None


@dataclasses.dataclass(frozen=True)
class ReportingConfig(_Group):
    """Metrics and what is shown. ``classification`` (None: yes for CrossEntropyLoss / NLLLoss),
    ``num_classes``, ``class_names``, ``debug``, ``progress`` and ``plot`` ('auto'), ``log`` (deepforge.log),
    ``log_every`` (steps), ``plot_interval`` (seconds), ``verbose`` (the epoch lines), ``name``."""

    classification: object = None
    num_classes: object = None
    class_names: object = None
    debug: bool = False
    progress: object = "auto"
    log: bool = True
    log_every: int = 10
    plot: object = "auto"
    plot_interval: float = 5.0
    verbose: bool = True
    name: object = None


# The Trainer's keyword for each group.
CONFIG_GROUPS: dict[str, type[_Group]] = {
    "data": DataConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "devices": DeviceConfig,
    "checkpoints": CheckpointConfig,
    "reporting": ReportingConfig,
}


def apply_configs(init):
    """Wraps ``Trainer.__init__``: spreads each group given (``data=DataConfig(…)``, …) into the flat keywords.

    The flat keywords are the one place the Trainer reads, so both call styles end in the same state. A field
    set in a group and given as a flat keyword too is refused, naming both, rather than one silently winning.
    """
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        for keyword, cls in CONFIG_GROUPS.items():
            group = kwargs.pop(keyword, None)
            if group is None:
                continue
            if not isinstance(group, cls):
                raise TypeError(
                    "Trainer(%s=…) must be a deepforge.training.%s, got %s" % (keyword, cls.__name__, type(group).__name__)
                )
            for field in dataclasses.fields(cls):
                if field.name in kwargs:
                    if field.name in group._given:
                        raise TypeError(
                            "Trainer got %s twice: as the keyword %s=… and in %s=%s(%s=…); give it once"
                            % (field.name, field.name, keyword, cls.__name__, field.name)
                        )
                    continue
                kwargs[field.name] = getattr(group, field.name)
        device = kwargs.get("device")
        if isinstance(device, DeviceConfig):
            raise TypeError("Trainer(device=DeviceConfig(…)): give the group as devices=DeviceConfig(…)")
        return init(self, *args, **kwargs)

    # help(Trainer) shows the flat keywords and the groups.
    params = list(signature.parameters.values())
    extra = [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=None) for k in CONFIG_GROUPS]
    kinds = [p.kind for p in params]
    at = kinds.index(inspect.Parameter.KEYWORD_ONLY) if inspect.Parameter.KEYWORD_ONLY in kinds else len(params)
    # inspect.signature reads __signature__ off any function; typeshed's FunctionType does not declare it.
    __init__.__signature__ = signature.replace(parameters=params[:at] + extra + params[at:])  # type: ignore[attr-defined]
    return __init__
