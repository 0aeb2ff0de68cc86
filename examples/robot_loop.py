"""A robot control loop driven by an exported bundle alone.

The policy side imports `robolearn.runtime` only (numpy + onnxruntime: what a robot computer
needs); the MuJoCo env from `robolearn.envs` stands in for the robot's sensors and motors. The loop
runs at the bundle's control rate: each action is applied one period (1 / control_hz) after the
previous one, sleeping until that tick; an action not ready by its tick is a missed deadline (counted,
applied at once, and the clock re-anchors there), as a real-time controller would log it. With
--fast there is no sleeping, and a step that took longer than one period still counts as missed.

    .venv/bin/python examples/robot_loop.py --bundle bundle/ --episodes 5
    .venv/bin/python examples/robot_loop.py --bundle bundle/ --episodes 20 --fast   # no sleeping
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import tyro

from robolearn.runtime import BundleError, BundlePolicy


@dataclass
class Args:
    bundle: Path
    """Bundle folder written by `robolearn export`."""
    env: Optional[str] = None
    """Env id (default: the one in the bundle's policy.json)."""
    episodes: int = 5
    seed: int = 100_000
    """Episode i resets the env with seed + i and the policy's noise with seed + i."""
    fast: bool = False
    """Run as fast as possible instead of at the bundle's control rate."""
    horizon: Optional[int] = None
    """Episode step limit (default: the env's)."""
    temporal_ensemble: Optional[float] = None
    """ACT-style temporal ensembling weight k (default: off, execute T_a actions per chunk)."""


def run_episode(env, policy: BundlePolicy, seed: int, fast: bool) -> dict:
    """One episode. A tick's work is the robot's (env.step: apply the last action, read the sensors)
    plus the policy's (act); the action must be ready one period after the previous one was applied.
    On time, the loop sleeps to that tick; late, the action is applied at once and the clock
    re-anchors there (a real-time loop does not try to catch up by running ticks back to back)."""
    period = 1.0 / policy.control_hz
    obs, info = env.reset(seed=seed)
    policy.reset(seed=seed)
    steps = missed = 0
    compute = []
    applied = time.perf_counter()
    done = False
    while not done:
        t0 = time.perf_counter()
        action = policy.act(obs)
        ready = time.perf_counter()
        compute.append(ready - t0)
        due = applied + period
        if ready > due:
            missed += 1
            applied = ready
        elif fast:
            applied = ready
        else:
            time.sleep(due - ready)
            applied = due
        obs, _, terminated, truncated, info = env.step(action)
        steps += 1
        done = terminated or truncated
    return {"success": bool(info.get("is_success", False)), "steps": steps, "missed": missed,
            "compute_ms": 1e3 * np.asarray(compute)}


def main(args: Args) -> int:
    try:
        policy = BundlePolicy(args.bundle, seed=args.seed, temporal_ensemble=args.temporal_ensemble)
    except BundleError as e:
        print(f"error: {e}")
        return 2
    from robolearn.envs import make_env  # the stand-in for the robot; the policy never needs it

    env_id = args.env or policy.env_id
    kwargs = dict(policy.env_kwargs)
    if args.horizon is not None:
        kwargs["horizon"] = args.horizon
    env = make_env(env_id, **kwargs)
    print(f"{policy}\ndriving {env_id} for {args.episodes} episode(s) "
          f"{'as fast as possible' if args.fast else f'at {policy.control_hz:g} Hz'}")
    results = []
    try:
        for i in range(args.episodes):
            r = run_episode(env, policy, args.seed + i, args.fast)
            results.append(r)
            print(f"episode {i}: {'success' if r['success'] else 'failure'} in {r['steps']} steps, "
                  f"{r['missed']} missed deadline(s), act() p50 {np.median(r['compute_ms']):.2f} ms "
                  f"max {r['compute_ms'].max():.2f} ms")
    finally:
        env.close()
    wins = sum(r["success"] for r in results)
    steps = sum(r["steps"] for r in results)
    missed = sum(r["missed"] for r in results)
    print(f"success rate {wins}/{len(results)} = {wins / max(1, len(results)):.2f}; "
          f"missed deadlines {missed}/{steps} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(tyro.cli(Args)))
