"""Steady-state rollout rate of a layout (workers x envs per worker), and where a worker's CPU goes.

The evaluator's own figures (stage_speed.py) include every episode's tail and the first reset; this
steps an EnvPool for a fixed number of batch steps after its first reset, the scripted expert acting
(its next action comes back in the step's info, as in the evaluator), and splits a worker's CPU into
the envs' own `step` (wrapper timing, thread CPU) and the rest (messages, shared memory, resets).

    MUJOCO_GL=egl .venv/bin/python benchmarks/results/stage_speed/worker_steady.py \
        --env robolearn/BlockPush-v0 --layouts 1x1 1x8 2x8
"""
from __future__ import annotations

import argparse
import functools
import os
import time

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import gymnasium as gym
import numpy as np
import psutil

from robolearn.evaluation.pool import EnvPool
from robolearn.evaluation.workers import make_eval_env


class TimedStep(gym.Wrapper):
    """Adds the thread CPU seconds this env has spent in `step` so far to every step's info."""

    def __init__(self, env):
        super().__init__(env)
        self.step_cpu = 0.0

    def step(self, action):
        t = time.thread_time()
        out = self.env.step(action)
        self.step_cpu += time.thread_time() - t
        out[4]["step_cpu"] = self.step_cpu
        return out


def make(env_id: str, render: bool) -> gym.Env:
    return TimedStep(make_eval_env(env_id, {"image_size": 32, "render": render}, True))


def measure(env_id: str, workers: int, per: int, steps: int, render: bool) -> str:
    envs = EnvPool(functools.partial(make, env_id, render), workers, per)
    try:
        _, info = envs.reset(list(range(100_000, 100_000 + envs.n)))
        act = info["expert_action"].astype(np.float32)
        procs = [psutil.Process(p.pid) for p in envs.processes]
        wcpu = lambda: sum(sum(p.cpu_times()[:2]) for p in procs)  # noqa: E731
        w0, m0, t0 = wcpu(), time.process_time(), time.perf_counter()
        step_cpu = None
        for _ in range(steps):
            _, _, _, _, info = envs.step(act)
            act = info["expert_action"].astype(np.float32)
            step_cpu = info.get("step_cpu", step_cpu)
        wall, w, m = time.perf_counter() - t0, wcpu() - w0, time.process_time() - m0
    finally:
        envs.close()
    n = steps * envs.n
    inner = float(np.sum(step_cpu)) / n  # counted from the first step on (the reset is not a step)
    return (f"| {env_id.split('/')[-1]} | {workers}x{per} | {n / wall:.0f} | {1e3 * m / n:.3f} | {1e3 * w / n:.3f} "
            f"| {1e3 * inner:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="robolearn/BlockPush-v0")
    p.add_argument("--layouts", nargs="+", default=["1x1", "1x8", "2x8"])
    p.add_argument("--steps", type=int, default=3000, help="batch steps per layout, after the first reset")
    p.add_argument("--no-render", action="store_true")
    a = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| env | layout | wall env steps/s | main cpu ms/step | workers cpu ms/step | of which envs' step |")
    print("| --- | --- | --- | --- | --- | --- |")
    for layout in a.layouts:
        w, _, k = layout.partition("x")
        print(measure(a.env, int(w), int(k), a.steps, not a.no_render), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
