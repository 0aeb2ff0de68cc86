"""robolearn's MuJoCo tasks. Importing this package registers them with gymnasium.

    from robolearn.envs import get_task, make_env
    env = make_env("robolearn/BlockPush-v0", image_size=64)
    obs, info = env.reset(seed=0)
    task = get_task("robolearn/BlockPush-v0")
    expert = task.expert(env, expert_rng(0))   # a new expert per episode, after reset
    obs, reward, terminated, truncated, info = env.step(expert.act(obs))

Observations: `<camera>_image` per camera, `proprio`, and `state` (the privileged low-dimensional
state: object poses and goals, never the expert's private plan) for the state-ceiling policy.
A task module provides `expert(env, rng)`, `task_features(env)`, `FEATURE_NAMES` and
`DEFAULT_CAMERAS`. Env kwargs: `image_size`, `cameras`, `horizon`, `render`, `render_mode`.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before anything imports mujoco)

import difflib
from types import ModuleType

import gymnasium
import numpy as np

from robolearn.envs import blockpush, metaworld_tasks, pointmass, reach, robosuite_tasks
from robolearn.errors import RobolearnError

TASKS: dict[str, ModuleType] = {
    "robolearn/PointMass-v0": pointmass,
    "robolearn/BlockPush-v0": blockpush,
    "robolearn/Reach-v0": reach,
    "robolearn/ReachTarget-v0": reach,
}

_ENTRY_POINTS = {
    "robolearn/PointMass-v0": "robolearn.envs.pointmass:PointMassEnv",
    "robolearn/BlockPush-v0": "robolearn.envs.blockpush:BlockPushEnv",
    "robolearn/Reach-v0": "robolearn.envs.reach:ReachEnv",
    "robolearn/ReachTarget-v0": "robolearn.envs.reach:ReachTargetEnv",
}

for _id, _entry in _ENTRY_POINTS.items():
    # No max_episode_steps: the envs truncate at their own `horizon` kwarg, so a TimeLimit wrapper
    # with a second, possibly different, limit is never added.
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=_entry)

# Simulator adapters (optional extra `sim`): registering imports neither robosuite nor metaworld;
# making one of these envs does, and names the extra when it is missing.
for _adapter in (robosuite_tasks, metaworld_tasks):
    TASKS.update(_adapter.TASKS)
    for _id, _task in _adapter.TASKS.items():
        if _id not in gymnasium.registry:
            gymnasium.register(id=_id, entry_point=_adapter.ENTRY_POINT, kwargs={"task": _task.name})


def _unknown(env_id: str) -> RobolearnError:
    close = difflib.get_close_matches(env_id, list(TASKS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return RobolearnError(f"unknown env id '{env_id}'{hint}; known: {', '.join(TASKS)}")


def get_task(env_id: str) -> ModuleType:
    """The task module of a robolearn env id (expert, task_features, FEATURE_NAMES, DEFAULT_CAMERAS)."""
    try:
        return TASKS[env_id]
    except KeyError:
        raise _unknown(env_id) from None


def task_setting(env_id: str, name: str, default=None):
    """A setting a task's module declares for the methods trained on its data (e.g. DynaMo's
    `DYNAMO_LATENT_DIM`, the heads' `HEAD_HORIZONS`); `default` for an unknown env id (an imported
    dataset) or a task that declares none."""
    return getattr(TASKS.get(env_id), name, default)


def expert_rng(seed: int) -> np.random.Generator:
    """The expert's random stream for the episode reset with `seed`.

    Independent of the reset's own stream: `default_rng(seed)` beside `env.reset(seed=seed)` is the
    same PCG64 stream, so an expert drawing its mode from it would copy the scene's jitter (the
    hidden block assignment equalled the sign of a target's x-jitter in 400/400 episodes)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))


def make_env(env_id: str, **kwargs) -> gymnasium.Env:
    """gymnasium.make with a one-line error for ids nobody registered.

    Any registered id works (adapters registered elsewhere included); `env.unwrapped` is the task env.
    """
    if env_id not in gymnasium.registry:
        raise _unknown(env_id)
    return gymnasium.make(env_id, **kwargs)


__all__ = ["TASKS", "expert_rng", "get_task", "make_env", "task_setting"]
