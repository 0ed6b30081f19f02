"""One training engine for every model.

The engine knows nothing about hearts: a *task* says how a batch becomes a loss
(`task.loss(model, batch)`) and, optionally, how a model is scored on validation data
(`task.validate(model, loader, device) -> dict`). The engine does the rest:

1. seeds every random generator, so a CPU run is repeatable;
2. builds the optimiser and the per-epoch learning-rate schedule from the config;
3. runs the epochs with progress bars, optional mixed precision (one loss scaler for
   the whole run when float16 needs one) and gradient clipping;
4. keeps the best checkpoint by ``config.monitor``, and stops early when it stalls for
   ``config.early_stopping_patience`` epochs; a monitor that validation does not
   return is an error at the first validation, not a silently frozen ``best.pt``;
5. writes one checkpoint per epoch (model, optimiser, scheduler, loss scaler, RNG
   states, epoch, history) and appends the epoch's metrics to ``metrics.jsonl`` and
   ``metrics.csv``;
6. resumes from the last checkpoint, ending with the same weights as a run that was
   never interrupted (the RNG and loss-scaler states are restored, the data order is
   a function of the seed and the epoch);
7. under ``torchrun --nproc_per_node N`` it uses DistributedDataParallel and a
   DistributedSampler; only rank 0 validates and writes files, and it tells the
   other ranks whether the epoch improved, so every rank stops at the same epoch.

Checkpoints hold only tensors and plain Python values, so they load with
``torch.load(path, weights_only=True)``: no pickle from anyone is ever executed.
"""
from __future__ import annotations

import csv
import json
import math
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from cardiolab.devices import channels_last_3d, resolve_device  # noqa: F401  re-exported: older callers import them here
from cardiolab.train.config import TrainConfig

LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


# --- small helpers ----------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every RNG state as tensors and plain values (safe for weights_only loading)."""
    numpy_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_as_tuple(state["python"]))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def to_device(batch, device, channels_last: bool = False):
    """Move every tensor of a (nested) batch to ``device`` (5D float ones channels-last if asked)."""
    if torch.is_tensor(batch):
        batch = batch.to(device, non_blocking=True)
        if channels_last and batch.ndim == 5 and batch.is_floating_point():
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        return batch
    if isinstance(batch, dict):
        return {key: to_device(value, device, channels_last) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device, channels_last) for value in batch)
    return batch


def build_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.lr, alpha=config.momentum, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use adam, adamw, sgd or rmsprop")


def lr_factor(config: TrainConfig, epoch: int) -> float:
    """Learning-rate multiplier for a 0-based epoch."""
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "poly":
        # [seed 000] Sec. 3.3: alpha = alpha0 (1 - eta / N_eta)^0.9
        return (1.0 - epoch / config.epochs) ** config.poly_power
    if config.schedule == "step":
        # [seed 004] Sec. 4: constant for 20 epochs, then x0.97 per epoch
        return config.step_gamma ** max(0, epoch - config.step_after_epochs)
    raise ValueError(f"unknown schedule {config.schedule!r}; use constant, poly or step")


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash while saving never leaves a half-written checkpoint."""
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load a checkpoint without executing any pickled code."""
    return torch.load(path, map_location=map_location, weights_only=True)


# --- distributed ------------------------------------------------------------------------
@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistributedContext:
    """Join the process group that torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size())


# --- the loop -----------------------------------------------------------------------------
@dataclass
class TrainResult:
    history: list = field(default_factory=list)  # one dict of metrics per epoch
    out_dir: Path | None = None
    stopped_early: bool = False


def fit(model: torch.nn.Module, task, train_set: Dataset, config: TrainConfig, val_set: Dataset | None = None,
        resume: bool = False, stop_after_epochs: int | None = None) -> TrainResult:
    """Train ``model`` on ``train_set`` for ``config.epochs`` epochs (see the module docstring).

    ``stop_after_epochs`` ends the call early without touching the schedule, to simulate
    a run that was killed (the resume test uses it).
    """
    device = resolve_device(config.device)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    context = init_distributed(device)
    out_dir = Path(config.out_dir)
    if context.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(config.seed)
    model = model.to(device)
    if config.channels_last:
        model = channels_last_3d(model)
    optimizer = build_optimizer(config, model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: lr_factor(config, epoch))
    scaler = _grad_scaler(config, device)
    history, start_epoch, best = [], 0, None
    if resume and (out_dir / LAST_CHECKPOINT).is_file():
        state = load_checkpoint(out_dir / LAST_CHECKPOINT, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # An empty state comes from a disabled scaler (or an older checkpoint): keep the fresh one.
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        history, start_epoch, best = list(state["history"]), state["epoch"] + 1, state.get("best")
    trained = torch.nn.parallel.DistributedDataParallel(model) if context.enabled else model
    sampler = DistributedSampler(train_set, shuffle=True, seed=config.seed) if context.enabled else None
    result = TrainResult(history=history, out_dir=out_dir)
    epochs_without_gain = _epochs_without_gain(history, config)
    last_epoch = config.epochs if stop_after_epochs is None else min(config.epochs, start_epoch + stop_after_epochs)
    for epoch in range(start_epoch, last_epoch):
        loader = _epoch_loader(train_set, config, epoch, sampler)
        train_loss = _train_one_epoch(trained, task, loader, optimizer, scaler, config, device, epoch, context)
        scheduler.step()
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss}
        if val_set is not None and context.is_main:
            val_metrics = _validate(model, task, val_set, config, device)
            _require_monitor(config, record, val_metrics)
            record.update(val_metrics)
        history.append(record)
        # Only rank 0 validated: its verdict is every rank's, so the patience counts, and
        # with them the epoch at which each rank stops, agree (or the ranks would hang).
        improved = _decided_by_rank0(_improved(record, best, config), device, context)
        if improved:
            best = {"epoch": epoch, config.monitor: record.get(config.monitor)}
        epochs_without_gain = 0 if improved else epochs_without_gain + 1
        if context.is_main:
            state = _checkpoint_state(model, optimizer, scheduler, scaler, config, epoch, history, best)
            save_checkpoint(out_dir / LAST_CHECKPOINT, state)
            if improved:
                save_checkpoint(out_dir / BEST_CHECKPOINT, state)
            _append_log(out_dir, record)
        if config.early_stopping_patience and epochs_without_gain >= config.early_stopping_patience:
            result.stopped_early = True
            break
    if context.enabled:
        dist.barrier()
    return result


def _epoch_loader(train_set, config, epoch, sampler) -> DataLoader:
    if sampler is not None:
        sampler.set_epoch(epoch)
        return DataLoader(train_set, batch_size=config.batch_size, sampler=sampler)
    # The order of an epoch depends only on (seed, epoch): a resumed run sees the same batches.
    generator = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    return DataLoader(train_set, batch_size=config.batch_size, shuffle=True, generator=generator)


def _autocast(device: torch.device, enabled: bool):
    if not enabled:
        return nullcontext()
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _grad_scaler(config, device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler of a whole run (its scale adapts across epochs and is checkpointed).

    Only float16, the CUDA autocast type, needs loss scaling; bfloat16, the CPU's, has
    float32's range, so there the scaler is disabled (it passes everything through).
    """
    return torch.amp.GradScaler(device.type, enabled=config.amp and device.type == "cuda")


def _train_one_epoch(model, task, loader, optimizer, scaler, config, device, epoch, context) -> float:
    model.train()
    total, count = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
               disable=not (config.progress and context.is_main))
    for batch in bar:
        batch = to_device(batch, device, config.channels_last)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, config.amp):
            loss = task.loss(model, batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch}: lower the learning rate or check the data")
        scaler.scale(loss).backward()
        if config.grad_clip_norm:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        scaler.step(optimizer)
        scaler.update()
        total += loss.item()
        count += 1
        bar.set_postfix(loss=f"{total / count:.4f}")
    return total / max(count, 1)


def _validate(model, task, val_set, config, device) -> dict:
    model.eval()
    loader = DataLoader(val_set, batch_size=config.batch_size, shuffle=False)
    with torch.no_grad():
        if hasattr(task, "validate"):
            return {f"val_{k}" if not k.startswith("val_") else k: v for k, v in task.validate(model, loader, device).items()}
        losses = [task.loss(model, to_device(batch, device)).item() for batch in loader]
    return {"val_loss": float(np.mean(losses))}


def _require_monitor(config, train_metrics: dict, val_metrics: dict) -> None:
    """Fail at the first validation when ``config.monitor`` is no metric of the epoch.

    A missing (or mistyped) key would otherwise never improve: best.pt would silently
    stay at epoch 0 and early stopping would end the run after ``patience`` epochs.
    """
    if config.monitor not in train_metrics and config.monitor not in val_metrics:
        raise ValueError(f"monitor {config.monitor!r} is not a metric of the epoch: validation returned "
                         f"{sorted(val_metrics)} (the task's keys, prefixed 'val_'), training {sorted(train_metrics)}; "
                         f"fix config.monitor or the task's validate")


def _decided_by_rank0(decision: bool, device: torch.device, context: DistributedContext) -> bool:
    """Rank 0's ``decision`` on every rank (a no-op without DDP)."""
    if not context.enabled:
        return decision
    flag = torch.tensor([int(decision)], device=device)  # on the device: NCCL sends only CUDA tensors
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _improved(record, best, config) -> bool:
    value = record.get(config.monitor, record.get("train_loss") if config.monitor == "val_loss" else None)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return best is None
    if best is None or best.get(config.monitor) is None:
        return True
    return value < best[config.monitor] if config.monitor_mode == "min" else value > best[config.monitor]


def _epochs_without_gain(history, config) -> int:
    count, best = 0, None
    for record in history:
        if _improved(record, best, config):
            best, count = {config.monitor: record.get(config.monitor)}, 0
        else:
            count += 1
    return count


def _checkpoint_state(model, optimizer, scheduler, scaler, config, epoch, history, best) -> dict:
    from dataclasses import asdict, is_dataclass

    model_config = getattr(model, "config", None)
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),  # plain floats and ints ({} when disabled)
        "rng": rng_state(),
        "epoch": epoch,
        "history": history,
        "best": best,
        "config": config.to_dict(),
        "model_name": getattr(model, "model_name", type(model).__name__),
        "model_config": asdict(model_config) if is_dataclass(model_config) else {},
    }


def _append_log(out_dir: Path, record: dict) -> None:
    with open(out_dir / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
    csv_path = out_dir / "metrics.csv"
    new_file = not csv_path.exists()
    with open(csv_path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(record))
        if new_file:
            writer.writeheader()
        writer.writerow(record)
