"""Rendering and physics speed of the MuJoCo tasks, one process, no vector env.

Rows per task:
- `physics only`: env steps/s with `render=False` (random actions, episodes reset when they end);
- `camera <name>`: frames/s of that camera alone (an env with only that camera; each frame is a
  fresh render of a new physics state; the physics time is not counted);
- `step, all cameras`: env steps/s with every default camera rendered, as collection and
  evaluation see it.
Each rate is given per wall-clock second and per CPU second of this process (llvmpipe's render
threads included): on a busy shared machine the second is the one to compare.

    .venv/bin/python benchmarks/render_speed.py
    .venv/bin/python benchmarks/render_speed.py --image-size 96 --frames 300
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import os
from dataclasses import dataclass, field

import numpy as np
import tyro

from clock import Clock  # benchmarks/, beside this script


@dataclass
class Args:
    envs: list[str] = field(default_factory=lambda: ["robolearn/PointMass-v0", "robolearn/BlockPush-v0"])
    image_size: int = 64
    frames: int = 500
    """Frames timed per camera."""
    steps: int = 2000
    """Env steps timed for the physics-only and all-camera rows."""
    seed: int = 0


def _timed_steps(env, n: int, rng: np.random.Generator, seed: int) -> tuple[float, float]:
    """Env steps per wall second and per CPU second under random actions; resets are not timed."""
    env.reset(seed=seed)
    clock = Clock()
    for i in range(n):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        with clock:
            _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset(seed=seed + i + 1)
    return n / clock.wall, n / max(clock.cpu, 1e-9)


def _camera_fps(env_id: str, camera: str, args: Args, rng: np.random.Generator) -> tuple[float, float]:
    from robolearn.envs import make_env

    env = make_env(env_id, image_size=args.image_size, cameras=[camera], render=False)
    u = env.unwrapped
    env.reset(seed=args.seed)
    u.render_all()  # the first frame opens the GL context: not counted
    clock = Clock()
    for _ in range(args.frames):
        env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        with clock:
            u.render_all(force=True)
    env.close()
    return args.frames / clock.wall, args.frames / max(clock.cpu, 1e-9)


def main(args: Args) -> None:
    from robolearn.envs import get_task, make_env

    rng = np.random.default_rng(args.seed)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.image_size}x{args.image_size} px, MUJOCO_GL={robolearn.rendering.BACKEND}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at start")
    head = f"{'env':16} {'measure':20} {'per wall s':>10} {'per CPU s':>10}"
    print(head)
    print("-" * len(head))

    def row(name, what, rates, unit):
        print(f"{name:16} {what:20} {rates[0]:>10.0f} {rates[1]:>10.0f}  {unit}")

    for env_id in args.envs:
        name = env_id.split("/")[-1]
        env = make_env(env_id, render=False)
        row(name, "physics only", _timed_steps(env, args.steps, rng, args.seed), "steps")
        env.close()
        for cam in get_task(env_id).DEFAULT_CAMERAS:
            row(name, f"camera {cam}", _camera_fps(env_id, cam, args, rng), "frames")
        env = make_env(env_id, image_size=args.image_size)
        env.reset(seed=args.seed)
        row(name, "step, all cameras", _timed_steps(env, min(args.steps, 5 * args.frames), rng, args.seed), "steps")
        env.close()


if __name__ == "__main__":
    main(tyro.cli(Args))
