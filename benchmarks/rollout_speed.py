"""Rollout speed with rendering: the evaluator (vector env, expert policy) against a plain loop.

The plain loop is the floor of what one process can do: make_env + the scripted expert, step until
the episode ends, no vector env, no pipes, no shared memory. The evaluator rows show what the
vector env costs at one worker (SyncVectorEnv, in process) and gains with spawned workers.
`steps/s` counts env steps of counted episodes over the rollout time (worker start-up excluded);
`incl. startup` divides by the whole call, spawn and imports included.

    .venv/bin/python benchmarks/rollout_speed.py --episodes 6 --workers 1 2
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tyro


@dataclass
class Args:
    env: str = "robolearn/BlockPush-v0"
    episodes: int = 6
    """Episodes per row."""
    image_size: int = 64
    workers: list[int] = field(default_factory=lambda: [1, 2])
    """Evaluator worker counts to measure."""
    seed: int = 100_000


def plain_loop(args: Args) -> dict:
    from robolearn.envs import get_task, make_env

    env = make_env(args.env, image_size=args.image_size)
    task = get_task(args.env)
    steps = successes = 0
    t0 = time.perf_counter()
    try:
        for i in range(args.episodes):
            seed = args.seed + i
            obs, info = env.reset(seed=seed)
            expert = task.expert(env, np.random.default_rng(seed))
            reached = False
            while True:
                obs, _, terminated, truncated, info = env.step(expert.act(obs))
                steps += 1
                reached |= bool(info.get("is_success", False))
                if terminated or truncated:
                    break
            successes += reached
    finally:
        env.close()
    dt = time.perf_counter() - t0
    return {"row": "plain loop (make_env + expert)", "workers": "-", "steps": steps,
            "steps_s": steps / dt, "total_s": steps / dt, "success": successes / args.episodes}


def evaluator(args: Args, workers: int) -> dict:
    from robolearn.config import EvalConfig
    from robolearn.evaluate import evaluate

    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(policy="expert", env=args.env, episodes=args.episodes, seed=args.seed,
                         workers=workers, videos=0, out=Path(tmp) / "eval", image_size=args.image_size,
                         wandb="disabled")
        r = evaluate(cfg)
    kind = "SyncVectorEnv" if workers <= 1 else "AsyncVectorEnv, spawn"
    return {"row": f"evaluator ({kind})", "workers": str(workers), "steps": r["env_steps"],
            "steps_s": r["steps_per_second"], "total_s": r["env_steps"] / r["wall_seconds"],
            "success": r["success_rate"]}


def main(args: Args) -> None:
    rows = [plain_loop(args)] + [evaluator(args, w) for w in args.workers]
    print(f"\n{args.env}, {args.image_size} px, {args.episodes} episodes per row, expert policy, rendering on")
    head = f"{'':38} {'workers':>7} {'steps':>6} {'steps/s':>8} {'incl. startup':>13} {'success':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['row']:38} {r['workers']:>7} {r['steps']:>6} {r['steps_s']:>8.1f} {r['total_s']:>13.1f} "
              f"{r['success']:>7.2f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
