"""The one training loop, for every pretraining objective and every policy head.

A model given to `fit` provides `loss(batch) -> (loss, metrics)`, `param_groups()` (each group is
gradient-clipped on its own, as DynaMo clips encoder, inverse and forward models separately), and
optionally `configure_optimizers(cfg)` (CCL has one optimizer per network) and
`after_step(step, total_steps)` (EMA updates).

Schedule: linear warmup, then cosine decay to zero. bf16 autocast on CUDA (`amp="auto"`), optional
`torch.compile`. Checkpoints (weights and optimizer state in safetensors, step in JSON) every
`checkpoint_every` steps; a run started again in the same folder resumes from the latest one.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from robolearn.config import OptimConfig
from robolearn.checkpoint import atomic_write_text


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return f


def infinite(loader: Iterable) -> Iterator:
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            raise RuntimeError("the training data produced no batch")


def default_optimizers(model, cfg: OptimConfig) -> list[torch.optim.Optimizer]:
    groups = [g for g in model.param_groups() if g["params"]]
    if not groups:
        return []
    kw = dict(lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))
    if any(p.is_cuda for g in groups for p in g["params"]):
        kw["fused"] = True
    return [torch.optim.AdamW(groups, **kw)]


# ----------------------------------------------------------------------------- checkpoints
def _optim_to_flat(opts) -> tuple[dict[str, torch.Tensor], list]:
    tensors, meta = {}, []
    for i, opt in enumerate(opts):
        sd = opt.state_dict()
        for pid, st in sd["state"].items():
            for name, v in st.items():
                t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
                tensors[f"opt{i}.{pid}.{name}"] = t.detach().cpu().contiguous().clone()
        meta.append(sd["param_groups"])
    return tensors, meta


def _optim_from_flat(opts, tensors: dict, meta: list) -> None:
    for i, opt in enumerate(opts):
        state: dict = {}
        prefix = f"opt{i}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, name = k[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": meta[i]})


def save_checkpoint(ckpt_dir: Path, model, opts, step: int) -> None:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    opt_t, opt_meta = _optim_to_flat(opts)
    for name, payload in (("model.safetensors", weights), ("optim.safetensors", opt_t)):
        tmp = ckpt_dir / f".{name}.tmp-{os.getpid()}"
        save_file(payload, str(tmp))
        os.replace(tmp, ckpt_dir / name)
    # trainer.json last: its presence means the two weight files beside it are complete.
    atomic_write_text(ckpt_dir / "trainer.json", json.dumps({"step": step, "optim": opt_meta}))


def load_checkpoint(ckpt_dir: Path, model, opts) -> int:
    meta = json.loads((ckpt_dir / "trainer.json").read_text())
    model.load_state_dict(load_file(str(ckpt_dir / "model.safetensors")))
    _optim_from_flat(opts, load_file(str(ckpt_dir / "optim.safetensors")), meta["optim"])
    return int(meta["step"])


# ----------------------------------------------------------------------------- the loop
def fit(
    model: torch.nn.Module,
    data: Iterable,
    cfg: OptimConfig,
    run_dir: Path,
    tracker=None,
    validate: Optional[Callable[[int], dict]] = None,
    desc: str = "train",
    device: Optional[torch.device] = None,
) -> dict:
    """Train `model` for cfg.steps steps on batches from `data` (re-iterated as needed).

    Returns the last logged metrics. Resumes from `run_dir/checkpoint` when it exists.
    """
    from robolearn.config import resolve_optim

    cfg = resolve_optim(cfg, {})  # callers normally resolve with the method's defaults first
    device = device or pick_device(cfg.device)
    model.to(device)
    if device.type == "cuda":
        # Conv weights in channels_last match the encoder's channels_last inputs (tensor cores).
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    run_dir = Path(run_dir)
    make_opts = getattr(model, "configure_optimizers", None)
    opts = make_opts(cfg) if make_opts is not None else default_optimizers(model, cfg)
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lr_lambda(cfg.warmup_steps, cfg.steps)) for o in opts]

    ckpt_dir = run_dir / "checkpoint"
    start = 0
    if (ckpt_dir / "trainer.json").exists():
        start = load_checkpoint(ckpt_dir, model, opts)
        for s in scheds:
            s.last_epoch = start - 1
            s.step()
        tqdm.write(f"resumed from step {start} ({ckpt_dir})")
        if tracker is not None:
            tracker.log({"resumed_from": start}, step=start)

    use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    # Compile the loss (encoder + objective forward); the optimizer step stays eager.
    loss_fn = torch.compile(model.loss) if cfg.compile else model.loss
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_amp else contextlib.nullcontext
    )

    groups = [g for o in opts for g in o.param_groups]
    last: dict = {}
    it = infinite(data)
    model.train()
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, dynamic_ncols=True, mininterval=1.0)
    t0, steps_done = time.perf_counter(), 0
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
                norms[f"grad_norm/{g.get('name', 'all')}"] = torch.nn.utils.clip_grad_norm_(g["params"], cfg.grad_clip)
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
        if hasattr(model, "after_step"):
            model.after_step(step + 1, cfg.steps)
        bar.update(1)
        steps_done += 1
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            elapsed = time.perf_counter() - t0
            last = {"loss": float(loss.detach()), **{k: float(v) for k, v in metrics.items()},
                    **{k: float(v) for k, v in norms.items()},
                    "lr": opts[0].param_groups[0]["lr"] if opts else 0.0,
                    "steps_per_s": steps_done / max(elapsed, 1e-9)}
            bar.set_postfix(loss=f"{last['loss']:.4f}")
            if tracker is not None:
                tracker.log({f"train/{k}": v for k, v in last.items()}, step=step + 1)
        if validate is not None and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            model.eval()
            with torch.no_grad():
                val = validate(step + 1)
            model.train()
            last.update(val)
            if tracker is not None and val:
                tracker.log(val, step=step + 1)
        if cfg.checkpoint_every > 0 and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            save_checkpoint(ckpt_dir, model, opts, step + 1)
    bar.close()
    model.eval()
    return last
