"""Latency of an exported bundle's `act()` against the torch `Policy.select_action`, per head.

What a robot pays per control step, encoder included, on ONE CPU thread (torch.set_num_threads(1);
onnxruntime intra_op_num_threads=1), at 64x64 with two cameras (BlockPush). Each head gets a tiny
policy trained for a few steps on a small BlockPush dataset in a temporary folder (latency does not
depend on training), is exported with `robolearn export` (parity-checked), and both sides are then
stepped through the same recorded episodes in order (history and action queue as in deployment).

Columns: p50/p99 over all steps; "plan" = p50 of the steps that call the head (a new chunk: every
T_a-th step; kNN and VQ-BeT have T_a = 1, so every step), the step that pays encoder + head. The
targets (conv encoder) apply to it: mlp and knn <= 5 ms, vqbet <= 8 ms, diffusion (10 DDIM steps)
<= 25 ms per chunk; and the bundle no slower than torch.
Figures on a shared machine move with the other jobs' load: compare columns of one run.

    .venv/bin/python benchmarks/export_latency.py [--heads mlp knn vqbet diffusion] [--steps 300]
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch
import tyro

TARGETS_MS = {"mlp": 5.0, "knn": 5.0, "vqbet": 8.0, "diffusion": 25.0}
"""ms for a step that plans (encoder + head), one CPU thread, 64 px, two cameras, conv encoder."""


@dataclass
class Args:
    heads: list[str] = field(default_factory=lambda: ["mlp", "knn", "vqbet", "diffusion"])
    steps: int = 300
    """Timed control steps per head and side (after a warm-up episode)."""
    episodes: int = 4
    """BlockPush demonstrations to collect for the tiny policies (and to replay as observations)."""
    image_size: int = 64
    train_steps: int = 20
    """Gradient steps per head: enough to give real weights; latency does not depend on them."""
    encoder: str = "conv"
    workdir: Optional[Path] = None
    """Keep the dataset, runs and bundles here (default: a temporary folder, removed afterwards)."""


def percentiles(ts: list[float]) -> tuple[float, float]:
    a = np.asarray(ts) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def replay(store, cameras, use_proprio, steps: int):
    """(episode step, obs) for `steps` steps, cycling through the demos in order."""
    demos = store.demo_names(None)
    n = 0
    while True:
        for d in demos:
            imgs = {c: store.obs(d, f"{c}_image") for c in cameras}
            prop = store.obs(d, "proprio") if use_proprio else None
            for t in range(store.length(d)):
                obs = {f"{c}_image": imgs[c][t] for c in cameras}
                if prop is not None:
                    obs["proprio"] = np.asarray(prop[t], np.float32)
                yield t, obs
                n += 1
                if n >= steps:
                    return


def time_side(step_fn, reset_fn, action_horizon: int, frames) -> tuple[list[float], list[float]]:
    """Per-step seconds over all steps, and over the steps that plan (episode step % T_a == 0:
    both the torch Policy and the runtime call the head exactly there)."""
    all_ts, plan_ts = [], []
    for t, obs in frames:
        if t == 0:
            reset_fn()
        t0 = time.perf_counter()
        step_fn(obs)
        dt = time.perf_counter() - t0
        all_ts.append(dt)
        if t % action_horizon == 0:
            plan_ts.append(dt)
    return all_ts, plan_ts


def build(args: Args, root: Path) -> dict[str, Path]:
    from robolearn.config import (CollectConfig, EncoderConfig, ExportConfig, OptimConfig, PretrainConfig,
                                  TrainConfig, VqbetConfig)
    from robolearn.data.collect import collect
    from robolearn.export import export
    from robolearn.pretrain import pretrain
    from robolearn.train import train

    data = root / "blockpush.hdf5"
    if not data.exists():
        collect(CollectConfig(env="robolearn/BlockPush-v0", episodes=args.episodes, out=data,
                              image_size=args.image_size))
    enc = root / "enc"
    if not (enc / "encoder.json").exists():
        pretrain(PretrainConfig(data=data, out=enc, objective="none", encoder=EncoderConfig(name=args.encoder),
                                wandb="disabled"))
    bundles = {}
    for head in args.heads:
        run, bundle = root / f"pol-{head}", root / f"bundle-{head}"
        if not (run / "policy.json").exists():
            optim = OptimConfig(steps=args.train_steps, batch_size=64, warmup_steps=2, checkpoint_every=10**6,
                                eval_every=10**6, log_every=10**6)
            # VQ-BeT's tokenizer fit is part of `prepare`; a short one is enough for timing.
            extra = {"vqbet": VqbetConfig(vq_steps=50)} if head == "vqbet" else {}
            train(TrainConfig(data=data, encoder=enc, out=run, head=head, wandb="disabled", optim=optim,
                              **{head: extra[head]} if extra else {}))
        if not (bundle / "policy.json").exists():
            export(ExportConfig(policy=run, out=bundle, parity_frames=32))
        bundles[head] = (run, bundle)
    return bundles


def main(args: Args) -> None:
    from robolearn.data.store import open_store
    from robolearn.policies.policy import Policy
    from robolearn.runtime import BundlePolicy

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="export_latency-") as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        bundles = build(args, root)
        print(f"built {len(bundles)} tiny BlockPush policies and bundles in {time.time() - t0:.0f} s "
              f"({args.image_size}x{args.image_size}, 2 cameras, {args.encoder} encoder); timing {args.steps} steps per side")
        rows = []
        for head, (run, bundle_dir) in bundles.items():
            policy = Policy.load(run)
            bundle = BundlePolicy(bundle_dir, seed=0, threads=1)
            store = open_store(policy.meta["data"])
            gen = torch.Generator().manual_seed(0)
            t_a = policy.action_horizon
            torch_step = lambda obs: policy.select_action(obs, generator=gen)  # noqa: E731
            warm = list(replay(store, policy.cameras, policy.use_proprio, 40))
            time_side(torch_step, policy.reset, t_a, warm)
            time_side(bundle.act, bundle.reset, t_a, warm)
            frames = list(replay(store, policy.cameras, policy.use_proprio, args.steps))
            t_all, t_plan = time_side(torch_step, policy.reset, t_a, frames)
            b_all, b_plan = time_side(bundle.act, bundle.reset, t_a, frames)
            store.close()
            (t50, t99), tp = percentiles(t_all), percentiles(t_plan)[0]
            (b50, b99), bp = percentiles(b_all), percentiles(b_plan)[0]
            target = TARGETS_MS.get(head, float("nan"))
            rows.append((head, f"{policy.obs_horizon}/{policy.pred_horizon}/{t_a}", t50, t99, tp, b50, b99, bp,
                         f"{target:g}", "ok" if bp <= target else "MISSED",
                         "yes" if b50 <= t50 and bp <= tp else "no"))
        hdr = ("head", "T_o/T/T_a", "torch p50", "torch p99", "torch plan", "bundle p50", "bundle p99", "bundle plan",
               "plan target", "met", "bundle<=torch")
        widths = [max(len(h), 10) for h in hdr]
        print("  ".join(h.rjust(w) for h, w in zip(hdr, widths)))
        for r in rows:
            cells = [r[0], r[1]] + [f"{x:.2f}" for x in r[2:8]] + list(r[8:])
            print("  ".join(str(c).rjust(w) for c, w in zip(cells, widths)))
        print("ms per act(); 'plan' = p50 of the steps that run the head (new chunk)."
              f" load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main(tyro.cli(Args))
