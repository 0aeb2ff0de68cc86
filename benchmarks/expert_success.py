"""Success rate of the scripted experts: episode i runs with reset seed and expert seed `seed + i`.

The experts act on privileged simulator state, so images are off by default (physics only, fast);
`--render` renders every step as collection does, which must not change the outcome.

    .venv/bin/python benchmarks/expert_success.py --episodes 200
    .venv/bin/python benchmarks/expert_success.py --envs 'robosuite/*' --episodes 200 --out rs.json
    .venv/bin/python benchmarks/expert_success.py --envs 'metaworld/*' --episodes 50 --out mw.json --md mw.md

`--envs` takes env ids or shell-style patterns over the registered ids. Each task's row is printed
(and, with --out, the JSON file rewritten) as soon as it finishes, so a long run keeps its results.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import fnmatch
import json
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import tyro
from tqdm import tqdm


@dataclass
class Args:
    envs: list[str] = field(default_factory=lambda: ["robolearn/PointMass-v0", "robolearn/BlockPush-v0"])
    episodes: int = 200
    seed: int = 0
    render: bool = False
    """Render the default cameras every step."""
    image_size: int = 64
    out: str = ""
    """Optional JSON file for the rows."""
    md: str = ""
    """Optional markdown file: the table, with Wilson intervals and the tasks at or above `threshold`."""
    threshold: float = 0.9


def run(env_id: str, args: Args) -> dict:
    from robolearn.envs import expert_rng, get_task, make_env

    task = get_task(env_id)
    env = make_env(env_id, render=args.render, image_size=args.image_size)
    solved, fractions, lengths, faults = [], [], [], 0
    modes, failed_modes = Counter(), Counter()
    t0 = time.perf_counter()
    bar = tqdm(range(args.episodes), desc=env_id.split("/")[-1], unit="ep", leave=False)
    for i in bar:
        seed = args.seed + i
        obs, info = env.reset(seed=seed)
        # The expert's stream is independent of the reset's, as in collection and evaluation.
        expert = task.expert(env, expert_rng(seed))
        steps = 0
        while True:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            steps += 1
            if terminated or truncated:
                break
        ok = bool(info["is_success"])
        solved.append(ok)
        bar.set_postfix(solved=f"{sum(solved)}/{len(solved)}")  # a long run's tally so far
        fractions.append(info["success"])
        lengths.append(steps)
        faults += bool(info.get("sim_fault", False))
        modes[expert.mode] += 1
        if not ok:
            failed_modes[expert.mode] += 1
    env.close()
    return {"env": env_id, "success": float(np.mean(solved)), "fraction": float(np.mean(fractions)),
            "len_mean": float(np.mean(lengths)), "len_max": int(np.max(lengths)),
            # Failures run to the horizon; the solved episodes' longest is what an evaluation cap needs.
            "len_max_solved": int(max((n for n, ok in zip(lengths, solved) if ok), default=0)), "faults": faults,
            "modes": dict(sorted(modes.items())), "failed_modes": dict(sorted(failed_modes.items())),
            "seconds": time.perf_counter() - t0}


def resolve_envs(patterns: list[str]) -> list[str]:
    from robolearn.envs import TASKS

    ids = []
    for p in patterns:
        hits = [i for i in TASKS if fnmatch.fnmatchcase(i, p)] if any(c in p for c in "*?[") else [p]
        if not hits:
            raise SystemExit(f"no registered env id matches '{p}'")
        ids += [i for i in hits if i not in ids]
    return ids


def _print_row(r: dict) -> None:
    modes = ", ".join(f"{m}:{n}" + (f"({r['failed_modes'][m]})" if m in r["failed_modes"] else "")
                      for m, n in r["modes"].items())
    print(f"{r['env'].split('/')[-1]:28} {r['success']:>7.3f} {r['fraction']:>9.3f} "
          f"{r['len_mean']:>8.1f}/{r['len_max']:<5} {r['faults']:>6} {r['seconds']:>6.1f}s  {modes}", flush=True)


def main(args: Args) -> None:
    envs = resolve_envs(args.envs)
    t0 = time.perf_counter()
    print(f"{args.episodes} episodes per task, seeds {args.seed}..{args.seed + args.episodes - 1}, "
          f"rendering {'on' if args.render else 'off'}")
    head = f"{'env':28} {'success':>7} {'mean frac':>9} {'steps mean/max':>14} {'faults':>6} {'time':>7}  modes (failures)"
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for env_id in envs:
        rows.append(run(env_id, args))
        _print_row(rows[-1])
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"episodes": args.episodes, "seed": args.seed, "rows": rows}, f, indent=1)
    if args.md:
        with open(args.md, "w") as f:
            f.write(markdown(rows, args, time.perf_counter() - t0))


def markdown(rows: list[dict], args: Args, seconds: float) -> str:
    from robolearn.evaluate import wilson_interval

    n = args.episodes
    good = [r for r in rows if r["success"] >= args.threshold]
    lines = [f"# Scripted expert success: {', '.join(args.envs)}", "",
             f"{n} episodes per task (reset and expert seeds {args.seed}..{args.seed + n - 1}), rendering "
             f"{'on' if args.render else 'off'}; {seconds / 60:.1f} min wall. Command: "
             f"`python benchmarks/expert_success.py --envs {' '.join(repr(e) for e in args.envs)} --episodes {n}`.", "",
             f"{len(good)} of {len(rows)} tasks reach >= {args.threshold:.0%}. Collection keeps successful episodes "
             f"only, so a weaker expert costs attempts, not demonstration quality.", "",
             "| task | solved / episodes | success | 95% CI (Wilson) | steps mean / max | longest solved | faults | >= "
             f"{args.threshold:.0%} |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        k = int(round(r["success"] * n))
        lo, hi = wilson_interval(k, n)
        lines.append(f"| {r['env']} | {k} / {n} | {r['success']:.2f} | [{lo:.2f}, {hi:.2f}] | "
                     f"{r['len_mean']:.0f} / {r['len_max']} | {r.get('len_max_solved', '—')} | {r['faults']} | {'yes' if r['success'] >= args.threshold else 'no'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(tyro.cli(Args))
