"""`EnvBatch`: a few evaluation envs stepped in turn in one process, their observations as one batch.

It is what gymnasium's `SyncVectorEnv` (NEXT_STEP autoreset) does for the evaluator, with the infos
left as one dict per env instead of batched. Written here because on a cheap env the vector env's
generic machinery was the gap to a plain env loop: PointMass (0.29 ms a step), `SyncVectorEnv`'s
per-space `concatenate` and its info batching, then the evaluator's unbatching of those infos again,
cost ~0.1 ms an env step (`benchmarks/results/stage_speed/rollouts_loops.md`). The evaluator reads
each env's info on its own, so batching them was pure cost. Observations are copied into arrays
allocated once from the observation space; they are valid until the next `step` or `reset`.

Autoreset as gymnasium's NEXT_STEP mode: the step that returns terminated/truncated for an env
carries that episode's final observation and info; the next `step` resets that env instead of
stepping it (its action is ignored), returning reward 0, not done, and the reset's info.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import gymnasium as gym
import numpy as np

from robolearn.errors import RobolearnError


class EnvBatch:
    """`len(env_fns)` envs made at once; `reset(seeds)` and `step(actions)` act on all of them."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        self.envs: list[gym.Env] = []
        try:
            for fn in env_fns:
                self.envs.append(fn())
        except BaseException:
            self.close()
            raise
        self.n = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        space = self.single_observation_space
        if not isinstance(space, gym.spaces.Dict):
            raise RobolearnError(f"evaluation envs must have dict observations, got {type(space).__name__}")
        self._obs = {k: np.zeros((self.n, *s.shape), s.dtype) for k, s in space.spaces.items()}
        self._autoreset = np.zeros(self.n, bool)
        self._rewards = np.zeros(self.n, np.float64)
        self._terminated = np.zeros(self.n, bool)
        self._truncated = np.zeros(self.n, bool)

    def control_hz(self) -> float:
        return float(self.envs[0].get_wrapper_attr("control_hz"))

    def set_next_seeds(self, seeds: Sequence[Optional[object]]) -> None:
        """Each env's seed for its next seedless reset (the autoreset): `EvalEnvWrapper.next_seed`."""
        for env, s in zip(self.envs, seeds):
            env.next_seed = s

    def _put(self, j: int, obs: dict) -> None:
        for k, out in self._obs.items():
            out[j] = obs[k]

    def reset(self, seeds: Sequence[Optional[int]]) -> tuple[dict, list[dict]]:
        infos = []
        for j, (env, s) in enumerate(zip(self.envs, seeds)):
            obs, info = env.reset(seed=s)
            self._put(j, obs)
            infos.append(info)
        self._autoreset[:] = False
        return self._obs, infos

    def step(self, actions: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        infos = []
        for j, env in enumerate(self.envs):
            if self._autoreset[j]:
                obs, info = env.reset()
                reward, terminated, truncated = 0.0, False, False
            else:
                obs, reward, terminated, truncated, info = env.step(actions[j])
            self._put(j, obs)
            self._rewards[j], self._terminated[j], self._truncated[j] = reward, terminated, truncated
            infos.append(info)
        np.logical_or(self._terminated, self._truncated, out=self._autoreset)
        return self._obs, self._rewards.copy(), self._terminated.copy(), self._truncated.copy(), infos

    def close(self) -> None:
        """Close every env, even when one of them raises (the first error is raised after)."""
        envs, self.envs = self.envs, []
        error = None
        for env in envs:
            try:
                env.close()
            except Exception as e:
                error = error or e
        if error is not None:
            raise error
