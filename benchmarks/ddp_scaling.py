"""Scaling of the trainer from 1 to N processes on CPU (torchrun, gloo): steps/s and samples/s.

Each configuration is a real `torchrun --standalone --nproc_per_node N` job running
robolearn.trainer.fit (DDP, sharded batches, rank-0 logging) on the inverse-dynamics objective with
the conv encoder, on synthetic 64 px frames held in memory (the loader costs nothing here; the rows
measure compute and the gradient all-reduce). Configurations:

  weak scaling    per-rank batch fixed: the global batch grows with N (more samples per step)
  strong scaling  global batch fixed: the per-rank batch shrinks with N (the same training, faster?)

and, for comparison, 1 process with N threads: the other way to spend N cores. steps/s are
measured after --warmup untimed steps. Prints a table; asserts nothing.

    .venv/bin/python benchmarks/ddp_scaling.py                 # 1 -> 2 processes, 1 thread each
    .venv/bin/python benchmarks/ddp_scaling.py --procs 1 2 4 --batch 64 --steps 60
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=32, help="per-rank batch for weak scaling; global batch for strong")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=40, help="timed steps")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--per-rank-batch", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--result", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- one rank
def worker(args) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))
    from robolearn import distributed as dist
    from robolearn.config import EncoderConfig, OptimConfig
    from robolearn.pretraining.idm import IdmConfig
    from robolearn.encoders import make_encoder
    from robolearn.pretraining import DataInfo
    from robolearn.pretraining.idm import InverseDynamics
    from robolearn.trainer import fit

    device = dist.setup("cpu")
    n, s = 4096, args.image_size
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (n, 2, 1, s, s, 3), dtype=np.uint8))
    actions = torch.from_numpy(rng.uniform(-1, 1, (n, 1, 2)).astype(np.float32))

    class Frames(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return {"images": frames[i, :1], "future_images": frames[i, 1:], "actions": actions[i]}

    info = DataInfo(num_views=1, image_size=s, action_dim=2, proprio_dim=0, feature_dim=0)
    obj = InverseDynamics(make_encoder(EncoderConfig(name="conv"), 1, s), IdmConfig(), info)
    cfg = OptimConfig(steps=args.steps, batch_size=args.per_rank_batch, lr=1e-3, weight_decay=1e-4,
                      betas=(0.9, 0.999), grad_clip=1.0, warmup_steps=0, checkpoint_every=0,
                      eval_every=10**9, log_every=10**9, amp="off", device="cpu")
    loader = dist.sharded_loader(Frames(), args.per_rank_batch, seed=0)

    # An untimed fit first (threads, gloo connections, allocator), then the timed one.
    with tempfile.TemporaryDirectory() as tmp:
        fit(obj, loader, OptimConfig(**{**cfg.__dict__, "steps": args.warmup}), Path(tmp) / "warmup")
        dist.barrier()
        t0 = time.perf_counter()
        fit(obj, loader, OptimConfig(**{**cfg.__dict__, "steps": args.steps}), Path(tmp) / "timed")
        dist.barrier()
        seconds = time.perf_counter() - t0
    if dist.is_main():
        Path(args.result).write_text(json.dumps({"seconds": seconds, "steps": args.steps}))
    dist.shutdown()


# ----------------------------------------------------------------------------- the table
def run(procs: int, per_rank: int, threads: int, args) -> float:
    """Steps per second of one configuration."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
               __file__, "--worker", "--per-rank-batch", str(per_rank), "--threads", str(threads),
               "--image-size", str(args.image_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--result", str(result)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1", PYTHONPATH=str(ROOT))
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"torchrun failed ({procs} processes):\n{done.stderr[-3000:]}")
        r = json.loads(result.read_text())
    return r["steps"] / r["seconds"]


def main(argv=None) -> None:
    args = parse(argv)
    if args.worker:
        return worker(args)
    import torch

    print(f"CPU: {os.cpu_count()} cores | torch {torch.__version__} | IDM, conv encoder, {args.image_size} px | "
          f"{args.steps} timed steps after {args.warmup}", flush=True)
    configs = [("weak", n, 1, args.batch) for n in args.procs]
    configs += [("strong", n, 1, max(args.batch // n, 1)) for n in args.procs if n > 1]
    configs += [("threads", 1, n, args.batch) for n in args.procs if n > 1]
    rows = []
    for mode, n, threads, per_rank in configs:
        sps = run(n, per_rank, threads, args)
        rows.append((mode, n, threads, per_rank, per_rank * n, sps, sps * per_rank * n))
        print(f"  {mode}: {n} process(es) x {threads} thread(s) x batch {per_rank}: {sps:.2f} steps/s", flush=True)

    ref = next(r[6] for r in rows if r[1] == 1 and r[2] == 1)
    print(f"\n{'scaling':<8} {'procs':>5} {'threads':>7} {'batch/rank':>10} {'global':>6} {'steps/s':>8} "
          f"{'samples/s':>9} {'speedup':>7}")
    for mode, n, th, b, gb, sps, smp in rows:
        print(f"{mode:<8} {n:>5} {th:>7} {b:>10} {gb:>6} {sps:>8.2f} {smp:>9.1f} {smp / ref:>6.2f}x")
    print(f"speedup: samples/s over 1 process x 1 thread x batch {args.batch}; the ideal on N free cores is N")


if __name__ == "__main__":
    main()
