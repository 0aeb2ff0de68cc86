"""BlockPush privileged-state ceiling: how well behaviour cloning of the scripted expert can do at best.

Collects expert demos physics-only (no images: the policy reads the `state` observation, blocks and
targets, plus `proprio`, the pusher), trains an MLP that predicts an action chunk, and rolls it out
on reset seeds disjoint from collection (eval_seed..). Prints solved/N with a Wilson 95% interval
per (demos, architecture). Demos are collected once for the largest count; smaller counts train on
the first episodes of the same set. The collection is the collector's own `run_episode`, so
`--mode` and `--noise` (DART) behave exactly as `robolearn collect --expert-mode/--expert-noise`.

    nice -n 10 .venv/bin/python benchmarks/blockpush_ceiling.py --demos 300 1000
    nice -n 10 .venv/bin/python benchmarks/blockpush_ceiling.py --demos 100 300 --mode 0 --noise 0.2
    # an older expert, from git (the env is unchanged; only its `expert` is used):
    git show <rev>:envs/blockpush.py > /tmp/blockpush_old.py
    nice -n 10 .venv/bin/python benchmarks/blockpush_ceiling.py --expert-file /tmp/blockpush_old.py

An expert without a `mode` argument gets a fixed mode by keeping only the episodes of that mode.
Architectures: `o1c5` = the current frame in, a 5-step chunk out, all 5 executed; `o2c8` = the last
2 frames in, an 8-step chunk out, the first 4 executed; `o1c5x1` = `o1c5` re-planning every step, `o2c8x1`
likewise; `o3c1x1` = the last 3 frames in, one action out (the suite's VQ-BeT window).
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import hashlib
import importlib.util
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import tyro
from torch import nn

ENV = "robolearn/BlockPush-v0"
# frames in, chunk length, steps executed per chunk; `o1c5x1` re-plans every step (closed loop)
ARCHS = {"o1c5": (1, 5, 5), "o2c8": (2, 8, 4), "o1c5x1": (1, 5, 1), "o2c8x1": (2, 8, 1), "o3c1x1": (3, 1, 1)}


@dataclass
class Args:
    demos: list[int] = field(default_factory=lambda: [300, 1000])
    """Demo counts to train on (prefixes of one collected set)."""
    mode: Optional[int] = None
    """Fixed expert mode 0..3 (default: multimodal, drawn per episode)."""
    noise: Optional[float] = None
    """DART noise std on the executed action while collecting (the recorded action is clean);
    default: the expert module's EXPERT_NOISE, as `robolearn collect` uses (0 if it has none)."""
    expert_file: Optional[Path] = None
    """Take `expert` from this Python file (e.g. an older envs/blockpush.py) instead of the task's."""
    archs: list[str] = field(default_factory=lambda: ["o1c5", "o2c8"])
    mode_input: bool = False
    """Also give the MLP the episode's mode (one-hot): the ceiling without the multimodality, which
    a regression head cannot represent. Evaluation draws each episode's mode from its expert stream."""
    seed: int = 0
    """First collection seed (attempt i uses seed + i)."""
    eval_episodes: int = 50
    eval_seed: int = 100_000
    steps: int = 8000
    """Optimizer steps. 3000 underfits: 300 fixed-mode demos (DART 0.2, o1c5) solved 15/50 after 3000, 29/50 after 8000."""
    batch: int = 256
    lr: float = 1e-3
    hidden: int = 256
    depth: int = 4
    dropout: float = 0.1
    train_seed: int = 0
    cache: Optional[Path] = None
    """Folder for the collected demos (npz), reused by later runs with the same collection settings."""
    out: Optional[Path] = None
    """Append one JSON line per result here."""


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def source_hash(path) -> str:
    """Short hash of the expert's source file: the demo cache key changes when the expert does."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]


def load_task(args: Args):
    from robolearn.envs import get_task

    if args.expert_file is None:
        task = get_task(ENV)
        return task, f"current-{source_hash(task.__file__)}"
    spec = importlib.util.spec_from_file_location("blockpush_alt", args.expert_file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    tag = f"{args.expert_file.stem}-{source_hash(args.expert_file)}"
    return SimpleNamespace(expert=mod.expert, task_features=mod.task_features,
                           EXPERT_NOISE=getattr(mod, "EXPERT_NOISE", 0.0)), tag


def collect(args: Args, task, tag: str) -> dict:
    """Episodes as lists of per-step arrays: `x` (state ++ proprio) and `a` (recorded actions)."""
    import inspect

    from robolearn.data.collect import run_episode
    from robolearn.envs import make_env

    n = max(args.demos)
    path = None
    if args.cache is not None:
        path = args.cache / f"{tag}_mode{args.mode}_noise{args.noise:g}_seed{args.seed}_n{n}.npz"
        if path.exists():
            z = np.load(path)
            cut = np.cumsum(z["lengths"])[:-1]
            return {"x": np.split(z["x"], cut), "a": np.split(z["a"], cut), "modes": z["modes"],
                    "attempts": int(z["attempts"]), "seconds": float(z["seconds"]), "cached": True}
    takes_mode = "mode" in inspect.signature(task.expert).parameters
    env = make_env(ENV, render=False)
    xs, acts, modes, attempts, t0 = [], [], [], 0, time.perf_counter()
    seed = args.seed
    while len(xs) < n:
        mode = args.mode if takes_mode else None
        ep = run_episode(env, task, seed, expert_mode=mode, expert_noise=args.noise)
        seed += 1
        attempts += 1
        if args.mode is not None and ep["mode"] != args.mode:
            continue  # an expert that cannot fix its mode: keep the episodes of the wanted one
        if not ep["is_success"]:
            continue
        xs.append(features(ep["obs"]).astype(np.float32))
        acts.append(ep["actions"].astype(np.float32))
        modes.append(ep["mode"])
    env.close()
    seconds = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=np.concatenate(xs), a=np.concatenate(acts), lengths=[len(x) for x in xs],
                 modes=modes, attempts=attempts, seconds=seconds)
        tmp.rename(path)
    return {"x": xs, "a": acts, "modes": np.array(modes), "attempts": attempts, "seconds": seconds,
            "cached": False}


def features(obs: dict) -> np.ndarray:
    """The policy input of one step (or a stack of steps): privileged state, then proprio."""
    return np.concatenate([obs["state"], obs["proprio"]], -1)


def with_mode(xs: list, modes, on: bool) -> list:
    """Append the mode one-hot to every step's input when `on`."""
    if not on:
        return list(xs)
    return [np.concatenate([x, np.repeat(np.eye(4, dtype=np.float32)[m][None], len(x), 0)], 1)
            for x, m in zip(xs, modes)]


def windows(xs: list, acts: list, frames: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, chunk targets) for every step: the last `frames` observations (the first repeated
    before the start) and the next `chunk` actions (the last repeated past the end)."""
    inp, tgt = [], []
    for x, a in zip(xs, acts):
        T = len(x)
        idx = np.clip(np.arange(T)[:, None] + np.arange(-frames + 1, 1)[None], 0, T - 1)
        inp.append(x[idx].reshape(T, -1))
        idx = np.clip(np.arange(T)[:, None] + np.arange(chunk)[None], 0, T - 1)
        tgt.append(a[idx].reshape(T, -1))
    return np.concatenate(inp), np.concatenate(tgt)


def mlp(n_in: int, n_out: int, args: Args) -> nn.Module:
    layers, d = [], n_in
    for _ in range(args.depth):
        layers += [nn.Linear(d, args.hidden), nn.GELU(), nn.Dropout(args.dropout)]
        d = args.hidden
    return nn.Sequential(*layers, nn.Linear(d, n_out))


def train(xs: list, acts: list, frames: int, chunk: int, args: Args):
    inp, tgt = windows(xs, acts, frames, chunk)
    lo, hi = inp.min(0), inp.max(0)
    scale = np.where(hi - lo > 1e-6, hi - lo, 1.0)  # constant inputs map to -1

    def norm(v: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(2 * (v - lo) / scale - 1, dtype=torch.float32)

    torch.manual_seed(args.train_seed)
    net = mlp(inp.shape[1], tgt.shape[1], args)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    X, Y = norm(inp), torch.as_tensor(tgt)
    g = torch.Generator().manual_seed(args.train_seed)
    net.train()
    for _ in range(args.steps):
        i = torch.randint(len(X), (args.batch,), generator=g)
        loss = nn.functional.mse_loss(net(X[i]), Y[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return net, norm, loss.item()


@torch.no_grad()
def evaluate(net, norm, frames: int, chunk: int, execute: int, args: Args) -> dict:
    from robolearn.envs import make_env

    from robolearn.envs import expert_rng

    env = make_env(ENV, render=False)
    solved, fractions, first, followed, entered, switches = 0, [], [], 0, [], []
    for i in range(args.eval_episodes):
        seed = args.eval_seed + i
        obs, _ = env.reset(seed=seed)
        rng = expert_rng(seed)  # the mode as the expert would draw it (first block, then swap)
        mode = 2 * int(rng.integers(2)) + int(rng.integers(2)) if args.mode is None else args.mode
        tail = np.eye(4)[mode] if args.mode_input else np.zeros(0)
        hist = [np.concatenate([features(obs), tail])] * frames
        info, done = {}, False
        while not done:
            x = np.concatenate(hist[-frames:])[None]
            plan = net(norm(x)).numpy().reshape(chunk, -1)
            for a in plan[:execute]:
                obs, _, term, trunc, info = env.step(np.clip(a, -1, 1).astype(np.float32))
                hist = (hist + [np.concatenate([features(obs), tail])])[-frames:]
                done = term or trunc
                if done:
                    break
        solved += bool(info["is_success"])
        fractions.append(info["success"])
        first.append(info.get("first_block", -1))
        entered.append(info.get("blocks_entered", 0))
        switches.append(info.get("block_switches", 0))
        followed += first[-1] == mode // 2
    env.close()
    out = {"solved": solved, "n": args.eval_episodes, "fraction": float(np.mean(fractions)),
           "first_block": {b: first.count(b) for b in (-1, 0, 1)},
           # the papers' metric: blocks ever inside a zone during the episode (ours: both at once)
           "entered_1": sum(e >= 1 for e in entered), "entered_2": sum(e >= 2 for e in entered),
           "switches": float(np.mean(switches))}
    if args.mode_input or args.mode is not None:
        out["first_block_as_told"] = followed
    return out


def main(args: Args) -> None:
    torch.set_num_threads(1)
    unknown = [a for a in args.archs if a not in ARCHS]
    if unknown:
        raise SystemExit(f"unknown arch {unknown}; known: {', '.join(ARCHS)}")
    task, tag = load_task(args)
    if args.noise is None:
        args.noise = float(getattr(task, "EXPERT_NOISE", 0.0))
    data = collect(args, task, tag)
    n = max(args.demos)
    took = "cached" if data["cached"] else f"{data['seconds']:.0f}s"
    print(f"expert={tag} mode={args.mode} noise={args.noise}: {n} demos in {data['attempts']} attempts, {took}, "
          f"{sum(len(x) for x in data['x']) / n:.1f} steps/demo, modes {np.bincount(data['modes'], minlength=4).tolist()}",
          flush=True)
    for k in sorted(args.demos):
        nets: dict = {}  # archs that differ only in the steps executed share one trained MLP
        for arch in args.archs:
            frames, chunk, execute = ARCHS[arch]
            t0 = time.perf_counter()
            if (frames, chunk) not in nets:
                xs = with_mode(data["x"][:k], data["modes"][:k], args.mode_input)
                nets[frames, chunk] = train(xs, data["a"][:k], frames, chunk, args)
            net, norm, loss = nets[frames, chunk]
            t1 = time.perf_counter()
            r = evaluate(net, norm, frames, chunk, execute, args)
            lo, hi = wilson(r["solved"], r["n"])
            row = {"expert": tag, "mode": args.mode, "noise": args.noise, "mode_input": args.mode_input,
                   "demos": k, "arch": arch,
                   **r, "wilson95": [round(lo, 3), round(hi, 3)], "final_loss": loss,
                   "train_s": round(t1 - t0, 1), "eval_s": round(time.perf_counter() - t1, 1),
                   "args": {key: str(v) for key, v in asdict(args).items()}}
            told = f"  first block as told {r['first_block_as_told']}" if "first_block_as_told" in r else ""
            print(f"  demos {k:5d} {arch}{' +mode' if args.mode_input else ''}: solved {r['solved']}/{r['n']} [{lo:.2f}, {hi:.2f}]  "
                  f"mean success {r['fraction']:.2f}  entered >=1 {r['entered_1']} 2 {r['entered_2']}  "
                  f"switches {r['switches']:.2f}  first block {r['first_block']}  loss {loss:.4f}  "
                  f"train {row['train_s']}s eval {row['eval_s']}s{told}", flush=True)
            if args.out is not None:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")

if __name__ == "__main__":
    main(tyro.cli(Args))
