"""DynaMo pretraining throughput: training frames/s of the full step, and the loaders' frames/s.

The step is the trainer's (robolearn.trainer.fit): bf16 autocast, the compiled loss (encoder, inverse
and forward models, covariance term), backward, gradient-norm clip 0.1 per network (encoder,
inverse, forward), AdamW (fused on CUDA; lr 1e-4, wd 0 as the paper), `after_step`. Data is random
uint8 frames already on the device, so the row measures the model, not the loader. frames/s =
batch x window x views x steps / seconds; warmup steps (compilation included) are not timed, and on
CUDA the clock reads after a synchronize.

Loader rows: `--gpu-sampler` times GpuWindowSampler (every frame resident on the device, windows
gathered by index arithmetic) alone and inside the step; `--data demos.hdf5` times the HDF5
WindowDataset through a DataLoader (and builds the GPU sampler from that file instead of random
frames). Prints a table; asserts nothing.

    # on a GPU machine (the official step: 3,811 frames/s on an H100; our target >= 11,000):
    # bf16, channels_last, fused AdamW, compiled loss, plus the GPU sampler rows
    .venv/bin/python benchmarks/pretrain_throughput.py --encoder resnet18 --image-size 224 --gpu-sampler
    # the same eagerly, and with the trainer's per-step host read of the three clipped norms
    .venv/bin/python benchmarks/pretrain_throughput.py --encoder resnet18 --image-size 224 --no-compile
    .venv/bin/python benchmarks/pretrain_throughput.py --encoder resnet18 --image-size 224 --sync-grad-norms
    # CPU smoke run
    .venv/bin/python benchmarks/pretrain_throughput.py --encoder conv --image-size 64 --batch 16 \\
        --steps 5 --warmup 2 --amp off --no-compile --gpu-sampler --device cpu
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch
import tyro

from dynamo_step import build, make_step, sync, timed  # benchmarks/, beside this script
from robolearn.pretraining.dynamo import Dynamo, DynamoConfig
from robolearn.pretraining.sampler import GpuWindowSampler


@dataclass
class Args:
    encoder: Literal["resnet18", "conv"] = "resnet18"
    image_size: int = 224
    window: int = 5
    batch: int = 64
    views: int = 1
    steps: int = 20
    """Timed steps."""
    warmup: int = 5
    """Untimed steps first (torch.compile compiles here)."""
    device: str = "auto"
    amp: Literal["bf16", "off"] = "bf16"
    compile: bool = True
    """torch.compile the loss, as the trainer does with `optim.compile`."""
    compile_mode: Optional[str] = None
    """torch.compile mode (None = default; e.g. max-autotune-no-cudagraphs)."""
    gpu_sampler: bool = False
    """Also time GpuWindowSampler alone and inside the step."""
    sampler_frames: int = 10_000
    """Random frames held by the GPU sampler when no --data is given."""
    data: Optional[Path] = None
    """An HDF5 demo store: time the WindowDataset loader on it (and build the GPU sampler from it)."""
    cameras: Optional[list[str]] = None
    """Cameras of --data (default: all)."""
    loader_workers: int = 4
    loader_batches: int = 20
    target: Literal["stopgrad", "ema"] = "stopgrad"
    norm: Literal["batch", "group"] = "batch"
    """resnet18 normalization layers."""
    layers: int = 6
    heads: int = 6
    embed: int = 120
    latent_dim: int = 16
    sync_grad_norms: bool = False
    """Read the three clipped norms back to the host every step, as robolearn.trainer.fit does now."""
    threads: Optional[int] = None
    """torch CPU threads (CPU runs)."""
    seed: int = 0


def time_sampler(sampler: GpuWindowSampler, args: Args, device: torch.device) -> float:
    """Seconds per batch."""
    for _ in range(3):
        sampler.sample(args.batch)
    sync(device)
    n = max(args.steps, 20)
    t0 = time.perf_counter()
    for _ in range(n):
        b = sampler.sample(args.batch)
    b["images"].sum()  # make sure the last gather ran
    sync(device)
    return (time.perf_counter() - t0) / n


def time_window_dataset(args: Args) -> tuple[Optional[float], str]:
    """Seconds per batch of the HDF5 WindowDataset through a DataLoader, or None and why not."""
    try:
        from robolearn.data.normalize import Normalizer
        from robolearn.data.store import open_store
        from robolearn.data.windows import WindowDataset
    except ImportError as e:
        return None, f"not available ({e})"
    from torch.utils.data import DataLoader

    with open_store(args.data) as store:
        normalizer = Normalizer.from_store(store, split="train")
    ds = WindowDataset(args.data, Dynamo.window_spec(DynamoConfig(window=args.window)), split="train",
                       cameras=args.cameras, normalizer=normalizer)
    if len(ds) == 0:
        return None, "no training windows"
    loader = DataLoader(ds, batch_size=args.batch, shuffle=True, drop_last=len(ds) > args.batch,
                        num_workers=args.loader_workers, persistent_workers=args.loader_workers > 0,
                        pin_memory=torch.cuda.is_available())
    it, seen, t0 = iter(loader), 0, None
    for k in range(args.loader_batches + 2):  # the first two batches include worker start-up
        if k == 2:
            t0 = time.perf_counter()
        try:
            next(it)
        except StopIteration:
            it = iter(loader)
            next(it)
        seen += k >= 2
    return (time.perf_counter() - t0) / seen, f"{args.loader_workers} workers, {len(ds)} windows"


def main(args: Args) -> None:
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    frames_per_step = args.batch * args.window * args.views
    print(f"device: {name} | torch {torch.__version__} | encoder {args.encoder} {args.image_size} px | "
          f"window {args.window} | batch {args.batch} | views {args.views} | amp {args.amp} | "
          f"compile {args.compile} | target {args.target} | {frames_per_step} frames/step")

    obj, opts = build(args, device, target=args.target)
    n_params = {g["name"]: sum(p.numel() for p in g["params"]) for g in obj.param_groups()}
    print("parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_params.items()))
    loss_fn = torch.compile(obj.loss, mode=args.compile_mode) if args.compile else obj.loss
    step = make_step(obj, opts, device, loss_fn, args.amp == "bf16", args.warmup + args.steps, args.sync_grad_norms)
    rows = []

    # 1. the step on a batch resident on the device
    g = torch.Generator(device=device).manual_seed(args.seed)
    shape = (args.batch, args.window, args.views, args.image_size, args.image_size, 3)
    fixed = {"images": torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=g)}
    dt, loss = timed(step, lambda: fixed, args.warmup, args.steps, device)
    rows.append(("train step (batch resident on device)", frames_per_step / dt, dt * 1e3, f"loss {loss:.4f}"))
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**30
        rows[-1] = (*rows[-1][:3], rows[-1][3] + f", peak {peak:.1f} GiB")

    # 2. the GPU-resident window sampler
    if args.gpu_sampler:
        if args.data is not None:
            from robolearn.data.store import open_store

            with open_store(args.data) as store:
                sampler = GpuWindowSampler.from_store(store, args.cameras, args.window, "train", device, seed=args.seed)
            src = f"{args.data.name}, {sampler.frames.shape[0]} frames"
        else:
            n_ep = max(args.sampler_frames // 100, 1)
            frames = torch.randint(0, 256, (n_ep * 100, args.views, args.image_size, args.image_size, 3),
                                   dtype=torch.uint8, device=device, generator=g)
            sampler = GpuWindowSampler(frames, [100] * n_ep, args.window, device=device, seed=args.seed)
            src = f"random, {n_ep * 100} frames"
        mem = sampler.frames.numel() / 2**30
        dt_s = time_sampler(sampler, args, device)
        rows.append(("GpuWindowSampler.sample alone", frames_per_step / dt_s, dt_s * 1e3, f"{src}, {mem:.2f} GiB"))
        dt, loss = timed(step, lambda: sampler.sample(args.batch), args.warmup, args.steps, device)
        rows.append(("train step + GpuWindowSampler", frames_per_step / dt, dt * 1e3, f"loss {loss:.4f}"))

    # 3. the HDF5 window dataset
    if args.data is not None:
        dt_l, note = time_window_dataset(args)
        if dt_l is None:
            rows.append(("WindowDataset + DataLoader", float("nan"), float("nan"), note))
        else:
            rows.append(("WindowDataset + DataLoader", frames_per_step / dt_l, dt_l * 1e3, note))

    w = max(len(r[0]) for r in rows)
    print(f"\n{'row':<{w}}  {'frames/s':>10}  {'ms/batch':>9}  notes")
    for r in rows:
        print(f"{r[0]:<{w}}  {r[1]:>10,.0f}  {r[2]:>9.1f}  {r[3]}")


if __name__ == "__main__":
    main(tyro.cli(Args))
