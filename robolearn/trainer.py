"""The one training loop, for every pretraining objective and every policy head.

A model given to `fit` is a `robolearn.trainable.Trainable`: `train_loss(batch) -> (loss, metrics)`,
`param_groups()` (each group is gradient-clipped on its own, as DynaMo clips encoder, inverse and
forward models separately), `configure_optimizers(cfg)` (one AdamW; CCL has one optimizer per
network) and `after_step(step, total_steps)` (EMA updates).

Schedule: linear warmup, then cosine decay to zero. bf16 autocast on CUDA (`amp="auto"`), optional
`torch.compile`. Checkpoints (weights and optimizer state in safetensors, a manifest with their
hashes; see robolearn.checkpoint) every `checkpoint_every` steps; a run started again in the same
folder resumes from the newest intact one, data order included.

Under torchrun (robolearn.distributed) the same loop runs on every rank: the model is wrapped in
DistributedDataParallel (gradients averaged over the ranks), BatchNorm becomes SyncBatchNorm on GPUs,
each rank reads its shard of every global batch, and only rank 0 logs, validates and checkpoints.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from robolearn import distributed as dist
from robolearn.checkpoint import resume, save_checkpoint
from robolearn.settings import OptimConfig, resolve_optim
from robolearn.errors import RobolearnError
from robolearn.trainable import Trainable


def pick_device(name: str = "auto") -> torch.device:
    """auto: cuda when available, else cpu. Under torchrun: this rank's device, and the process
    group is joined here (robolearn.distributed.setup)."""
    return dist.setup(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def lr_lambda(warmup: int, total: int, schedule: str = "cosine") -> Callable[[int], float]:
    """Multiplier of the peak lr at `step`: linear warmup, then cosine decay to 0 ("cosine"), or
    1 throughout ("constant": DynaMo's forward model, whose lr the official code never decays)."""
    if schedule == "constant":
        return lambda step: 1.0
    if schedule != "cosine":
        raise RobolearnError(f"unknown lr schedule '{schedule}' (cosine | constant)")

    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


def infinite(loader: Iterable, start_step: int = 0) -> Iterator:
    """Batches from `loader`, re-iterated epoch after epoch. A sharded loader is first pointed at the
    start_step'th batch of the run (a resumed run continues the data order where it stopped)."""
    dist.set_position(loader, start_step)
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            raise RuntimeError("the training data produced no batch")


# ----------------------------------------------------------------------------- the loop
@dataclass
class _Run:
    """What the step loop and its periodic work (logging, validation, checkpoints) share."""
    model: Trainable
    cfg: OptimConfig
    device: torch.device
    run_dir: Path
    opts: list
    scheds: list
    tracker: object
    world: int
    main: bool


def fit(
    model: Trainable,
    data: Iterable,
    cfg: OptimConfig,
    run_dir: Path,
    tracker=None,
    validate: Optional[Callable[[int], dict]] = None,
    desc: str = "train",
    device: Optional[torch.device] = None,
) -> dict:
    """Train `model` for cfg.steps steps on batches from `data` (re-iterated as needed).

    Returns the last logged metrics (on rank 0; the other ranks get their own). Resumes from the
    newest intact checkpoint under `run_dir/checkpoint` when there is one. Under torchrun `data` must
    yield this rank's shard (robolearn.distributed.sharded_loader, or a rank-aware sampler).
    """
    cfg = resolve_optim(cfg, {})  # callers normally resolve with the method's defaults first
    device = device or pick_device(cfg.device)
    world, main = dist.world_size(), dist.is_main()
    if world > 1 and not dist.is_sharded(data):
        raise RobolearnError("fit under torchrun needs data sharded by rank "
                             "(robolearn.distributed.sharded_loader or a rank-aware sampler)")
    synced_bn = _place_model(model, device, world, main)
    opts, scheds = _optimizers(model, cfg)
    run = _Run(model, cfg, device, Path(run_dir), opts, scheds, tracker, world, main)
    start = _resume(run)
    loss_fn, autocast = _loss_fn(model, cfg, device, world)
    last = _step_loop(run, loss_fn, autocast, data, start, validate, desc)
    if synced_bn:
        dist.revert_sync_batchnorm(model)
    model.eval()
    return last


def _place_model(model: Trainable, device: torch.device, world: int, main: bool) -> bool:
    """Move the model to `device` (channels_last on CUDA); True when its BatchNorm became SyncBatchNorm."""
    model.to(device)
    synced_bn = False
    if device.type == "cuda":
        if world > 1:
            # Per-rank batch statistics would make BatchNorm see only batch/world samples.
            synced_bn = dist.convert_sync_batchnorm(model)
        # Conv weights in channels_last match the encoder's channels_last inputs (tensor cores).
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    elif world > 1 and dist.has_batchnorm(model) and main:
        tqdm.write("note: BatchNorm on CPU ranks uses per-rank batch statistics (SyncBatchNorm needs GPUs); "
                   "--encoder.norm group avoids batch statistics altogether")
    return synced_bn


def _optimizers(model: Trainable, cfg: OptimConfig) -> tuple[list, list]:
    """The model's optimizers and their lr schedules."""
    opts = model.configure_optimizers(cfg)
    # One schedule per parameter group: a group may say {"schedule": "constant"} (DynaMo's forward model).
    scheds = [torch.optim.lr_scheduler.LambdaLR(
        o, [lr_lambda(cfg.warmup_steps, cfg.steps, g.get("schedule", "cosine")) for g in o.param_groups])
        for o in opts]
    return opts, scheds


def _resume(run: _Run) -> int:
    """The step to start from: the newest intact checkpoint's (restored into model, optimizers and
    schedules), else 0. Also seeds each rank's own random stream."""
    start, manifest = resume(run.run_dir, run.model, run.opts, run.scheds, log=tqdm.write)
    world, tracker = run.world, run.tracker
    if manifest is not None:
        if run.main:
            then = manifest.get("world_size", 1)
            note = f" (written by {then} process(es), now {world})" if then != world else ""
            tqdm.write(f"resumed from step {start} ({manifest['dir']}){note}")
            if tracker is not None:
                tracker.log({"resumed_from": start}, step=start)
    if tracker is not None and world > 1:
        tracker.log({"world_size": world, "global_batch": run.cfg.batch_size * world}, step=start)
    if world > 1:
        # Different random streams per rank (dropout, augmentation); rank 0 keeps the 1-process one.
        torch.manual_seed(run.cfg.seed + 1_000_003 * dist.rank())
    return start


def _loss_fn(model: Trainable, cfg: OptimConfig, device: torch.device, world: int) -> tuple[Callable, Callable]:
    """The loss to call each step (DDP-wrapped under torchrun, compiled when asked) and its autocast."""
    use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    trainable = any(p.requires_grad for p in model.parameters())
    if world > 1 and trainable:
        ddp = dist.wrap_model(model, device)
        # Compiling the DDP module lets dynamo split graphs at the all-reduce buckets.
        loss_fn = torch.compile(ddp) if cfg.compile else ddp
    else:
        # Compile the loss (encoder + objective forward); the optimizer step stays eager.
        loss_fn = torch.compile(model.train_loss) if cfg.compile else model.train_loss
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
    )
    return loss_fn, autocast


def _step_loop(run: _Run, loss_fn, autocast, data: Iterable, start: int,
               validate: Optional[Callable[[int], dict]], desc: str) -> dict:
    """Steps start..cfg.steps; the last logged metrics. The step itself stays inline (a call per step
    would cost every step); logging, validation and checkpoints are calls at their intervals."""
    model, cfg, device, opts, scheds, main = run.model, run.cfg, run.device, run.opts, run.scheds, run.main
    groups = [g for o in opts for g in o.param_groups]
    last: dict = {}
    it = infinite(data, start)
    model.train()
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, dynamic_ncols=True, mininterval=1.0, **({} if main else {"disable": True}))
    # CPU time beside wall time: on a shared machine wall rates fall with the load, CPU rates do not.
    t0, c0, steps_done = time.perf_counter(), time.process_time(), 0
    info = {"world_size": run.world, "global_batch": cfg.batch_size * run.world}
    for step in range(start, cfg.steps):
        batch = to_device(next(it), device)
        with autocast():
            loss, metrics = loss_fn(batch)
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss.backward()
        norms = {}
        if cfg.grad_clip > 0:
            for g in groups:
                # Kept as tensors: converting every step would sync the GPU three times a step.
                # Gradients are already averaged over the ranks, so every rank clips alike.
                norms[f"grad_norm/{g.get('name', 'all')}"] = torch.nn.utils.clip_grad_norm_(g["params"], cfg.grad_clip)
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
        model.after_step(step + 1, cfg.steps)
        bar.update(1)
        steps_done += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            last = _log_metrics(run, bar, groups, step + 1, loss, metrics, norms, steps_done, t0, c0)
        if validate is not None and main and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            _validate(run, validate, step + 1, last)
        if cfg.checkpoint_every > 0 and main and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            tracker = run.tracker
            mark = {"metrics_bytes": tracker.logged_bytes()} if tracker is not None and tracker.active else {}
            save_checkpoint(run.run_dir, model, opts, step + 1, {**info, **mark})
    bar.close()
    return last


def _log_metrics(run: _Run, bar, groups: list, step: int, loss: torch.Tensor, metrics: dict, norms: dict,
                 steps_done: int, t0: float, c0: float) -> dict:
    """The metrics logged after `step` (rank 0 sends them to the tracker); rates over this attempt's steps."""
    elapsed = time.perf_counter() - t0
    # Loss and metrics of the global batch: the mean of the ranks' (equal-sized) batches.
    reduced = dist.mean_across_ranks({"loss": loss.detach(), **metrics})
    last = {**reduced, **{k: float(v) for k, v in norms.items()},
            "lr": run.opts[0].param_groups[0]["lr"] if run.opts else 0.0,
            **{f"lr/{g['name']}": g["lr"] for g in groups if "name" in g and len(groups) > 1},
            "steps_per_s": steps_done / max(elapsed, 1e-9),
            "cpu_steps_per_s": steps_done / max(time.process_time() - c0, 1e-9)}
    # Scientific notation: a collapsed DynaMo loss of 5e-4 must not print as 0.0005 ~ "0.0000".
    bar.set_postfix(loss=f"{last['loss']:.3e}")
    if run.tracker is not None and run.main:
        run.tracker.log({f"train/{k}": v for k, v in last.items()}, step=step)
    return last


def _validate(run: _Run, validate: Callable[[int], dict], step: int, last: dict) -> None:
    """validate(step) in eval mode without gradients, added to `last` and logged. Rank 0 alone calls
    it; the others wait for it at the next all-reduce."""
    run.model.eval()
    with torch.no_grad():
        val = validate(step)
    run.model.train()
    last.update(val)
    if run.tracker is not None and val:
        run.tracker.log(val, step=step)
