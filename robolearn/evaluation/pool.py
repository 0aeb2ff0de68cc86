"""The envs of an evaluation: `workers` processes with `per_worker` envs each, seen as one batch.

One worker: an `EnvBatch` in this process (robolearn.evaluation.batch). More: a gymnasium
`AsyncVectorEnv` (spawn: OpenGL contexts do not survive fork; observations through shared memory)
whose every worker runs an `EnvGroup` of `per_worker` envs (robolearn.evaluation.workers). Each step then costs one message
each way per worker, not per env. Measured on PointMass (0.5-0.6 ms a step, expert, 64 px), CPU per
env step outside the envs' own step: one env per worker 0.20 ms in the main process + 0.25 ms in
the worker (pipes, pickling, shared memory, wake-ups); 8 envs per worker 0.06 + 0.06 ms. A plain
AsyncVectorEnv with more envs would add processes, each paying the per-message cost; a process pool
of our own would re-implement what gymnasium already gets right (processes, shared memory, errors,
shutdown). So the groups run inside gymnasium's AsyncVectorEnv and this module only flattens their
batches into one.

Env j is slot j % per_worker of worker j // per_worker. Both layouts autoreset in gymnasium's
NEXT_STEP mode and give one info dict per env.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode

from robolearn.evaluation.batch import EnvBatch
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


class EnvPool:
    """`workers` x `per_worker` envs made by `env_fn`, stepped as one batch of `n` envs. The
    observations returned are valid until the next `step` or `reset` (no copy is made)."""

    def __init__(self, env_fn: Callable[[], gym.Env], workers: int, per_worker: int):
        self.workers, self.per_worker = max(1, workers), max(1, per_worker)
        self.n = self.workers * self.per_worker
        # No copies: a step's observations are read (the policy's features, the video frames copied
        # out) before the next step overwrites them; gymnasium's copy was ~45 us of a 0.5 ms step.
        if self.workers == 1:
            self.vec = EnvBatch([env_fn] * self.per_worker)
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
        if self.workers == 1:
            return self.vec.control_hz()
        return float(self.vec.get_attr("control_hz")[0])

    def _split(self, values: Sequence) -> list:
        k = self.per_worker
        return [list(values[i * k:(i + 1) * k]) for i in range(self.workers)]

    def reset(self, seeds: Sequence[int]):
        """Reset every env with its seed: (observations batch, one info dict per env)."""
        if self.workers == 1:
            return self.vec.reset(list(seeds))
        obs, infos = self.vec.reset(seed=self._split(seeds))
        return _flat(obs, self.n), [info for g in infos["group"] for info in g[3]]

    def step(self, actions: np.ndarray, next_seeds: Optional[Sequence] = None):
        """One step of every env; `next_seeds`: each env's seed for its next autoreset, set first
        (None: none; workers.IDLE: park it)."""
        if self.workers == 1:
            if next_seeds is not None:
                self.vec.set_next_seeds(next_seeds)
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
        return _flat(obs, self.n), reward, terminated, truncated, [info for g in groups for info in g[3]]

    def close(self, terminate: bool = False) -> None:
        if self.workers == 1:
            self.vec.close()
        else:
            self.vec.close(terminate=terminate)
