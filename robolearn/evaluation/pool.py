"""The envs of an evaluation: `workers` processes with `per_worker` envs each, seen as one batch.

One worker: a gymnasium `SyncVectorEnv` in this process. More: an `AsyncVectorEnv` (spawn: OpenGL
contexts do not survive fork; observations through shared memory) whose every worker runs an
`EnvGroup` of `per_worker` envs (robolearn.evaluation.workers). Each step then costs one message
each way per worker, not per env: on cheap envs (PointMass: 0.5 ms a step) one env per process
spent as much CPU on pipes, pickling and wake-ups as on the simulation
(benchmarks/results/stage_speed/). gymnasium keeps the processes, the shared memory, the errors
and the shutdown; this module only flattens the groups' batches into one.

Env j is slot j % per_worker of worker j // per_worker. Both layouts autoreset in gymnasium's
NEXT_STEP mode and give infos in its batched `key` / `_key` layout.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from robolearn.evaluation.workers import make_env_group

MAX_ENVS_PER_WORKER = 8
"""Beyond this a worker's share of the per-step messages is already small (1/8), while each env
costs its own start-up (GL context, render model) and memory."""


def envs_per_worker(episodes: int, workers: int, cap: int = MAX_ENVS_PER_WORKER) -> int:
    """Enough envs that every worker runs its share of the episodes at once, at most `cap`."""
    return max(1, min(cap, -(-episodes // max(1, workers))))


def _flat(x, n: int):
    """(workers, per_worker, ...) -> (n, ...), for an array or a dict of arrays."""
    if isinstance(x, dict):
        return {k: _flat(v, n) for k, v in x.items()}
    return x.reshape(n, *x.shape[2:])


def _merge_infos(parts: Sequence[dict], size: int) -> dict:
    """The groups' batched infos (`size` envs each) as one batch. Nested dicts are dropped (the
    evaluator reads none)."""
    out: dict = {}
    for key in dict.fromkeys(k for p in parts for k in p if not k.startswith("_")):
        ref = next(p[key] for p in parts if key in p)
        if isinstance(ref, dict):
            continue
        out[key] = np.concatenate([p[key] if key in p else np.zeros_like(ref) for p in parts])
        out[f"_{key}"] = np.concatenate([p[f"_{key}"] if key in p else np.zeros(size, bool) for p in parts])
    return out


class EnvPool:
    """`workers` x `per_worker` envs made by `env_fn`, stepped as one batch of `n` envs."""

    def __init__(self, env_fn: Callable[[], gym.Env], workers: int, per_worker: int):
        self.workers, self.per_worker = max(1, workers), max(1, per_worker)
        self.n = self.workers * self.per_worker
        if self.workers == 1:
            self.vec = SyncVectorEnv([env_fn] * self.per_worker, autoreset_mode=AutoresetMode.NEXT_STEP)
        else:
            # The groups autoreset their own envs; the outer vector env never sees an episode end.
            self.vec = AsyncVectorEnv(
                [functools.partial(make_env_group, env_fn, self.per_worker)] * self.workers, context="spawn",
                shared_memory=True, daemon=True, autoreset_mode=AutoresetMode.DISABLED,
            )
        self.action_shape = (self.n, *self.vec.action_space.shape[(1 if self.workers == 1 else 2):])
        self.processes = getattr(self.vec, "processes", [])
        """The worker processes (none when the envs run in this one)."""

    def control_hz(self) -> float:
        return float(self.vec.get_attr("control_hz")[0])

    def _split(self, values: Sequence) -> list:
        k = self.per_worker
        return [list(values[i * k:(i + 1) * k]) for i in range(self.workers)]

    def reset(self, seeds: Sequence[int]):
        if self.workers == 1:
            return self.vec.reset(seed=list(seeds))
        obs, infos = self.vec.reset(seed=self._split(seeds))
        return _flat(obs, self.n), _merge_infos([g[3] for g in infos["group"]], self.per_worker)

    def step(self, actions: np.ndarray):
        if self.workers == 1:
            return self.vec.step(actions)
        obs, _, _, _, infos = self.vec.step(actions.reshape(self.workers, self.per_worker, *actions.shape[1:]))
        groups = infos["group"]
        reward, terminated, truncated = (np.concatenate([g[i] for g in groups]) for i in range(3))
        return _flat(obs, self.n), reward, terminated, truncated, _merge_infos([g[3] for g in groups], self.per_worker)

    def set_next_seeds(self, seeds: Sequence[Optional[object]]) -> None:
        """Each env's seed for its next autoreset (None: none; workers.IDLE: park it)."""
        self.vec.set_attr("next_seed", list(seeds) if self.workers == 1 else self._split(seeds))

    def close(self, terminate: bool = False) -> None:
        if self.workers == 1:
            self.vec.close()
        else:
            self.vec.close(terminate=terminate)
