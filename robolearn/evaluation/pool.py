"""The envs of an evaluation: `workers` processes with `per_worker` envs each, seen as one batch.

One worker: a gymnasium `SyncVectorEnv` in this process. More: an `AsyncVectorEnv` (spawn: OpenGL
contexts do not survive fork; observations through shared memory) whose every worker runs an
`EnvGroup` of `per_worker` envs (robolearn.evaluation.workers). Each step then costs one message
each way per worker, not per env. Measured on PointMass (0.5-0.6 ms a step, expert, 64 px), CPU per
env step outside the envs' own step: one env per worker 0.20 ms in the main process + 0.25 ms in
the worker (pipes, pickling, shared memory, wake-ups); 8 envs per worker 0.06 + 0.06 ms. A plain
AsyncVectorEnv with more envs would add processes, each paying the per-message cost; a vector env
of our own would re-implement what gymnasium already gets right (processes, shared memory, errors,
shutdown). So gymnasium's two vector envs are nested and this module only flattens the groups'
batches into one.

Env j is slot j % per_worker of worker j // per_worker. Both layouts autoreset in gymnasium's
NEXT_STEP mode and give infos in its batched `key` / `_key` layout.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from robolearn.evaluation.workers import IDLE, IDLE_SEED, NO_SEED, make_env_group

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
    """`workers` x `per_worker` envs made by `env_fn`, stepped as one batch of `n` envs. The
    observations returned are valid until the next `step` or `reset` (no copy is made)."""

    def __init__(self, env_fn: Callable[[], gym.Env], workers: int, per_worker: int):
        self.workers, self.per_worker = max(1, workers), max(1, per_worker)
        self.n = self.workers * self.per_worker
        # copy=False: a step's observations are read (the policy's features, the video frames copied
        # out) before the next step overwrites them; gymnasium's copy was ~45 us of a 0.5 ms step.
        if self.workers == 1:
            self.vec = SyncVectorEnv([env_fn] * self.per_worker, copy=False, autoreset_mode=AutoresetMode.NEXT_STEP)
        else:
            # The groups autoreset their own envs; the outer vector env never sees an episode end.
            self.vec = AsyncVectorEnv(
                [functools.partial(make_env_group, env_fn, self.per_worker)] * self.workers, context="spawn",
                shared_memory=True, copy=False, daemon=True, autoreset_mode=AutoresetMode.DISABLED,
            )
        single = self.vec.single_action_space
        self.action_shape = (self.n, *(single.shape if self.workers == 1 else single["action"].shape[1:]))
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

    def step(self, actions: np.ndarray, next_seeds: Optional[Sequence] = None):
        """One step of every env; `next_seeds`: each env's seed for its next autoreset, set first
        (None: none; workers.IDLE: park it)."""
        if self.workers == 1:
            if next_seeds is not None:
                self.vec.set_attr("next_seed", list(next_seeds))
            return self.vec.step(actions)
        seeds = np.full(self.n, NO_SEED, np.int64)
        for j, s in enumerate(next_seeds or ()):
            if s is not None:
                seeds[j] = IDLE_SEED if s == IDLE else s
        obs, _, _, _, infos = self.vec.step({
            "action": actions.reshape(self.workers, self.per_worker, *actions.shape[1:]),
            "next_seed": seeds.reshape(self.workers, self.per_worker)})
        groups = infos["group"]
        reward, terminated, truncated = (np.concatenate([g[i] for g in groups]) for i in range(3))
        return _flat(obs, self.n), reward, terminated, truncated, _merge_infos([g[3] for g in groups], self.per_worker)

    def close(self, terminate: bool = False) -> None:
        if self.workers == 1:
            self.vec.close()
        else:
            self.vec.close(terminate=terminate)
