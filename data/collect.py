"""`robolearn collect`: run a task's scripted expert and write successful episodes to a store.

Determinism: attempt i uses seed cfg.seed + i for the env reset and, through `expert_rng`, for an
expert stream independent of the reset's (DART noise, `expert_noise`, has a third stream), so an
attempt's outcome depends on its seed only. The kept episodes are the first `episodes` successful
attempts in seed order, so the file is the same for any number of workers: workers finish attempts
in any order, results are handed back in seed order, and attempts past the last needed one
are discarded.

Workers are processes started with `spawn` (OpenGL contexts do not survive `fork`); each makes its
env once and reuses it across attempts.
"""
from __future__ import annotations

import inspect
import itertools
import math
import multiprocessing as mp
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before anything imports mujoco)

import numpy as np
from tqdm.auto import tqdm

from robolearn.envs import expert_rng, get_task, make_env
from robolearn.errors import RobolearnError
from robolearn.settings import CollectConfig

from .store import StoreWriter, make_env_args

# An env that never ends an episode is a bug in the env; stop instead of filling the disk.
MAX_EPISODE_STEPS = 100_000

_WORKER: dict = {}


def _noise_rng(seed: int) -> np.random.Generator:
    """DART noise stream: apart from the reset's and the expert's, so noise never changes the mode."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0xDA27]))


def _make(spec: dict):
    task = get_task(spec["env"])
    env = make_env(spec["env"], image_size=spec["image_size"], cameras=spec["cameras"],
                   horizon=spec["horizon"], render=spec.get("images", True))
    return task, env


def run_episode(env, task, seed: int, expert_mode: int | None = None, expert_noise: float = 0.0) -> dict:
    """One expert attempt. Each stored obs_t is the observation a_t was chosen from; the final
    post-episode observation is dropped.

    With `expert_noise` > 0 (DART, Laskey et al. 2017) the env executes the expert's action plus
    Gaussian noise while the stored action is the clean one: the demos visit the perturbed states a
    cloned policy drifts into, labelled with the expert's correction."""
    rng = expert_rng(seed)
    obs, info = env.reset(seed=seed)
    expert = task.expert(env, rng) if expert_mode is None else task.expert(env, rng, mode=expert_mode)
    noise_rng = _noise_rng(seed) if expert_noise > 0 else None
    low, high = env.action_space.low, env.action_space.high
    obs_lists: dict[str, list] = {k: [] for k in obs}
    actions, rewards, dones, states, feats = [], [], [], [], []
    info = {}
    for _ in range(MAX_EPISODE_STEPS):
        for k, v in obs.items():
            obs_lists[k].append(np.array(v, copy=True))  # envs may reuse their buffers
        try:
            states.append(np.asarray(env.unwrapped.get_state(), np.float64).copy())
            feats.append(np.asarray(task.task_features(env), np.float32).copy())
            action = np.asarray(expert.act(obs), np.float32).reshape(-1)
            actions.append(action)
            if noise_rng is not None:
                action = np.clip(action + noise_rng.normal(0.0, expert_noise, action.shape), low, high).astype(np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
        except Exception as e:  # an env or expert error ends this attempt as a fault (counted apart), not the run
            return {"seed": seed, "is_success": False, "sim_fault": f"{type(e).__name__}: {e}"}
        rewards.append(float(reward))
        dones.append(bool(terminated or truncated))
        if terminated or truncated:
            break
    else:
        raise RobolearnError(f"episode with seed {seed} did not end within {MAX_EPISODE_STEPS} steps")
    dones[-1] = True
    return {
        "seed": seed,
        "is_success": bool(info.get("is_success", False)),
        "obs": {k: np.stack(v) for k, v in obs_lists.items()},
        "actions": np.stack(actions),
        "rewards": np.asarray(rewards, np.float32),
        "dones": np.asarray(dones, np.uint8),
        "states": np.stack(states),
        "task_features": np.stack(feats),
        "mode": int(getattr(expert, "mode", -1)),
        "success": float(info.get("success", float(bool(info.get("is_success", False))))),
        "sim_fault": str(info.get("fault", "simulator fault")) if info.get("sim_fault") else None,
    }


def _worker_attempt(args: tuple) -> dict:
    spec, seed = args
    if _WORKER.get("spec") != spec:
        if "env" in _WORKER:
            _WORKER["env"].close()
        _WORKER["task"], _WORKER["env"] = _make(spec)
        _WORKER["spec"] = spec
    ep = run_episode(_WORKER["env"], _WORKER["task"], seed, spec["expert_mode"], spec["expert_noise"])
    if not ep["is_success"]:
        return {"seed": seed, "is_success": False, "sim_fault": ep["sim_fault"]}  # no frames to ship back
    return ep


def _attempts(spec: dict, seeds: range, workers: int) -> Iterator[dict]:
    """Attempt results in seed order."""
    if workers <= 1:
        task, env = _make(spec)
        try:
            for s in seeds:
                yield run_episode(env, task, s, spec["expert_mode"], spec["expert_noise"])
        finally:
            env.close()
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers)
    # At most 2 attempts per worker submitted ahead, not `Pool.imap` over every seed: imap's feeder
    # thread fills the workers' pipe with the whole seed range, and terminating the pool while it is
    # blocked there can deadlock (CI hung in `Pool.terminate`, the feeder waiting on the queue's lock).
    ahead: deque = deque()
    todo = iter(seeds)
    try:
        for s in itertools.islice(todo, 2 * workers):
            ahead.append(pool.apply_async(_worker_attempt, ((spec, s),)))
        while ahead:
            result = ahead.popleft().get()
            s = next(todo, None)
            if s is not None:
                ahead.append(pool.apply_async(_worker_attempt, ((spec, s),)))
            yield result
    finally:
        # The attempts in flight (at most 2 per worker) finish before the workers stop; their results are
        # dropped. Not `Pool.terminate()`: it kills a worker that may be sending its episode (frames: a large
        # message) while holding the result queue's lock, and the pool's task thread then waits on that
        # lock forever (CI hung there twice: with imap's feeder, then with 2 attempts ahead per worker).
        for r in ahead:
            r.wait()
        pool.close()
        pool.join()


@dataclass
class _Tally:
    """What became of the attempts so far."""
    kept: int = 0
    failed: int = 0
    attempts: int = 0
    # "seed N: reason" of attempts ended by a simulator fault (counted apart)
    faults: list[str] = field(default_factory=list)


def _check_config(cfg: CollectConfig, out: Path):
    """Every refusal, before any work; returns the task module and the expert noise to use."""
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} exists; pass --overwrite to replace it")
    if out.is_dir():
        raise RobolearnError(f"{out} is a folder")
    if cfg.episodes < 1:
        raise RobolearnError(f"episodes must be >= 1, got {cfg.episodes}")
    if cfg.image_size < 8:
        raise RobolearnError(f"image_size must be >= 8 px, got {cfg.image_size}")
    if cfg.workers < 1:
        raise RobolearnError(f"workers must be >= 1, got {cfg.workers}")
    task = get_task(cfg.env)  # unknown env id -> RobolearnError
    noise = float(getattr(task, "EXPERT_NOISE", 0.0) if cfg.expert_noise is None else cfg.expert_noise)
    if not (math.isfinite(noise) and noise >= 0):
        raise RobolearnError(f"expert_noise must be a finite number >= 0, got {cfg.expert_noise}")
    if cfg.expert_mode is not None and "mode" not in inspect.signature(task.expert).parameters:
        raise RobolearnError(f"{cfg.env}: its expert has no mode to fix; drop --expert-mode")
    return task, noise


def _keep_successes(results: Iterator[dict], writer: StoreWriter, episodes: int, bar) -> _Tally:
    """Add the successful attempts of `results` (seed order) to `writer` until `episodes` are kept."""
    t = _Tally()
    for ep in results:
        t.attempts += 1
        if ep["is_success"]:
            writer.add_demo(ep)
            t.kept += 1
            bar.update(1)
        else:
            t.failed += 1
            if ep.get("sim_fault"):
                t.faults.append(f"seed {ep['seed']}: {ep['sim_fault']}")
            bar.set_postfix(failed=t.failed)
        if t.kept == episodes:
            break
    return t


def _shortfall(cfg: CollectConfig, t: _Tally) -> str:
    return (f"{cfg.env}: the expert succeeded in only {t.kept} of {t.attempts} attempts (seeds {cfg.seed}.."
            f"{cfg.seed + t.attempts - 1}), {cfg.episodes} needed"
            + (f"; {len(t.faults)} attempts ended in a simulator fault (first: {t.faults[0]})" if t.faults else "")
            + "; raise --max-attempts-factor or check the task")


def collect(cfg: CollectConfig) -> Path:
    """Collect cfg.episodes successful expert episodes into cfg.out (atomic); returns the path."""
    out = Path(cfg.out)
    task, noise = _check_config(cfg, out)
    cameras = list(cfg.cameras) if cfg.cameras else list(task.DEFAULT_CAMERAS)
    out.parent.mkdir(parents=True, exist_ok=True)
    spec = {"env": cfg.env, "image_size": int(cfg.image_size), "cameras": cameras, "horizon": cfg.horizon,
            "expert_mode": cfg.expert_mode, "expert_noise": noise, "images": bool(cfg.images)}
    max_attempts = max(cfg.episodes, math.ceil(cfg.episodes * cfg.max_attempts_factor))
    env_kwargs = {"image_size": int(cfg.image_size), "cameras": cameras}
    if cfg.horizon is not None:
        env_kwargs["horizon"] = int(cfg.horizon)

    bar = tqdm(total=cfg.episodes, desc=f"collect {cfg.env}", unit="ep", dynamic_ncols=True)
    writer = StoreWriter(out, make_env_args(cfg.env, env_kwargs), valid_fraction=cfg.valid_fraction,
                         seed=cfg.seed, overwrite=cfg.overwrite, feature_names=list(task.FEATURE_NAMES))
    try:
        writer.open()
        results = _attempts(spec, range(cfg.seed, cfg.seed + max_attempts), cfg.workers)
        try:
            t = _keep_successes(results, writer, cfg.episodes, bar)
        finally:
            results.close()  # stops the workers
        if t.kept < cfg.episodes:
            raise RobolearnError(_shortfall(cfg, t))
        writer.extra_attrs.update(collect_attempts=t.attempts, collect_failed=t.failed, collect_seed=cfg.seed,
                                  collect_sim_faults=len(t.faults),
                                  collect_expert_noise=noise,
                                  collect_expert_mode=-1 if cfg.expert_mode is None else int(cfg.expert_mode))
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    what = "" if cfg.images else " (no images)"
    note = f", {len(t.faults)} of them simulator faults (first: {t.faults[0]})" if t.faults else ""
    print(f"collected {t.kept} episodes{what} in {t.attempts} attempts ({t.failed} failed{note}) -> {out}",
          file=sys.stderr)
    return out
