"""`robolearn eval`: roll a policy (or the scripted expert) out in its task and report success;
`robolearn eval-merge`: join the results of sharded evaluations.

Roles: `robolearn.evaluation.rollouts` rolls episodes out (`EnvRunner.run(policy) -> dict`, on the
env side `robolearn.evaluation.workers`), `robolearn.evaluation.statistics` computes the summary and
the Wilson interval, `robolearn.evaluation.video` writes the videos; this module loads the policy,
runs them and writes results.json and the tracking.

Shards: `--shard K/N` runs the K-th of N contiguous shares of the episodes (episode i keeps seed
`cfg.seed + i`), so machines or array jobs can split one evaluation; `merge_results` (`robolearn
eval-merge`) joins the shards' results.json into the unsharded result: the same episodes, seeds and
outcomes. Not bit for bit: which episodes share a policy batch changes float rounding, so an
episode's actions_digest can differ (benchmarks/results/shard_parity).
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch

from robolearn.checkpoint import load_json, save_json
from robolearn.config import EvalConfig, to_dict
from robolearn.errors import RobolearnError
from robolearn.evaluation.loops import rollout
from robolearn.evaluation.rollouts import EnvRunner
from robolearn.evaluation.statistics import aggregate, parse_shard, shard_episodes, wilson_interval
from robolearn.evaluation.video import write_video
from robolearn.policies.policy import Policy
from robolearn.tracking import Tracker

__all__ = ["EXPERT", "EnvRunner", "evaluate", "format_results", "merge_results", "wilson_interval"]

EXPERT = "expert"


def _load_policy(path: str, device: str):
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise RobolearnError(f"{run_dir}: policy folder not found (train one with `robolearn train`, or use --policy expert)")
    return Policy.load(run_dir, device=device)


def _check_options(cfg: EvalConfig, results_path: Path) -> None:
    """The options' one-line errors, before anything is loaded."""
    if results_path.exists() and not cfg.overwrite:
        raise RobolearnError(f"{results_path} exists; pass --overwrite to replace it")
    if cfg.episodes < 1:
        raise RobolearnError(f"--episodes must be at least 1 (got {cfg.episodes})")
    if not 0.0 <= cfg.max_fault_rate <= 1.0:
        raise RobolearnError(f"--max-fault-rate must be in [0, 1] (got {cfg.max_fault_rate})")
    if cfg.envs_per_worker is not None and cfg.envs_per_worker < 1:
        raise RobolearnError(f"--envs-per-worker must be at least 1 (got {cfg.envs_per_worker})")


def _policy_and_env(cfg: EvalConfig, expert: bool) -> tuple:
    """(policy, env_id, env_kwargs): the loaded policy (None for the expert) and the task it rolls out in."""
    policy = None
    if expert:
        if not cfg.env:
            raise RobolearnError("--policy expert needs --env (e.g. --env robolearn/BlockPush-v0)")
        env_id, env_kwargs = cfg.env, {}
    else:
        policy = _load_policy(cfg.policy, "cuda" if torch.cuda.is_available() else "cpu")
        env_id = cfg.env or policy.env_id
        env_kwargs = dict(policy.env_kwargs or {})
        if not env_id:  # trained on a recording (a real robot's): there is no task to roll out in
            raise RobolearnError(f"{cfg.policy}: its data names no task to roll out in (a recording from a robot); "
                                 "judge it with `robolearn eval-offline`, or pass --env")
        if policy.cameras and "cameras" in env_kwargs:
            # Render only what the policy reads (an encoder may use fewer views than were recorded);
            # videos show the policy's cameras too.
            env_kwargs["cameras"] = list(policy.cameras)
    if cfg.image_size is not None:
        env_kwargs["image_size"] = cfg.image_size
    if cfg.videos == 0 and (expert or not policy.cameras):
        # Nothing reads images (the state ceiling, the expert): physics only. Rendering is most of a
        # step's cost on a CPU (robosuite Lift: 7.7 steps/s with two cameras) and changes no outcome.
        env_kwargs["render"] = False
    if cfg.horizon is not None:
        env_kwargs["horizon"] = cfg.horizon
    return policy, env_id, env_kwargs


def _write_videos(out: Path, run: dict) -> list[str]:
    """The recorded clips as MP4 files, named in their episodes' records."""
    # Encoded after the rollouts, so that neither the workers nor steps/s wait on ffmpeg.
    records = {r["episode"]: r for r in run["records"]}
    videos: list[str] = []
    for index, seed, frames in run["clips"]:
        path = out / "videos" / f"episode_{seed}.mp4"
        write_video(path, frames, run["fps"])
        records[index]["video"] = str(path)
        videos.append(str(path))
    return videos


def evaluate(cfg: EvalConfig) -> dict:
    """Run `cfg.episodes` episodes; write `results.json`, videos and tracking in `cfg.out`; return the results."""
    out = Path(cfg.out)
    results_path = out / "results.json"
    _check_options(cfg, results_path)
    expert = cfg.policy == EXPERT
    policy, env_id, env_kwargs = _policy_and_env(cfg, expert)

    shard_k, shard_n = parse_shard(getattr(cfg, "shard", None), cfg.episodes)
    todo = list(shard_episodes(cfg.episodes, shard_k, shard_n))  # global episode indices of this run
    shard_note = f" shard {shard_k}/{shard_n}" if shard_n > 1 else ""
    runner = EnvRunner(env_id, env_kwargs, todo, cfg.seed, cfg.workers, cfg.videos, expert,
                       desc=f"eval {env_id}{shard_note}", envs_per_worker=cfg.envs_per_worker,
                       plan_episodes=cfg.episodes)
    if cfg.overwrite:
        # The replaced evaluation's files: its metrics rows would otherwise stay beside the new ones.
        for stale in [*(out / "videos").glob("episode_*.mp4"), out / FAULT_FILE, out / "metrics.jsonl"]:
            stale.unlink(missing_ok=True)
    run = rollout(runner, policy, None if expert else functools.partial(_load_policy, cfg.policy, "cpu"),
                  lockstep=cfg.lockstep)
    videos = _write_videos(out, run)

    steps, rollout_s = run["env_steps"], run["rollout_seconds"]
    results = {
        "policy": str(cfg.policy),
        "env": env_id,
        "env_kwargs": env_kwargs,
        **aggregate(run["records"]),
        "seed": cfg.seed,
        "workers": run["workers"],
        "envs_per_worker": run["envs_per_worker"],
        "sim_faults": run["sim_faults"],
        "first_fault": _save_fault(out, env_id, run["first_fault"]),
        "env_steps": steps,
        "steps_per_second": steps / rollout_s if rollout_s > 0 else None,
        "rollout_seconds": rollout_s,
        "wall_seconds": run["wall_seconds"],
        "videos": videos,
        "per_episode": run["records"],
        "config": to_dict(cfg),
    }
    results["policy_hash"] = EXPERT if expert else (getattr(policy, "meta", None) or {}).get("weights_hash")
    if shard_n > 1:
        results["shard"] = {"index": shard_k, "count": shard_n, "first_episode": todo[0],
                            "stop_episode": todo[-1] + 1}
    out.mkdir(parents=True, exist_ok=True)
    save_json(results_path, results)
    _track(cfg, results)
    check_faults(results, cfg.max_fault_rate, str(out))
    return results


# ----------------------------------------------------------------------------- faults
FAULT_FILE = "fault_traceback.txt"
"""In an evaluation folder: the first simulator fault's traceback (see EnvRunner.run's first_fault)."""


def _save_fault(out: Path, env_id: str, fault: dict | None) -> dict | None:
    """Write the fault's traceback to `out/fault_traceback.txt`; results.json names the file."""
    if fault is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / FAULT_FILE
    body = fault["traceback"] or "(no Python traceback: the simulator reported the fault without raising)\n"
    path.write_text(f"{env_id}, episode {fault['episode']} (seed {fault['seed']}): {fault['reason']}\n\n{body}")
    return {"episode": fault["episode"], "seed": fault["seed"], "reason": fault["reason"], "traceback_file": str(path)}


def check_faults(results: dict, max_rate: float, where: str) -> None:
    """A one-line error when more than `max_rate` of the episodes ended in a simulator fault."""
    k, n = int(results.get("sim_faults", 0)), int(results["episodes"])
    if n and k / n > max_rate:
        first = results.get("first_fault") or {}
        raise RobolearnError(f"{where}: {k} of {n} episodes ended in a simulator fault ({k / n:.0%} > the "
                             f"{max_rate:.0%} allowed by --max-fault-rate; first: {first.get('reason', '?')}); "
                             f"traceback: {first.get('traceback_file', '(none saved)')}")


# ----------------------------------------------------------------------------- shards
MATCHING = ("policy_hash", "env", "env_kwargs", "seed")
"""Fields every shard of one evaluation must share."""


def _load_shard(path: Path) -> tuple[Path, dict]:
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


def _check_shards(loaded: list[tuple[Path, dict]], total: int, count: int) -> dict[int, Path]:
    """Check that `loaded` are the `count` shards of one evaluation of `total` episodes, each once;
    returns shard index -> file."""
    first_file, first = loaded[0]
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
    return seen


def merge_results(shards: list[Path], out: Path, overwrite: bool = False, wandb: str = "disabled",
                  project: str = "robolearn") -> dict:
    """Join the results of `robolearn eval --shard K/N` runs (K = 0 .. N-1, each once) into the
    results.json the unsharded evaluation writes: the same episodes, seeds, outcomes and statistics.
    Timings are sums over the shards (compute spent); videos stay in the shards' folders."""
    out = Path(out)
    if (out / "results.json").exists() and not overwrite:
        raise RobolearnError(f"{out / 'results.json'} exists; pass --overwrite to replace it")
    if not shards:
        raise RobolearnError("name the shards' result folders to merge")
    loaded = [_load_shard(p) for p in shards]
    first = loaded[0][1]
    total, count = int(first["config"]["episodes"]), int(first["shard"]["count"])
    seen = _check_shards(loaded, total, count)
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
        **aggregate(records),
        "seed": first["seed"],
        "workers": max(res["workers"] for res in by_index),
        "envs_per_worker": max(res.get("envs_per_worker", 1) for res in by_index),
        "sim_faults": sum(res["sim_faults"] for res in by_index),
        "first_fault": min((res["first_fault"] for res in by_index if res.get("first_fault")),
                           key=lambda f: f["episode"], default=None),
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
        f"sim faults {results['sim_faults']} | {sps:.0f} env steps/s with {results['workers']} worker(s) "
        f"x {results.get('envs_per_worker', 1)} env(s)"
        if sps is not None else f"mean length {results['mean_length']:.1f} steps | sim faults {results['sim_faults']}",
        f"results: {Path(results['config']['out']) / 'results.json'}",
    ]
    fault = results.get("first_fault")
    if fault:
        lines.append(f"first simulator fault: episode {fault['episode']} ({fault['reason']}); traceback: {fault['traceback_file']}")
    lines += [f"video: {v}" for v in results["videos"]]
    return "\n".join(lines)


def _track(cfg: EvalConfig, results: dict) -> None:
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
