"""`robolearn run`: collect -> pretrain -> train -> eval -> report, with one config.

Every stage writes its own run folder under `runs/<name>/` and is skipped when that folder already
holds a finished result, so an interrupted `run` picks up where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from robolearn.config import (CollectConfig, EvalConfig, OptimConfig, PretrainConfig, RunConfig,
                              TrainConfig, save_config)
from robolearn.errors import RobolearnError
from robolearn.report import plot_curves, plot_success, write_report

# Where a short CPU run deviates from a method's paper settings (the classes' `optim_defaults`):
# DynaMo's lr 1e-4 is tuned for 40 epochs; a few hundred steps need a larger one. SIRL's batch
# counts queries of 3 segments x 5 frames, so fewer of them make a step of similar cost.
SHORT_RUN_OPTIM = {"dynamo": dict(lr=3e-4), "sirl": dict(batch_size=8)}
# VQ-BeT's lr 5.5e-5 and diffusion's 1e-4 are for hundreds of epochs; short runs use 3e-4.
SHORT_RUN_HEAD_OPTIM = {"vqbet": dict(lr=3e-4), "diffusion": dict(lr=3e-4)}


def objective_variants(cfg: RunConfig) -> list[tuple[str, str, dict]]:
    """(label, objective, overrides of its config) for every pretraining variant in the run."""
    out = [(o, o, {}) for o in cfg.objectives]
    for flag in cfg.dynamo_ablations:
        out.append((f"dynamo-{flag}", "dynamo", {flag: True}))
    for budget in cfg.sirl_budgets:
        out.append((f"sirl-{budget}q", "sirl", {"queries": int(budget)}))
    return out


def run(cfg: RunConfig) -> Path:
    from robolearn.data.collect import collect
    from robolearn.evaluate import evaluate
    from robolearn.pretrain import pretrain
    from robolearn.policies import HEADS
    from robolearn.pretraining import OBJECTIVES
    from robolearn.train import train

    for o in cfg.objectives:
        if o not in OBJECTIVES:
            raise RobolearnError(f"unknown objective '{o}'; known: {', '.join(OBJECTIVES)}")
    for h in cfg.heads:
        if h not in HEADS:
            raise RobolearnError(f"unknown head '{h}'; known: {', '.join(HEADS)}")
    from robolearn.config import DynamoConfig

    known_flags = [f.name for f in dataclasses.fields(DynamoConfig) if f.name.startswith("no_")]
    for flag in cfg.dynamo_ablations:
        if flag not in known_flags:
            raise RobolearnError(f"unknown DynaMo ablation '{flag}'; known: {', '.join(known_flags)}")

    root = Path(cfg.root) / cfg.name
    if root.exists() and cfg.overwrite:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root / "run.yaml")
    wb = dict(wandb=cfg.wandb, project=cfg.project)

    demos = root / "demos.hdf5"
    if not demos.exists():
        collect(CollectConfig(env=cfg.env, episodes=cfg.episodes, out=demos, seed=0,
                              image_size=cfg.image_size, workers=cfg.workers))

    variants = objective_variants(cfg)
    jobs = [(v, h, s) for v in variants for h in cfg.heads for s in cfg.seeds]
    outer = tqdm(total=len(variants) * len(cfg.seeds) + 2 * len(jobs), desc=f"run {cfg.name}", position=0,
                 dynamic_ncols=True)
    enc_dirs, pol_dirs, eval_dirs = {}, {}, {}
    for label, objective, overrides in variants:
        for seed in cfg.seeds:
            enc = root / "enc" / f"{label}-s{seed}"
            if not (enc / "encoder.json").exists():
                pc = PretrainConfig(data=demos, out=enc, objective=objective, encoder=cfg.encoder,
                                    optim=OptimConfig(**{**dict(steps=cfg.pretrain_steps, batch_size=cfg.pretrain_batch, warmup_steps=20,
                                                                checkpoint_every=max(cfg.pretrain_steps // 2, 1),
                                                                eval_every=cfg.pretrain_steps, seed=seed),
                                                         **SHORT_RUN_OPTIM.get(objective, {})}),
                                    **wb)
                sub = getattr(pc, objective, None)
                if sub is not None and overrides:
                    setattr(pc, objective, dataclasses.replace(sub, **overrides))
                pretrain(pc)
            enc_dirs[(label, seed)] = enc
            outer.update(1)

    for (label, _, _), head, seed in jobs:
        pol = root / "pol" / f"{label}-{head}-s{seed}"
        if not (pol / "policy.json").exists():
            train(TrainConfig(data=demos, encoder=enc_dirs[(label, seed)], out=pol, head=head,
                              optim=OptimConfig(steps=cfg.train_steps, batch_size=256,
                                                warmup_steps=50, checkpoint_every=cfg.train_steps,
                                                eval_every=cfg.train_steps, seed=seed,
                                                **SHORT_RUN_HEAD_OPTIM.get(head, {})),
                              **wb))
        pol_dirs[(label, head, seed)] = pol
        outer.update(1)
        ev = root / "eval" / f"{label}-{head}-s{seed}"
        if not (ev / "results.json").exists():
            evaluate(EvalConfig(policy=str(pol), episodes=cfg.eval_episodes, seed=100_000 + 1000 * seed,
                                workers=cfg.workers, videos=1, out=ev, **wb))
        eval_dirs[(label, head, seed)] = ev
        outer.update(1)
    outer.close()
    return make_report(cfg, root, variants, enc_dirs, pol_dirs, eval_dirs)


def make_report(cfg, root, variants, enc_dirs, pol_dirs, eval_dirs) -> Path:
    from robolearn.evaluate import wilson_interval

    rows, videos = [], []
    for label, objective, _ in variants:
        r2s = []
        for seed in cfg.seeds:
            res = json.loads((enc_dirs[(label, seed)] / "results.json").read_text())
            if "val/probe_r2/mean" in res:
                r2s.append(res["val/probe_r2/mean"])
        for head in cfg.heads:
            succ = n = 0
            per_seed, lengths, first, finals = [], [], {}, []
            for seed in cfg.seeds:
                res = json.loads((eval_dirs[(label, head, seed)] / "results.json").read_text())
                k = int(round(res["success_rate"] * res["episodes"]))
                succ, n = succ + k, n + res["episodes"]
                per_seed.append(res["success_rate"])
                lengths.append(res["mean_length"])
                finals.append(res.get("mean_final_success", 0.0))
                for ep in res.get("per_episode", []):
                    # Which block reached a target zone first, in every episode where one did
                    # (solved or not): the mode the policy chose.
                    fb = ep.get("final_info", {}).get("first_block")
                    if fb is not None and int(fb) >= 0:
                        first[int(fb)] = first.get(int(fb), 0) + 1
                videos += [str(Path(v).relative_to(root)) if Path(v).is_relative_to(root) else v
                           for v in res.get("videos", [])]
            lo, hi = wilson_interval(succ, n)
            rows.append(dict(objective=label, head=head, success=succ / max(n, 1), ci_low=lo, ci_high=hi,
                             episodes=n, per_seed=per_seed, mean_length=float(np.mean(lengths)),
                             final_success=float(np.mean(finals)),
                             probe_r2=float(np.mean(r2s)) if r2s else None,
                             first_block=" / ".join(f"{first.get(i, 0)}" for i in (0, 1)) if first else None))
    plot_success(rows, root / "success.png")
    figures = {"Success rates": "success.png"}
    if plot_curves({f"{lbl}-s{s}": d for (lbl, s), d in enc_dirs.items()}, root / "pretrain_curves.png",
                   title="pretraining loss"):
        figures["Pretraining curves"] = "pretrain_curves.png"
    if plot_curves({f"{lbl}-{h}-s{s}": d for (lbl, h, s), d in pol_dirs.items()}, root / "train_curves.png",
                   title="policy head loss"):
        figures["Head training curves"] = "train_curves.png"
    setup = [f"env: `{cfg.env}`, {cfg.episodes} demonstrations at {cfg.image_size} px",
             f"encoder: `{cfg.encoder.name}`; pretraining {cfg.pretrain_steps} steps; head training {cfg.train_steps} steps",
             f"evaluation: {cfg.eval_episodes} episodes per seed, seeds {cfg.seeds}; final checkpoints, no best-of selection",
             "probe R²: ridge regression from the frozen embedding to the task features, validation demos"]
    notes = []
    if any(o == "sirl" for _, o, _ in variants):
        notes.append("SIRL uses privileged labels: a simulated user's answers to similarity queries "
                     "(budget in the row label or the sirl config).")
    return write_report(root / "report.md", f"robolearn run `{cfg.name}`", setup, rows, figures, videos, notes)
