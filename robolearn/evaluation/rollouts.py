"""Rollouts: an env runner in diffusion_policy's style, `EnvRunner(...).run(policy) -> dict`.

Rollouts run on an `EnvPool` (robolearn.evaluation.pool): `workers` processes with several envs
each, stepped as one batch, so the policy acts for every env in one forward. Episode i always uses
seed `seed + i`, whichever env runs it, so results do not depend on the number of workers or envs.

Autoreset: gymnasium 1.x's NEXT_STEP mode. The step that returns terminated/truncated for an env
carries that episode's final observation and info; the *next* `step` call resets that env instead of
stepping it (the action sent for it is ignored) and returns the first observation of the new
episode. The env reset there gets no seed from gymnasium, so that call hands the env its next
episode seed first (`EnvPool.step(actions, next_seeds)`: `EvalEnvWrapper.next_seed`, which its
reset consumes, robolearn.evaluation.workers); an env with no episode left gets `IDLE` and parks.

Each episode's record carries a digest of the actions applied (`actions_digest`): two evaluations
rolled an episode out identically exactly when the digests agree. A sampling policy's noise comes
from one generator per episode, seeded with the episode's seed: an episode's rollout does not depend
on the episodes run before it on its worker or beside it (so shards merge to the same outcomes).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np
import psutil
import torch
from tqdm.auto import tqdm

from robolearn.envs import task_setting
from robolearn.errors import RobolearnError
from robolearn.evaluation import pool
from robolearn.evaluation.workers import IDLE, make_eval_env

log = logging.getLogger(__name__)


def _scalar(v) -> Any:
    """A JSON-able Python scalar, or None for anything that is not one (arrays, dicts, objects)."""
    if isinstance(v, np.ndarray):
        if v.ndim != 0:
            return None
        v = v.item()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool) or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return None


def _frame(obs: dict, j: int, image_keys: list[str]) -> np.ndarray:
    """All cameras of env j side by side (uint8 HxWx3)."""
    return np.concatenate([np.asarray(obs[k][j]) for k in image_keys], axis=1)


def _worker_cpu(envs: pool.EnvPool) -> float:
    """CPU seconds the pool's worker processes have used so far (0 for the in-process one)."""
    total = 0.0
    for p in envs.processes:
        try:
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:  # a worker that already exited
            pass
    return total


class _Episode:
    __slots__ = ("index", "seed", "length", "reached", "frames", "generator", "digest")

    def __init__(self, index: int, seed: int, record: bool, generator=None):
        self.index, self.seed = index, seed
        self.length = 0
        self.reached = False
        self.frames: Optional[list] = [] if record else None
        self.generator = generator
        self.digest = hashlib.blake2b(digest_size=8)  # of the actions applied, in order


def _record(ep: _Episode, info: dict, fault: bool, truncated: bool) -> dict:
    final = {}
    for k, v in info.items():
        if k in ("expert_action", "expert_mode", "episode_seed", "fault_traceback"):
            continue
        s = _scalar(v)
        if s is not None:
            final[k] = s
    mode = _scalar(info.get("expert_mode", info.get("mode")))
    return {
        "episode": ep.index,
        "seed": ep.seed,
        "success": bool(ep.reached and not fault),
        "length": ep.length,
        "final_success": float(final.get("success", float(ep.reached))) if not fault else 0.0,
        "sim_fault": fault,
        "truncated": truncated,
        "mode": mode,
        "final_info": final,
        "video": None,
        "actions_digest": ep.digest.hexdigest(),
    }


def _fault_order(fault: dict) -> tuple:
    return (fault["traceback"] is None, fault["episode"])


def _actions(policy, envs: pool.EnvPool, obs: dict, infos: list, fresh: list, ended: list,
             episodes: list, head_noise, generator, gen_device) -> np.ndarray:
    """This step's actions for every env: the scripted expert's (policy None) or the policy's.
    `fresh` marks envs whose obs starts an episode (the policy's history resets there); `ended`
    envs are reset by this step, which ignores their action."""
    if policy is None:
        actions = np.zeros(envs.action_shape, np.float32)
        for j, info in enumerate(infos):  # every live env has one; zeros for the rest
            a = info.get("expert_action")
            if a is not None:
                actions[j] = a
        return actions
    if all(fresh):
        policy.reset()
    elif any(fresh):
        policy.reset(np.array(fresh))
    if head_noise is not None:
        # Every live episode draws one noise sample per step from its own generator (the policy uses
        # the rows of the environments that plan a chunk this step). Not an env whose episode just
        # ended: this step resets it and ignores its action.
        noise = torch.cat([head_noise.sample_noise(1, ep.generator, gen_device)
                           if ep is not None and not ended[j]
                           else torch.zeros(head_noise.noise_shape(1), device=gen_device)
                           for j, ep in enumerate(episodes)])
        actions = policy.select_action(obs, noise=noise)
    else:
        actions = policy.select_action(obs, generator=generator)
    actions = np.array(actions, np.float32)  # a copy: the runner clips it in place
    if actions.shape != envs.action_shape:
        raise RobolearnError(f"policy returned actions of shape {actions.shape}; the env expects {envs.action_shape}")
    return actions


class _Tally:
    """The finished episodes of a rollout: records, recorded clips, simulator faults."""

    def __init__(self):
        self.records: dict[int, dict] = {}
        self.clips: list[tuple[int, int, list]] = []  # (episode, seed, frames) of the recorded episodes
        self.faults = 0
        self.successes = 0  # counted as they come: the progress bar reads the rate after every episode
        self.first_fault: Optional[dict] = None

    def finish(self, ep: _Episode, info: dict, truncated: bool) -> None:
        fault = bool(info.get("sim_fault", False))
        if fault:
            self.faults += 1
            this = {"episode": ep.index, "seed": ep.seed, "reason": str(info.get("fault", "sim_fault")),
                    "traceback": info.get("fault_traceback")}
            if self.first_fault is None or _fault_order(this) < _fault_order(self.first_fault):
                self.first_fault = this
            log.warning("episode %d (seed %d): simulator fault after %d steps (%s); counted as a failure",
                        ep.index, ep.seed, ep.length, info.get("fault", "sim_fault"))
        self.records[ep.index] = _record(ep, info, fault, truncated)
        self.successes += self.records[ep.index]["success"]
        if ep.frames:
            self.clips.append((ep.index, ep.seed, ep.frames))

    def success_rate(self) -> float:
        return self.successes / max(len(self.records), 1)


class EpisodeList:
    """The episodes of a run handed out in order (this process's share, or a shard's).

    `first(n_envs)` places the first ones at env (episode index mod envs), as in the unsharded
    evaluation, so a shard's episodes sit in the rows of the policy's batch they have there;
    `next()` gives the next index, or None when none is left."""

    def __init__(self, episodes: Sequence[int]):
        self.todo = list(episodes)
        self._next = 0

    def first(self, n_envs: int) -> dict[int, int]:
        self._next = min(n_envs, len(self.todo))
        return {self.todo[p] % n_envs: self.todo[p] for p in range(self._next)}

    def next(self) -> Optional[int]:
        if self._next >= len(self.todo):
            return None
        self._next += 1
        return self.todo[self._next - 1]

    def finish(self, success: bool) -> None:
        """An episode ended (the shared source counts them for the main process's progress bar)."""


class _Rollout:
    """One `EnvRunner.run` between steps: the episode on each env, the per-env flags, the tally of the
    finished episodes, and the source that hands the next ones out."""

    def __init__(self, runner: "EnvRunner", source, bar, head_noise, gen_device):
        self.seed, self.videos, self.n_envs = runner.seed, runner.videos, runner.n_envs
        self.source, self.bar = source, bar
        self.head_noise, self.gen_device = head_noise, gen_device
        self.tally = _Tally()
        self.counted_steps = 0
        self.slot: dict[int, int] = {}
        self.image_keys: list[str] = []
        self.episodes: list[Optional[_Episode]] = []
        # Per-env flags as Python lists: on a cheap env (PointMass, ~0.3 ms a step) numpy's per-element
        # indexing in this loop was a measurable share of the evaluator's own time.
        self.fresh = [True] * self.n_envs  # env j's obs is the first of an episode
        self.ended = [False] * self.n_envs  # env j's episode ended: the next step() resets it
        self.live = 0

    def new_episode(self, index: int) -> _Episode:
        seed = self.seed + index
        g = torch.Generator(device=self.gen_device).manual_seed(seed) if self.head_noise is not None else None
        return _Episode(index, seed, index < self.videos, g)

    def first_seeds(self) -> list:
        """The first reset's seed for every env. The first episodes go to the envs the source places
        them at. Envs without an episode (workers x envs per worker need not divide the count) park at once."""
        self.slot = slot = self.source.first(self.n_envs)
        return [self.seed + slot[j] if j in slot else IDLE for j in range(self.n_envs)]

    def begin(self, obs: dict, policy) -> None:
        """After the first reset: the cameras recorded, and the first episodes on their envs."""
        image_keys = [k for k in obs if k.endswith("_image")]
        if policy is not None:
            cams = [f"{c}_image" for c in getattr(policy, "cameras", [])]
            image_keys = [k for k in cams if k in obs] or image_keys
        self.image_keys = image_keys
        slot = self.slot
        self.episodes = [self.new_episode(slot[j]) if j in slot else None for j in range(self.n_envs)]
        self.live = sum(ep is not None for ep in self.episodes)

    def check_starts(self, obs: dict, infos: list) -> None:
        """Envs whose obs starts an episode: the seed it took, and its first frame."""
        fresh, image_keys = self.fresh, self.image_keys
        for j, ep in enumerate(self.episodes):
            if not fresh[j] or ep is None:
                continue
            got = int(infos[j].get("episode_seed", ep.seed))
            if got != ep.seed:  # an autoreset that did not take its assigned seed: a bug, not noise
                raise RobolearnError(f"internal: env {j} reset with seed {got}, expected {ep.seed}")
            if ep.frames is not None:
                ep.frames.append(_frame(obs, j, image_keys))

    def after_step(self, obs: dict, infos: list, actions: np.ndarray, terminated, truncated) -> Optional[list]:
        """Every env's bookkeeping after a step: lengths, digests, frames, finished episodes and the
        next ones. Returns the seeds the next step's autoresets take, or None."""
        n_envs, episodes, image_keys = self.n_envs, self.episodes, self.image_keys
        tally, source, bar = self.tally, self.source, self.bar
        done, truncated = (terminated | truncated).tolist(), truncated.tolist()
        # Envs that ended on the previous step were reset by this call (NEXT_STEP): their new
        # obs starts the episode assigned to them; every other env took a real step.
        self.fresh, self.ended = fresh, ended = self.ended, [False] * n_envs
        new_seeds: list[Optional[int]] = [None] * n_envs
        counted_steps, live = 0, self.live
        for j in range(n_envs):
            if fresh[j]:
                continue
            ep = episodes[j]
            if ep is None:  # idle: beyond the episode count, its rollouts are ignored
                ended[j] = done[j]
                continue
            info = infos[j]
            ep.length += 1
            ep.digest.update(actions[j].tobytes())
            counted_steps += 1
            if info.get("is_success", False):
                ep.reached = True
            if ep.frames is not None:
                ep.frames.append(_frame(obs, j, image_keys))
            if not done[j]:
                continue
            tally.finish(ep, info, truncated[j])
            source.finish(tally.records[ep.index]["success"])
            bar.update(1)
            bar.set_postfix(success=f"{tally.success_rate():.2f}")
            ended[j] = True
            index = source.next()
            if index is not None:
                episodes[j] = self.new_episode(index)
                new_seeds[j] = self.seed + index
            else:
                episodes[j] = None
                new_seeds[j] = IDLE
                live -= 1
        self.counted_steps += counted_steps
        self.live = live
        if live and any(s is not None for s in new_seeds):
            return new_seeds  # applied before the next step, whose autoreset takes them
        return None


def _sampling(policy, seed: int) -> tuple:
    """(generator, head_noise, gen_device) of `policy`. Sampling policies (diffusion, VQ-BeT) draw their
    noise from one generator per episode, seeded with the episode's seed: same seed, same rollout,
    whichever episodes run beside it (shards); `head_noise` is their head, None for the others."""
    generator = head_noise = None
    gen_device = getattr(policy, "device", "cpu")
    if policy is not None:
        generator = torch.Generator(device=gen_device).manual_seed(seed)
        head = getattr(policy, "head", None)
        if head is not None and hasattr(head, "noise_shape") and head.noise_shape(1) is not None:
            head_noise = head
    return generator, head_noise, gen_device


def _close(envs: pool.EnvPool, bar, closed_cleanly: bool) -> None:
    """The progress bar and the pool closed, the pool's workers terminated unless the run ended cleanly."""
    bar.close()
    try:
        with warnings.catch_warnings():
            # gymnasium warns that a call was pending when we close mid-step: that is the point.
            warnings.simplefilter("ignore")
            # terminate=True on errors and Ctrl-C: a worker may be mid-call; never leave processes behind.
            envs.close(terminate=not closed_cleanly)
    except Exception:  # closing must not mask the error that got us here
        if closed_cleanly:
            raise


class EnvRunner:
    """Rolls episodes `episodes` (global indices; episode i has seed `seed + i`) out in `env_id` on
    `workers` processes with `envs_per_worker` envs each (None: `pool.envs_per_worker`, every worker's
    share of the episodes at once, capped; planned for `plan_episodes` if given), recording frames of
    the episodes numbered below `videos`. `source` (default: `EpisodeList(episodes)`) hands the
    episodes out; independent loops share one (robolearn.evaluation.loops)."""

    def __init__(self, env_id: str, env_kwargs: dict, episodes: Sequence[int], seed: int, workers: int = 1,
                 videos: int = 0, expert: bool = False, desc: Optional[str] = None,
                 envs_per_worker: Optional[int] = None, plan_episodes: Optional[int] = None,
                 source=None, progress: bool = True, ready: Optional[Callable[[], Any]] = None):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)
        self.todo = list(episodes)
        self.source = source
        self.progress = progress
        self.ready = ready
        """Called once the envs are built, before the first reset: independent loops wait there for each
        other (robolearn.evaluation.loops), so none starts its share while another is still importing."""
        self.seed, self.videos, self.expert = int(seed), int(videos), bool(expert)
        # A shard plans its envs for the whole evaluation (`plan_episodes`): the policy's batches then
        # have the unsharded size, so float results, and the shards' merge, match it exactly.
        planned = max(len(self.todo), plan_episodes or 0)
        self.workers = max(1, min(workers, planned))
        # A task may cap its envs per worker (the simulator adapters: 1, see EVAL_ENVS_PER_WORKER).
        cap = task_setting(env_id.rpartition(":")[2], "EVAL_ENVS_PER_WORKER", pool.MAX_ENVS_PER_WORKER)
        self.per_worker = max(1, envs_per_worker or pool.envs_per_worker(planned, self.workers, cap))
        self.n_envs = self.workers * self.per_worker
        self.desc = desc or f"eval {env_id}"

    def run(self, policy=None) -> dict:
        """Roll `policy` out (None with `expert`: the scripted expert acts). Returns
        records      one dict per episode, in episode order
        clips        (episode, seed, frames) of the recorded episodes
        fps          the env's control rate
        workers, envs_per_worker, sim_faults, env_steps, rollout_seconds, wall_seconds
        first_fault  None, or one faulted episode's episode, seed, reason and traceback (None when
                     the env reported the fault without raising): the lowest-numbered with a
                     traceback, else the lowest-numbered (the same whatever the workers)
        main_cpu_seconds, worker_cpu_seconds   CPU time of this process and of the env workers
                     over the rollout (from the first reset: process start excluded)
        startup_cpu_seconds   the part of both spent in the first reset, where every env opens its
                     GL context and renders its first frame (per env, so it grows with envs)
        rollout_started, rollout_ended   time.monotonic() at the first reset and at the end (one
                     clock for every process of the machine: independent loops are timed together)"""
        if policy is None and not self.expert:
            raise RobolearnError("internal: EnvRunner.run needs a policy, or expert=True")
        source = self.source if self.source is not None else EpisodeList(self.todo)
        env_fn = functools.partial(make_eval_env, self.env_id, self.env_kwargs, self.expert)
        generator, head_noise, gen_device = _sampling(policy, self.seed)
        t_start = time.perf_counter()
        envs = pool.EnvPool(env_fn, self.workers, self.per_worker)
        closed_cleanly = False
        bar = tqdm(total=len(self.todo), desc=self.desc, unit="ep", dynamic_ncols=True,
                   **({} if self.progress else {"disable": True}))
        state = _Rollout(self, source, bar, head_noise, gen_device)
        try:
            fps = envs.control_hz()
            if self.ready is not None:
                self.ready()
            timing = self._timed_rollout(envs, state, policy, generator, t_start)
            closed_cleanly = True
        finally:
            _close(envs, bar, closed_cleanly)
        tally = state.tally
        return {"records": [tally.records[i] for i in sorted(tally.records)], "clips": sorted(tally.clips), "fps": fps,
                "workers": self.workers, "envs_per_worker": self.per_worker,
                "sim_faults": tally.faults, "first_fault": tally.first_fault, "env_steps": state.counted_steps,
                **timing}

    def _timed_rollout(self, envs: pool.EnvPool, state: _Rollout, policy, generator, t_start: float) -> dict:
        """Every episode rolled out from the first reset on; returns the timing fields of `run`'s result."""
        t_rollout, started = time.perf_counter(), time.monotonic()
        # CPU seconds beside wall time: what the rollout costs whatever else the machine runs.
        cpu_main, cpu_workers = time.process_time(), _worker_cpu(envs)
        obs, infos = envs.reset(state.first_seeds())
        # Each env's first reset opens its GL context and builds its renderer: start-up, paid per env.
        startup_cpu = time.process_time() - cpu_main + _worker_cpu(envs) - cpu_workers
        state.begin(obs, policy)
        self._step_until_done(envs, state, policy, generator, obs, infos)
        t_end, ended_at = time.perf_counter(), time.monotonic()
        cpu_main, cpu_workers = time.process_time() - cpu_main, _worker_cpu(envs) - cpu_workers
        return {"rollout_seconds": t_end - t_rollout, "wall_seconds": t_end - t_start,
                "main_cpu_seconds": cpu_main, "worker_cpu_seconds": cpu_workers,
                "startup_cpu_seconds": startup_cpu, "rollout_started": started, "rollout_ended": ended_at}

    def _step_until_done(self, envs: pool.EnvPool, state: _Rollout, policy, generator, obs: dict, infos: list) -> None:
        """The step loop: act for every env, step them all as one batch, book the step, until no
        episode is left."""
        acting = None if self.expert else policy
        next_seeds: Optional[list] = None
        while state.live:
            state.check_starts(obs, infos)
            actions = _actions(acting, envs, obs, infos, state.fresh, state.ended, state.episodes,
                               state.head_noise, generator, state.gen_device)
            np.minimum(np.maximum(actions, -1.0, out=actions), 1.0, out=actions)  # np.clip, in place, without its dispatch
            obs, _, terminated, truncated, infos = envs.step(actions, next_seeds)
            next_seeds = state.after_step(obs, infos, actions, terminated, truncated)
