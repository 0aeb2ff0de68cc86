"""DynaMo training throughput on a GPU: the trainer's step, eager and compiled, in frames/s.

Self-contained: needs python3 with torch, numpy, einops and pyyaml, and this repository on disk; it
imports only robolearn.settings / encoders / pretraining (dynamo, sampler) / distributed, none of which
imports mujoco, gymnasium, tyro, wandb or diffusers. Data are synthetic uint8 frames.

The step is robolearn.trainer.fit's: bf16 autocast, channels_last weights and inputs, the loss
(ResNet-18 encoder over every frame, inverse and forward causal transformers, covariance term),
backward, gradient-norm clip 0.1 per network (encoder, inverse, forward), fused AdamW (lr 1e-4,
wd 0), the EMA-target hook. frames/s = batch x window x views x steps / seconds; warmup steps
(compilation included) are not timed; the clock reads after a CUDA synchronize.

Rows: eager; torch.compile of the loss (the trainer's --optim.compile); compiled with batches
gathered on the GPU by GpuWindowSampler (--optim.gpu-sampler). Then, on a machine with several GPUs,
a plain-loop DDP check: one process per GPU (NCCL), robolearn.distributed.wrap_model, the eager
step with batch 64 per GPU, against the 1-GPU eager row; with one GPU it says so and skips.
A watchdog prints what was measured and exits if the whole run passes --budget-s.

    # on the GPU machine, from the repository root (the lead's command):
    python3 benchmarks/gpu_dynamo_throughput.py
    # CPU smoke test (tiny): compile included, and the DDP check over 2 gloo processes
    python3 benchmarks/gpu_dynamo_throughput.py --device cpu --encoder conv --image-size 32 --batch 4 \\
        --steps 3 --warmup 1 --layers 1 --heads 2 --embed 16 --amp off --sampler-frames 200 --ddp-cpu 2
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository's robolearn package, installed or not

from dynamo_step import build, make_step, sync, timed  # noqa: E402  (benchmarks/, beside this script)
from robolearn.pretraining.sampler import GpuWindowSampler  # noqa: E402

ROWS: list[tuple[str, str, str, str]] = []
T_START = time.perf_counter()


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--encoder", default="resnet18", choices=["resnet18", "conv"])
    p.add_argument("--norm", default="batch", choices=["batch", "group"])
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--views", type=int, default=1)
    p.add_argument("--layers", type=int, default=6, help="transformer layers (DynaMo's 6)")
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--embed", type=int, default=120)
    p.add_argument("--steps", type=int, default=30, help="timed steps per row")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation happens here)")
    p.add_argument("--amp", default="bf16", choices=["bf16", "off"])
    p.add_argument("--no-compile", action="store_true", help="skip the compiled rows")
    p.add_argument("--sampler-frames", type=int, default=20_000, help="frames resident for the sampler row")
    p.add_argument("--ddp-cpu", type=int, default=0, help="run the DDP check on N CPU processes (gloo)")
    p.add_argument("--budget-s", type=float, default=270.0, help="print what was measured and exit after this")
    return p.parse_args(argv)


def add_row(name: str, frames_per_s: float, ms: float, note: str) -> None:
    ROWS.append((name, f"{frames_per_s:,.0f}", f"{ms:.1f}", note))
    print(f"  {name}: {frames_per_s:,.0f} frames/s, {ms:.1f} ms/step ({note})", flush=True)


def table() -> str:
    head = ("row", "frames/s", "ms/step", "notes")
    w = [max(len(r[i]) for r in ROWS + [head]) for i in range(4)]
    lines = [f"{head[0]:<{w[0]}}  {head[1]:>{w[1]}}  {head[2]:>{w[2]}}  {head[3]}"]
    lines += [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]}" for r in ROWS]
    return "\n".join(lines)


def watchdog(budget_s: float) -> None:
    def fire():
        ROWS.append(("(stopped)", "-", "-", f"time budget of {budget_s:.0f} s reached; later rows not measured"))
        print("\n" + table(), flush=True)
        os._exit(3)

    t = threading.Timer(budget_s, fire)
    t.daemon = True
    t.start()


# ----------------------------------------------------------------------------- DDP check
def _ddp_worker(rank: int, world: int, port: int, args, backend: str, results) -> None:
    import torch.distributed as tdist

    from robolearn import distributed

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(1)
    tdist.init_process_group(backend, rank=rank, world_size=world)
    finished = False
    try:
        torch.manual_seed(0)
        obj, opts = build(args, device, target="ema")
        ddp = distributed.wrap_model(obj, device)
        step = make_step(obj, opts, device, ddp, args.amp == "bf16", args.warmup + args.steps)
        g = torch.Generator(device=device).manual_seed(rank)
        shape = (args.batch, args.window, args.views, args.image_size, args.image_size, 3)
        batch = {"images": torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=g)}
        dt, _ = timed(step, lambda: batch, args.warmup, args.steps, device)
        dts = [None] * world
        tdist.all_gather_object(dts, dt)
        if rank == 0:
            results.put(max(dts))  # the step time of the slowest rank is the job's
        finished = True
    finally:
        # A barrier first: rank 1 must not exit right after all_gather_object (distributed.shutdown).
        distributed.shutdown(finished)
    # Over gloo, without interpreter finalization: a gloo thread still freeing a collective's tensor
    # aborted this worker at exit once after the barrier (distributed.exit_process). Its result is in
    # the queue, written synchronously.
    distributed.exit_process(0)


def ddp_check(args, single_fps: float | None) -> None:
    import socket

    import torch.multiprocessing as mp

    n_gpu = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if args.ddp_cpu > 1:
        world, backend = args.ddp_cpu, "gloo"
    elif args.device.startswith("cuda") and n_gpu > 1:
        world, backend = n_gpu, "nccl"
    else:
        ROWS.append(("DDP check", "-", "-", f"skipped: {n_gpu} GPU(s) visible, needs 2 or more"))
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(_ddp_worker, args=(world, port, args, backend, results), nprocs=world,
                       join=True, start_method="spawn")
    dt = results.get()
    fps = world * args.batch * args.window * args.views / dt
    eff = f", {fps / (world * single_fps):.0%} of {world} x the 1-process eager row" if single_fps else ""
    add_row(f"DDP eager, {world} x {backend}", fps, dt * 1e3, f"batch {args.batch} per rank{eff}")


# ----------------------------------------------------------------------------- main
def main(argv=None) -> None:
    args = parse(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device visible (pass --device cpu for a smoke test)")
    watchdog(args.budget_s)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = f"{torch.cuda.get_device_name(device)}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s)"
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    fps_step = args.batch * args.window * args.views
    print(f"{name} | torch {torch.__version__} | DynaMo, {args.encoder} ({args.norm} norm) {args.image_size} px | "
          f"window {args.window} | batch {args.batch} | amp {args.amp} | {fps_step} frames/step", flush=True)

    torch.manual_seed(0)
    obj, opts = build(args, device, target="ema")
    n_params = {g["name"]: sum(p.numel() for p in g["params"]) for g in obj.param_groups()}
    print("parameters: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_params.items()), flush=True)
    g = torch.Generator(device=device).manual_seed(0)
    shape = (args.batch, args.window, args.views, args.image_size, args.image_size, 3)
    fixed = {"images": torch.randint(0, 256, shape, dtype=torch.uint8, device=device, generator=g)}
    mem = (lambda: f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB") if device.type == "cuda" \
        else (lambda: "")

    step = make_step(obj, opts, device, obj.loss, args.amp == "bf16", args.warmup + args.steps)
    dt, loss = timed(step, lambda: fixed, args.warmup, args.steps, device)
    single = fps_step / dt
    add_row("eager", single, dt * 1e3, f"loss {loss:.4f}{mem()}")

    if not args.no_compile:
        t0 = time.perf_counter()
        compiled = make_step(obj, opts, device, torch.compile(obj.loss), args.amp == "bf16",
                             args.warmup + args.steps)
        try:
            compiled(fixed, 0)  # compiles forward and backward
            sync(device)
            note = f"compiled in {time.perf_counter() - t0:.0f} s"
            dt, loss = timed(compiled, lambda: fixed, args.warmup, args.steps, device)
            add_row("torch.compile", fps_step / dt, dt * 1e3, f"loss {loss:.4f}, {note}{mem()}")
            n_ep = max(args.sampler_frames // 100, 1)
            frames = torch.randint(0, 256, (n_ep * 100, args.views, args.image_size, args.image_size, 3),
                                   dtype=torch.uint8, device=device, generator=g)
            sampler = GpuWindowSampler(frames, [100] * n_ep, args.window, device=device, seed=0)
            dt, loss = timed(compiled, lambda: sampler.sample(args.batch), args.warmup, args.steps, device)
            add_row("torch.compile + GpuWindowSampler", fps_step / dt, dt * 1e3,
                    f"{n_ep * 100} frames resident ({frames.numel() / 2**30:.2f} GiB){mem()}")
        except Exception as e:  # report the failure as a row; the table still prints
            ROWS.append(("torch.compile", "-", "-", f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"))

    ddp_check(args, single)
    print(f"\ntotal {time.perf_counter() - T_START:.0f} s\n" + table(), flush=True)


if __name__ == "__main__":
    main()
