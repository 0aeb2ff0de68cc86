"""Success rate of the scripted experts: episode i runs with reset seed and expert seed `seed + i`.

The experts act on privileged simulator state, so images are off by default (physics only, fast);
`--render` renders every step as collection does, which must not change the outcome.

    .venv/bin/python benchmarks/expert_success.py --episodes 200
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import tyro
from tqdm import tqdm


@dataclass
class Args:
    envs: list[str] = field(default_factory=lambda: ["robolearn/PointMass-v0", "robolearn/BlockPush-v0"])
    episodes: int = 200
    seed: int = 0
    render: bool = False
    """Render the default cameras every step."""
    image_size: int = 64


def run(env_id: str, args: Args) -> dict:
    from robolearn.envs import get_task, make_env

    task = get_task(env_id)
    env = make_env(env_id, render=args.render, image_size=args.image_size)
    solved, fractions, lengths, faults = [], [], [], 0
    modes, failed_modes = Counter(), Counter()
    t0 = time.perf_counter()
    for i in tqdm(range(args.episodes), desc=env_id.split("/")[-1], unit="ep"):
        seed = args.seed + i
        obs, info = env.reset(seed=seed)
        expert = task.expert(env, np.random.default_rng(seed))
        steps = 0
        while True:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            steps += 1
            if terminated or truncated:
                break
        ok = bool(info["is_success"])
        solved.append(ok)
        fractions.append(info["success"])
        lengths.append(steps)
        faults += bool(info.get("sim_fault", False))
        modes[expert.mode] += 1
        if not ok:
            failed_modes[expert.mode] += 1
    env.close()
    return {"env": env_id, "success": float(np.mean(solved)), "fraction": float(np.mean(fractions)),
            "len_mean": float(np.mean(lengths)), "len_max": int(np.max(lengths)), "faults": faults,
            "modes": dict(sorted(modes.items())), "failed_modes": dict(sorted(failed_modes.items())),
            "seconds": time.perf_counter() - t0}


def main(args: Args) -> None:
    rows = [run(env_id, args) for env_id in args.envs]
    print(f"\n{args.episodes} episodes per task, seeds {args.seed}..{args.seed + args.episodes - 1}, "
          f"rendering {'on' if args.render else 'off'}")
    head = f"{'env':24} {'success':>7} {'mean frac':>9} {'steps mean/max':>14} {'faults':>6} {'time':>7}  modes (failures)"
    print(head)
    print("-" * len(head))
    for r in rows:
        modes = ", ".join(f"{m}:{n}" + (f"({r['failed_modes'][m]})" if m in r["failed_modes"] else "")
                          for m, n in r["modes"].items())
        print(f"{r['env'].split('/')[-1]:24} {r['success']:>7.3f} {r['fraction']:>9.3f} "
              f"{r['len_mean']:>8.1f}/{r['len_max']:<5} {r['faults']:>6} {r['seconds']:>6.1f}s  {modes}")


if __name__ == "__main__":
    main(tyro.cli(Args))
