"""`robolearn eval`: roll a policy (or the scripted expert) out in its task and report success.

Rollouts run on a gymnasium vector env: `AsyncVectorEnv` with `spawn` workers (OpenGL contexts do
not survive `fork`), or `SyncVectorEnv` for one worker. Episode i always uses seed `cfg.seed + i`,
whichever worker runs it, so results do not depend on the number of workers.

Autoreset: gymnasium 1.x's NEXT_STEP mode. The step that returns terminated/truncated for an env
carries that episode's final observation and info; the *next* `step` call resets that env instead of
stepping it (the action sent for it is ignored) and returns the first observation of the new
episode. The env reset there gets no seed from gymnasium, so before that call we hand the worker
the next episode seed through `set_attr("next_seed", ...)`, which `EvalEnvWrapper.reset` consumes.

`EvalEnvWrapper` runs inside each worker. It also turns an exception from the env's step into
`terminated=True, info["sim_fault"]=True` (the run goes on; the episode counts as a failure), and,
for `--policy expert`, builds the scripted expert at each reset and puts its next action in
`info["expert_action"]`, so the expert is evaluated through exactly the path a policy uses.

Each episode's record carries a digest of the actions applied (`actions_digest`): two evaluations
rolled an episode out identically exactly when the digests agree.

Shards: `--shard K/N` runs the K-th of N contiguous shares of the episodes (episode i keeps seed
`cfg.seed + i`), so machines or array jobs can split one evaluation; `merge_results` (`robolearn
eval-merge`) joins the shards' results.json into exactly the unsharded result (timings aside) when
the shards use the unsharded run's --workers (the policy's batch size; float rounding may differ
between batch sizes). For that, a sampling policy's noise comes from one generator per episode,
seeded with the episode's seed: an episode's rollout does not depend on the episodes run before it
on its worker or beside it.

This module is imported by every worker (the env factory lives here): keep torch, tqdm, imageio
and wandb imports inside the functions of the main process.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (sets MUJOCO_GL before anything imports mujoco)

import functools
import hashlib
import logging
import math
import multiprocessing
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import gymnasium as gym
import numpy as np

from robolearn.config import EvalConfig, to_dict
from robolearn.errors import RobolearnError

log = logging.getLogger(__name__)

EXPERT = "expert"
VIDEO_MIN_SIDE = 256
"""Videos are upscaled (nearest neighbour, integer factor) until a frame is at least this tall."""


# ----------------------------------------------------------------------------- statistics
def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for z=1.96).

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n,
    which is exactly where small evaluation runs land. n=0 gives the uninformative (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; float round-off would give 0.9999999999999999.
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return lo, hi


# ----------------------------------------------------------------------------- worker side
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

    def _expert_info(self, obs, info: dict) -> None:
        info["expert_action"] = np.asarray(self._expert.act(obs), dtype=np.float32)
        mode = getattr(self._expert, "mode", None)
        if mode is not None:
            info["expert_mode"] = mode

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        if seed is None and self.next_seed is not None:
            seed = self.next_seed
        self.next_seed = None
        obs, info = self.env.reset(seed=seed, options=options)
        info = dict(info)
        # Echoed back so the evaluator can check that every episode ran with the seed it assigned.
        info["episode_seed"] = -1 if seed is None else int(seed)
        if self.use_expert:
            if self._task is None:
                from robolearn.envs import get_task

                self._task = get_task(self.env_id)
            from robolearn.envs import expert_rng

            # The expert's own randomness (mode choice, noise) follows the episode seed too, from a
            # stream independent of the reset's.
            # An idle env (past the episode count) resets without a seed; its rollout is ignored.
            rng = expert_rng(seed) if seed is not None else np.random.default_rng()
            self._expert = self._task.expert(self.env, rng)
            self._expert_info(obs, info)
        self._last_obs = obs
        return obs, info

    def _fault(self, reason: str):
        info = {"success": 0.0, "is_success": False, "sim_fault": True, "fault": reason}
        if self.use_expert:
            info["expert_action"] = np.zeros(self.action_space.shape, np.float32)
        # The last good observation keeps the shared-memory batch well-formed; the episode ends here.
        return self._last_obs, 0.0, True, False, info

    def step(self, action):
        try:
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as e:  # MuJoCo/env errors inside the worker: contain them to this episode
            return self._fault(f"{type(e).__name__}: {e}")
        info = dict(info)
        if info.get("sim_fault") or not _finite(obs):
            reason = info.get("fault") or ("simulator fault" if info.get("sim_fault") else "non-finite observation")
            return self._fault(str(reason))
        if self.use_expert:
            try:
                self._expert_info(obs, info)
            except Exception as e:  # an expert that cannot act on this state: same treatment
                return self._fault(f"expert {type(e).__name__}: {e}")
        self._last_obs = obs
        return obs, float(reward), bool(terminated), bool(truncated), info


def make_eval_env(env_id: str, env_kwargs: dict, expert: bool) -> gym.Env:
    """Env factory for the vector env; runs in each worker (and once in the main process for spaces)."""
    if multiprocessing.parent_process() is not None:
        # A worker: Ctrl-C is handled once, by the main process, which then terminates the workers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    env_id = _import_env_module(env_id)
    from robolearn.envs import make_env

    return EvalEnvWrapper(make_env(env_id, **env_kwargs), env_id, expert)


def _import_env_module(env_id: str) -> str:
    """`module:EnvId` (gymnasium's convention) imports `module` first so it can register EnvId.

    This is how an env registered outside robolearn reaches a spawned worker.
    """
    if ":" not in env_id:
        return env_id
    import importlib

    module, _, name = env_id.partition(":")
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise RobolearnError(f"env '{env_id}': cannot import module '{module}' ({e})") from e
    return name


# ----------------------------------------------------------------------------- main process
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


def _env_info(infos: dict, j: int) -> dict:
    """Env j's entries of a batched vector-env info dict (the `_key` masks say which it has)."""
    out = {}
    for k, v in infos.items():
        if k.startswith("_") or isinstance(v, dict):
            continue
        mask = infos.get(f"_{k}")
        if mask is not None and not mask[j]:
            continue
        out[k] = v[j]
    return out


def _frame(obs: dict, j: int, image_keys: list[str]) -> np.ndarray:
    """All cameras of env j side by side (uint8 HxWx3)."""
    return np.concatenate([np.asarray(obs[k][j]) for k in image_keys], axis=1)


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """H.264 MP4 of small frames, upscaled by an integer factor (nearest neighbour) to be watchable.

    Frames are padded (black) to multiples of 16, the H.264 macroblock, instead of letting
    imageio-ffmpeg rescale them, which would blur the pixels and print a warning.
    """
    import imageio.v2 as imageio

    h, w = frames[0].shape[:2]
    scale = max(1, math.ceil(VIDEO_MIN_SIDE / h))
    H, W = h * scale, w * scale
    ph, pw = (-H) % 16, (-W) % 16
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.mp4")  # ffmpeg picks the container from the suffix
    writer = imageio.get_writer(
        tmp, fps=fps, codec="libx264", quality=8, macro_block_size=1, pixelformat="yuv420p",
        ffmpeg_log_level="error",
    )
    try:
        for f in frames:
            big = np.repeat(np.repeat(f, scale, axis=0), scale, axis=1)
            if ph or pw:
                big = np.pad(big, ((0, ph), (0, pw), (0, 0)))
            writer.append_data(big)
    finally:
        writer.close()
    tmp.replace(path)


def _load_policy(path: str, device: str):
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RobolearnError(f"{run_dir}: policy folder not found (train one with `robolearn train`, or use --policy expert)")
    from robolearn.policies.policy import Policy

    return Policy.load(run_dir, device=device)


def _make_vector_env(env_fn, n: int):
    from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

    if n <= 1:
        return SyncVectorEnv([env_fn], autoreset_mode=AutoresetMode.NEXT_STEP)
    return AsyncVectorEnv(
        [env_fn] * n, context="spawn", shared_memory=True, daemon=True,
        autoreset_mode=AutoresetMode.NEXT_STEP,
    )


class _Episode:
    __slots__ = ("index", "seed", "length", "reached", "frames", "generator", "digest")

    def __init__(self, index: int, seed: int, record: bool, generator=None):
        self.index, self.seed = index, seed
        self.length = 0
        self.reached = False
        self.frames: Optional[list] = [] if record else None
        self.generator = generator
        self.digest = hashlib.blake2b(digest_size=8)  # of the actions applied, in order


def parse_shard(spec: Optional[str], episodes: int) -> tuple[int, int]:
    """'K/N' -> (K, N), 0 <= K < N <= episodes; None -> (0, 1)."""
    if spec is None:
        return 0, 1
    try:
        k, n = (int(x) for x in str(spec).split("/"))
    except ValueError:
        raise RobolearnError(f"--shard must look like K/N (e.g. 0/4, shards numbered from 0), got {spec!r}") from None
    if not 0 <= k < n:
        raise RobolearnError(f"--shard {spec}: need 0 <= K < N (shards are numbered 0 .. N-1)")
    if n > episodes:
        raise RobolearnError(f"--shard {spec}: {n} shards of {episodes} episodes would leave some empty")
    return k, n


def shard_episodes(episodes: int, k: int, n: int) -> range:
    """Episode indices of shard k of n: contiguous, sizes differing by at most one."""
    return range(k * episodes // n, (k + 1) * episodes // n)


def evaluate(cfg: EvalConfig) -> dict:
    """Run `cfg.episodes` episodes; write `results.json`, videos and tracking in `cfg.out`; return the results."""
    import torch
    from tqdm.auto import tqdm

    from robolearn.checkpoint import save_json

    out = Path(cfg.out)
    results_path = out / "results.json"
    if results_path.exists() and not cfg.overwrite:
        raise RobolearnError(f"{results_path} exists; pass --overwrite to replace it")
    if cfg.episodes < 1:
        raise RobolearnError(f"--episodes must be at least 1 (got {cfg.episodes})")

    expert = cfg.policy == EXPERT
    policy = None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if expert:
        if not cfg.env:
            raise RobolearnError("--policy expert needs --env (e.g. --env robolearn/BlockPush-v0)")
        env_id, env_kwargs = cfg.env, {}
    else:
        policy = _load_policy(cfg.policy, device)
        env_id = cfg.env or policy.env_id
        env_kwargs = dict(policy.env_kwargs or {})
    if cfg.image_size is not None:
        env_kwargs["image_size"] = cfg.image_size
    if cfg.videos == 0 and (expert or not policy.cameras):
        # Nothing reads images (the state ceiling, the expert): physics only. Rendering is most of a
        # step's cost on a CPU (robosuite Lift: 7.7 steps/s with two cameras) and changes no outcome.
        env_kwargs["render"] = False
    if cfg.horizon is not None:
        env_kwargs["horizon"] = cfg.horizon

    shard_k, shard_n = parse_shard(getattr(cfg, "shard", None), cfg.episodes)
    todo = list(shard_episodes(cfg.episodes, shard_k, shard_n))  # global episode indices of this run
    n_envs = max(1, min(cfg.workers, len(todo)))
    seeds = [cfg.seed + i for i in todo]
    env_fn = functools.partial(make_eval_env, env_id, env_kwargs, expert)
    # Sampling policies (diffusion, VQ-BeT) draw their noise from one generator per episode, seeded
    # with the episode's seed: same seed, same rollout, whichever episodes run beside it (shards).
    generator = head_noise = None
    gen_device = getattr(policy, "device", device)
    if policy is not None:
        generator = torch.Generator(device=gen_device).manual_seed(cfg.seed)
        head = getattr(policy, "head", None)
        if head is not None and hasattr(head, "noise_shape") and head.noise_shape(1) is not None:
            head_noise = head

    def new_episode(p: int) -> _Episode:
        g = torch.Generator(device=gen_device).manual_seed(seeds[p]) if head_noise is not None else None
        return _Episode(todo[p], seeds[p], todo[p] < cfg.videos, g)

    if cfg.overwrite:
        for stale in (out / "videos").glob("episode_*.mp4"):
            stale.unlink()

    records: dict[int, dict] = {}
    videos: list[str] = []
    clips: list[tuple[int, int, list]] = []  # (episode, seed, frames) of the recorded episodes
    faults = 0
    counted_steps = 0
    t_start = time.perf_counter()
    envs = _make_vector_env(env_fn, n_envs)
    closed_cleanly = False
    shard_note = f" shard {shard_k}/{shard_n}" if shard_n > 1 else ""
    bar = tqdm(total=len(todo), desc=f"eval {env_id}{shard_note}", unit="ep", dynamic_ncols=True)
    try:
        fps = float(envs.get_attr("control_hz")[0])
        t_rollout = time.perf_counter()
        obs, infos = envs.reset(seed=seeds[:n_envs])
        image_keys = [k for k in obs if k.endswith("_image")]
        if policy is not None:
            cams = [f"{c}_image" for c in getattr(policy, "cameras", [])]
            image_keys = [k for k in cams if k in obs] or image_keys
        episodes: list[Optional[_Episode]] = [new_episode(j) for j in range(n_envs)]
        fresh = np.ones(n_envs, dtype=bool)  # env j's obs is the first of an episode
        ended = np.zeros(n_envs, dtype=bool)  # env j's episode ended: the next step() resets it
        next_index = n_envs
        done = 0

        while done < len(todo):
            for j in np.flatnonzero(fresh):
                ep = episodes[j]
                if ep is None:
                    continue
                got = int(_env_info(infos, j).get("episode_seed", ep.seed))
                if got != ep.seed:  # an autoreset that did not take its assigned seed: a bug, not noise
                    raise RobolearnError(f"internal: env {j} reset with seed {got}, expected {ep.seed}")
                if ep.frames is not None:
                    ep.frames.append(_frame(obs, j, image_keys))

            if expert:
                actions = np.zeros(envs.action_space.shape, np.float32)
                if "expert_action" in infos:  # every live env has one; zeros for the rest
                    have = infos["_expert_action"]
                    actions[have] = infos["expert_action"][have]
            else:
                if fresh.all():
                    policy.reset()
                elif fresh.any():
                    policy.reset(fresh.copy())
                if head_noise is not None:
                    # Every live episode draws one noise sample per step from its own generator (the
                    # policy uses the rows of the environments that plan a chunk this step). Not an
                    # env whose episode just ended: this step resets it and ignores its action.
                    noise = torch.cat([head_noise.sample_noise(1, ep.generator, gen_device)
                                       if ep is not None and not ended[j]
                                       else torch.zeros(head_noise.noise_shape(1), device=gen_device)
                                       for j, ep in enumerate(episodes)])
                    actions = policy.select_action(obs, noise=noise)
                else:
                    actions = policy.select_action(obs, generator=generator)
                actions = np.asarray(actions, np.float32)
                if actions.shape != envs.action_space.shape:
                    raise RobolearnError(
                        f"policy returned actions of shape {actions.shape}; the env expects {envs.action_space.shape}"
                    )
            actions = np.clip(actions, -1.0, 1.0)

            obs, _, terminated, truncated, infos = envs.step(actions)
            # Envs that ended on the previous step were reset by this call (NEXT_STEP): their new
            # obs starts the episode assigned to them; every other env took a real step.
            fresh, ended = ended, np.zeros(n_envs, dtype=bool)
            new_seeds: list[Optional[int]] = [None] * n_envs
            for j in range(n_envs):
                if fresh[j]:
                    continue
                ep = episodes[j]
                if ep is None:  # idle: beyond the episode count, its rollouts are ignored
                    ended[j] = bool(terminated[j] or truncated[j])
                    continue
                info = _env_info(infos, j)
                ep.length += 1
                ep.digest.update(actions[j].tobytes())
                counted_steps += 1
                ep.reached |= bool(info.get("is_success", False))
                if ep.frames is not None:
                    ep.frames.append(_frame(obs, j, image_keys))
                if not (terminated[j] or truncated[j]):
                    continue
                fault = bool(info.get("sim_fault", False))
                if fault:
                    faults += 1
                    log.warning(
                        "episode %d (seed %d): simulator fault after %d steps (%s); counted as a failure",
                        ep.index, ep.seed, ep.length, info.get("fault", "sim_fault"),
                    )
                records[ep.index] = _record(ep, info, fault, bool(truncated[j]))
                if ep.frames:
                    clips.append((ep.index, ep.seed, ep.frames))
                done += 1
                bar.update(1)
                bar.set_postfix(success=f"{sum(r['success'] for r in records.values()) / done:.2f}")
                ended[j] = True
                if next_index < len(todo):
                    episodes[j] = new_episode(next_index)
                    new_seeds[j] = seeds[next_index]
                    next_index += 1
                else:
                    episodes[j] = None
            if any(s is not None for s in new_seeds) and done < len(todo):
                envs.set_attr("next_seed", new_seeds)
        t_end = time.perf_counter()
        closed_cleanly = True
    finally:
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
    rollout_s = t_end - t_rollout

    # Encoded after the rollouts, so that neither the workers nor steps/s wait on ffmpeg.
    for index, seed, frames in sorted(clips):
        path = out / "videos" / f"episode_{seed}.mp4"
        write_video(path, frames, fps)
        records[index]["video"] = str(path)
        videos.append(str(path))

    results = _summarize(cfg, env_id, env_kwargs, [records[i] for i in todo], faults, counted_steps, rollout_s,
                         t_end - t_start, n_envs, videos)
    results["policy_hash"] = EXPERT if expert else (getattr(policy, "meta", None) or {}).get("weights_hash")
    if shard_n > 1:
        results["shard"] = {"index": shard_k, "count": shard_n, "first_episode": todo[0],
                            "stop_episode": todo[-1] + 1}
    out.mkdir(parents=True, exist_ok=True)
    save_json(results_path, results)
    _track(cfg, results)
    return results


def _record(ep: _Episode, info: dict, fault: bool, truncated: bool) -> dict:
    final = {}
    for k, v in info.items():
        if k in ("expert_action", "expert_mode", "episode_seed"):
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


def _summarize(cfg, env_id, env_kwargs, records, faults, steps, rollout_s, wall_s, n_envs, videos) -> dict:
    return {
        "policy": str(cfg.policy),
        "env": env_id,
        "env_kwargs": env_kwargs,
        **_aggregate(records),
        "seed": cfg.seed,
        "workers": n_envs,
        "sim_faults": faults,
        "env_steps": steps,
        "steps_per_second": steps / rollout_s if rollout_s > 0 else None,
        "rollout_seconds": rollout_s,
        "wall_seconds": wall_s,
        "videos": videos,
        "per_episode": records,
        "config": to_dict(cfg),
    }


def _aggregate(records: list[dict]) -> dict:
    """The summary statistics of a list of episode records."""
    n = len(records)
    k = sum(r["success"] for r in records)
    lo, hi = wilson_interval(k, n)
    return {
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "success_ci95": [lo, hi],
        "mean_length": float(np.mean([r["length"] for r in records])),
        "mean_final_success": float(np.mean([r["final_success"] for r in records])),
    }


# ----------------------------------------------------------------------------- shards
MATCHING = ("policy_hash", "env", "env_kwargs", "seed")
"""Fields every shard of one evaluation must share."""


def _load_shard(path: Path) -> tuple[Path, dict]:
    from robolearn.checkpoint import load_json

    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.exists():
        raise RobolearnError(f"{path}: no results.json (run `robolearn eval --shard K/N --out {path}` first)")
    res = load_json(file)
    if not isinstance(res, dict) or "per_episode" not in res:
        raise RobolearnError(f"{file}: not a results.json written by `robolearn eval`")
    if "shard" not in res:
        raise RobolearnError(f"{file}: not a shard (written without --shard K/N)")
    return file, res


def merge_results(shards: list[Path], out: Path, overwrite: bool = False, wandb: str = "disabled",
                  project: str = "robolearn") -> dict:
    """Join the results of `robolearn eval --shard K/N` runs (K = 0 .. N-1, each once) into the
    results.json the unsharded evaluation writes: the same episodes, seeds, outcomes and statistics.
    Timings are sums over the shards (compute spent); videos stay in the shards' folders."""
    from robolearn.checkpoint import save_json

    out = Path(out)
    if (out / "results.json").exists() and not overwrite:
        raise RobolearnError(f"{out / 'results.json'} exists; pass --overwrite to replace it")
    if not shards:
        raise RobolearnError("name the shards' result folders to merge")
    loaded = [_load_shard(p) for p in shards]
    first_file, first = loaded[0]
    total = int(first["config"]["episodes"])
    count = int(first["shard"]["count"])
    for file, res in loaded[1:]:
        # Shards on other machines may name the policy folder differently: its weights' hash decides.
        for key in MATCHING + (("policy",) if first.get("policy_hash") is None else ()):
            if res.get(key) != first.get(key):
                raise RobolearnError(f"{file}: {key} {res.get(key)!r} differs from {first_file}'s {first.get(key)!r}; "
                                     f"these shards are not of one evaluation")
        if int(res["config"]["episodes"]) != total or int(res["shard"]["count"]) != count:
            raise RobolearnError(f"{file}: shard of {res['config']['episodes']} episodes in {res['shard']['count']} "
                                 f"shards; {first_file} is of {total} in {count}")
    seen: dict[int, Path] = {}
    for file, res in loaded:
        k = int(res["shard"]["index"])
        if k in seen:
            raise RobolearnError(f"shard {k}/{count} given twice ({seen[k]} and {file})")
        seen[k] = file
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise RobolearnError(f"missing shard(s) {', '.join(f'{k}/{count}' for k in missing)} "
                             f"(have {', '.join(f'{k}/{count}' for k in sorted(seen))})")
    records = sorted((r for _, res in loaded for r in res["per_episode"]), key=lambda r: r["episode"])
    if [r["episode"] for r in records] != list(range(total)):
        raise RobolearnError(f"the shards' episodes are not exactly 0 .. {total - 1} (an incomplete shard?)")

    by_index = [res for _, res in sorted(loaded, key=lambda x: x[1]["shard"]["index"])]
    steps = sum(res["env_steps"] for res in by_index)
    rollout_s = sum(res["rollout_seconds"] for res in by_index)
    config = dict(first["config"], shard=None, out=str(out))
    results = {
        "policy": first["policy"],
        **({"policy_hash": first["policy_hash"]} if "policy_hash" in first else {}),
        "env": first["env"],
        "env_kwargs": first["env_kwargs"],
        **_aggregate(records),
        "seed": first["seed"],
        "workers": max(res["workers"] for res in by_index),
        "sim_faults": sum(res["sim_faults"] for res in by_index),
        "env_steps": steps,
        "steps_per_second": steps / rollout_s if rollout_s > 0 else None,
        "rollout_seconds": rollout_s,
        "wall_seconds": sum(res["wall_seconds"] for res in by_index),
        "videos": [v for res in by_index for v in res["videos"]],
        "per_episode": records,
        "config": config,
        "merged_from": [str(seen[k]) for k in range(count)],
    }
    out.mkdir(parents=True, exist_ok=True)
    save_json(out / "results.json", results)
    _track(EvalConfig(**{**{k: v for k, v in config.items() if k in EvalConfig.__dataclass_fields__},
                         "out": out, "wandb": wandb, "project": project}), results)
    return results


def format_results(results: dict) -> str:
    """A few lines for the terminal (`robolearn eval` prints this)."""
    lo, hi = results["success_ci95"]
    sps = results["steps_per_second"]
    shard = results.get("shard")
    if shard:
        first, stop = shard["first_episode"], shard["stop_episode"]
        which = (f"shard {shard['index']}/{shard['count']}: episodes {first}-{stop - 1} "
                 f"(seeds {results['seed'] + first}-{results['seed'] + stop - 1})")
    else:
        which = f"{results['episodes']} episodes from seed {results['seed']}"
    lines = [
        f"{results['env']} | policy {results['policy']} | {which}",
        f"success {results['successes']}/{results['episodes']} = {100 * results['success_rate']:.1f}% "
        f"(Wilson 95% {100 * lo:.1f}-{100 * hi:.1f}%)",
        f"mean length {results['mean_length']:.1f} steps | mean final success {results['mean_final_success']:.2f} | "
        f"sim faults {results['sim_faults']} | {sps:.0f} env steps/s with {results['workers']} worker(s)"
        if sps is not None else f"mean length {results['mean_length']:.1f} steps | sim faults {results['sim_faults']}",
        f"results: {Path(results['config']['out']) / 'results.json'}",
    ]
    lines += [f"video: {v}" for v in results["videos"]]
    return "\n".join(lines)


def _track(cfg: EvalConfig, results: dict) -> None:
    from robolearn.tracking import Tracker

    tracker = Tracker(cfg.out, cfg, job="eval", mode=cfg.wandb, project=cfg.project)
    try:
        metrics = {
            "eval/success_rate": results["success_rate"],
            "eval/success_ci95_low": results["success_ci95"][0],
            "eval/success_ci95_high": results["success_ci95"][1],
            "eval/mean_length": results["mean_length"],
            "eval/mean_final_success": results["mean_final_success"],
            "eval/sim_faults": results["sim_faults"],
            "eval/episodes": results["episodes"],
            "eval/steps_per_second": results["steps_per_second"],
        }
        tracker.log(metrics)
        tracker.summary(metrics)
        for path in results["videos"]:
            tracker.log_video(f"eval/video_{Path(path).stem}", Path(path))
    finally:
        tracker.finish()
