"""The env side of an evaluation: what runs inside each vector-env worker.

`EvalEnvWrapper` gives each episode the seed the runner assigned (also under gymnasium's autoreset),
turns an exception from the env's step into `terminated=True, info["sim_fault"]=True` (the run goes
on; the episode counts as a failure; the traceback travels in `info["fault_traceback"]`, so the
evaluator can save it and the fault is visible), and, for `--policy expert`, builds the scripted expert at each
reset and puts its next action in `info["expert_action"]`, so the expert is evaluated through
exactly the path a policy uses. `next_seed = IDLE` parks an env that has no episode left: its steps
return its last observation without simulating, so the last episodes of a run do not pay for idle
neighbours.

`EnvGroup` is what one worker process runs: several of these envs in an `EnvBatch`
(robolearn.evaluation.batch), seen by the main process's `AsyncVectorEnv` as one env whose observation is their batch, so one
message per step carries the whole group (robolearn.evaluation.pool).

Every spawned worker imports this module: it imports no torch, tqdm, imageio or wandb.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)

import importlib
import multiprocessing
import signal
import traceback
from typing import Any, Callable, Optional, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from robolearn.envs import expert_rng, get_task, make_env
from robolearn.evaluation.batch import EnvBatch
from robolearn.errors import RobolearnError


IDLE = "idle"
"""`next_seed` for an env with no episode left: its autoreset parks it (see EvalEnvWrapper.step)."""
NO_SEED, IDLE_SEED = -1, -2
"""None and IDLE in EnvGroup's integer `next_seed` action (episode seeds are never negative)."""


def _finite(obs: Any) -> bool:
    """False when a float observation holds NaN/inf: a diverged simulation the env did not flag."""
    values = obs.values() if isinstance(obs, dict) else [obs]
    for v in values:
        a = np.asarray(v)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return False
    return True


class EvalEnvWrapper(gym.Wrapper):
    """Per-episode seeding under autoreset, fault containment, and (optionally) the scripted expert."""

    def __init__(self, env: gym.Env, env_id: str, expert: bool):
        super().__init__(env)
        self.env_id = env_id
        self.use_expert = expert
        self.next_seed: Optional[int] = None
        """Seed for the next reset that comes without one (gymnasium's autoreset); set by the evaluator."""
        self._expert = None
        self._task = None
        self._last_obs = None
        self._parked = False

    def _expert_info(self, obs, info: dict) -> None:
        info["expert_action"] = np.asarray(self._expert.act(obs), dtype=np.float32)
        mode = getattr(self._expert, "mode", None)
        if mode is not None:
            info["expert_mode"] = mode

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        if seed is None and self.next_seed is not None:
            seed = self.next_seed
        self.next_seed = None
        self._parked = seed == IDLE
        if self._parked:  # the evaluator ignores this env from now on: no simulation, no render
            if self._last_obs is None:  # an env beyond the episode count: one unseeded reset for a well-formed batch
                self._last_obs, _ = self.env.reset()
            return self._last_obs, {"episode_seed": -1}
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        # Echoed back so the evaluator can check that every episode ran with the seed it assigned.
        info["episode_seed"] = -1 if seed is None else int(seed)
        if self.use_expert:
            if self._task is None:
                self._task = get_task(self.env_id)
            # The expert's own randomness (mode choice, noise) follows the episode seed too, from a
            # stream independent of the reset's.
            # An idle env (past the episode count) resets without a seed; its rollout is ignored.
            rng = expert_rng(seed) if seed is not None else np.random.default_rng()
            self._expert = self._task.expert(self.env, rng)
            self._expert_info(obs, info)
        self._last_obs = obs
        return obs, info

    def _fault(self, reason: str, tb: Optional[str] = None):
        info = {"success": 0.0, "is_success": False, "sim_fault": True, "fault": reason}
        if tb:
            info["fault_traceback"] = tb
        if self.use_expert:
            info["expert_action"] = np.zeros(self.action_space.shape, np.float32)
        # The last good observation keeps the shared-memory batch well-formed; the episode ends here.
        return self._last_obs, 0.0, True, False, info

    def step(self, action):
        if self._parked:
            return self._last_obs, 0.0, False, False, {}
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as e:  # MuJoCo/env errors inside the worker: contain them to this episode
            return self._fault(f"{type(e).__name__}: {e}", traceback.format_exc())
        info = dict(info)
        if info.get("sim_fault") or not _finite(obs):
            reason = info.get("fault") or ("simulator fault" if info.get("sim_fault") else "non-finite observation")
            return self._fault(str(reason), info.get("fault_traceback"))
        if self.use_expert:
            try:
                self._expert_info(obs, info)
            except Exception as e:  # an expert that cannot act on this state: same treatment
                return self._fault(f"expert {type(e).__name__}: {e}", traceback.format_exc())
        self._last_obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), info


def make_eval_env(env_id: str, env_kwargs: dict, expert: bool) -> gym.Env:
    """Env factory for the vector env; runs in each worker (and once in the main process for spaces)."""
    if multiprocessing.parent_process() is not None:
        # A worker: Ctrl-C is handled once, by the main process, which then terminates the workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    env_id = _import_env_module(env_id)
    return EvalEnvWrapper(make_env(env_id, **env_kwargs), env_id, expert)


def _import_env_module(env_id: str) -> str:
    """`module:EnvId` (gymnasium's convention) imports `module` first so it can register EnvId.

    This is how an env registered outside robolearn reaches a spawned worker.
    """
    if ":" not in env_id:
        return env_id
    module, _, name = env_id.partition(":")
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise RobolearnError(f"env '{env_id}': cannot import module '{module}' ({e})") from e
    return name


class EnvGroup(gym.Env):
    """`len(env_fns)` evaluation envs stepped in turn in one worker process, one env to AsyncVectorEnv.

    Its observation is the batch of its envs'; its action a dict: `action`, the batch of theirs, and
    `next_seed`, each env's seed for its next autoreset (NO_SEED: none; IDLE_SEED: park), applied
    before the step, so handing out episodes costs no extra message. A step returns reward 0 and
    never ends (the group autoresets its own envs, gymnasium's NEXT_STEP mode): its envs' rewards,
    terminated, truncated and infos (one dict per env) travel in `info["group"]` (a reset's: the
    infos only).
    `reset(seed=[...])` takes one seed per env.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], build: bool = True):
        first = env_fns[0]()
        k = len(env_fns)
        self.metadata, self.render_mode = first.metadata, first.render_mode
        self.observation_space = batch_space(first.observation_space, k)
        self.action_space = gym.spaces.Dict({
            "action": batch_space(first.action_space, k),
            "next_seed": gym.spaces.Box(IDLE_SEED, np.iinfo(np.int64).max, (k,), np.int64)})
        self.envs: Optional[EnvBatch] = None
        if not build:  # AsyncVectorEnv's probe for the spaces, in the main process: one env is enough
            first.close()
            return
        # The batch is valid until the next step: AsyncVectorEnv copies it into shared memory at once.
        self.envs = EnvBatch([lambda: first, *env_fns[1:]])

    @property
    def control_hz(self) -> float:
        return self.envs.control_hz()

    def reset(self, *, seed: Optional[Sequence] = None, options: Optional[dict] = None):
        # `options` is part of gymnasium's reset signature; no evaluation env takes any.
        obs, infos = self.envs.reset([None] * self.envs.n if seed is None else list(seed))
        return obs, {"group": (None, None, None, infos)}

    def step(self, action: dict):
        seeds = action["next_seed"]
        if (seeds != NO_SEED).any():
            self.envs.set_next_seeds([None if s == NO_SEED else IDLE if s == IDLE_SEED else int(s) for s in seeds])
        obs, reward, terminated, truncated, infos = self.envs.step(action["action"])
        return obs, 0.0, False, False, {"group": (reward, terminated, truncated, infos)}

    def close(self):
        if self.envs is not None:
            self.envs.close()


def make_env_group(env_fn: Callable[[], gym.Env], size: int) -> EnvGroup:
    """AsyncVectorEnv's factory: `size` envs in a worker; in the main process (its probe) just one."""
    return EnvGroup([env_fn] * size, build=multiprocessing.parent_process() is not None)
