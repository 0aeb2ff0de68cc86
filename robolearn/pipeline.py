"""The engine behind `robolearn run` and `robolearn bench`: tasks x encoders x heads x seeds.

A task (`TaskSpec`) names the demonstrations the heads learn from, optionally other demonstrations
to pretrain on (the few-demonstration setting: plentiful data from many contexts, few of the target),
and the rows to measure. A row's encoder is one of:
  state      the privileged-state ceiling (no images);
  scratch    encoder and head trained end to end from a random initialization;
  none       the frozen random initialization;
  <objective> a frozen encoder pretrained with idm | dynamo | sirl | ccl (variants such as DynaMo
             ablations and SIRL budgets get their own label);
  ft-<objective> that pretrained encoder fine-tuned end to end with the head.

Every stage writes its own folder under `<root>/<task>/` and is skipped when that folder already
holds a finished result, so an interrupted run picks up where it stopped. The data is collected
first; then up to `jobs` processes pretrain, train and evaluate, each job starting as soon as the
encoder or policy it reads is written (a head on `none` trains while DynaMo still pretrains).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from robolearn.checkpoint import save_json
from robolearn.config import (CollectConfig, DataConfig, EncoderConfig, EvalConfig, OptimConfig, PretrainConfig, TrainConfig,
                              save_config, to_dict)
from robolearn.envs import TASKS, get_task
from robolearn.errors import RobolearnError
from robolearn.evaluate import check_faults, wilson_interval
from robolearn.jobs import MergeJob, run_graph, run_phase
from robolearn.policies import HEADS, get_head
from robolearn.pretraining import OBJECTIVES, get_objective
from robolearn.report import write_suite_report

EVAL_SEED = 100_000
"""Evaluation seeds start here (seed s of a row: EVAL_SEED + 1000 s); demonstrations use seeds from 0."""
PRETRAIN_DATA_SEED = 1_000_000
"""Seeds of a task's separate pretraining demonstrations: disjoint from the heads' and the evaluation's."""
BASELINES = ("state", "scratch", "none")


@dataclass
class TaskSpec:
    """One task of a run or a suite: its demonstrations, its rows and its budgets."""

    name: str
    env: str
    demos: int
    """Demonstrations the heads learn from."""
    encoders: list[str] = field(default_factory=lambda: ["state", "none", "idm"])
    heads: list[str] = field(default_factory=lambda: ["mlp"])
    seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds of the heads and their evaluations (and of the encoders, unless `pretrain_seeds` says)."""
    pretrain_seeds: Optional[list[int]] = None
    """Encoder seeds when fewer than `seeds` (CPU budgets): head seed s uses encoder s if there is
    one, else the first. None: one encoder per seed."""
    image_size: int = 64
    cameras: Optional[list[str]] = None
    use_proprio: bool = True
    """Image rows also see proprio (the state row always does)."""
    pretrain_envs: list[str] = field(default_factory=list)
    """Pretrain on demonstrations of these envs instead of the heads' (the few-demonstration setting):
    one env, or a pool of several whose demonstrations are collected env by env and merged into one
    store (`data.store.merge_stores`)."""
    pretrain_demos: int = 0
    """Pretraining demonstrations per env of `pretrain_envs`."""
    pretrain_group: Optional[str] = None
    """Tasks naming the same group share one pretraining: its demonstrations and encoders are made
    once, in `<root>/<group>/`, and every task's heads read them (held-out tasks of one pool).
    None: the task's own folder."""
    pretrain_steps: int = 1000
    pretrain_batch: int = 64
    train_steps: int = 1500
    e2e_steps: int = 1500
    e2e_batch: int = 64
    eval_episodes: int = 50
    horizon: Optional[int] = None
    """Evaluation episode cap in steps (None: the env's own). A failing policy runs to the cap, so
    on slow envs the cap sets most of evaluation's cost."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    pretrain_preset: Literal["short", "paper"] = "short"
    """Optimizer settings of the pretraining jobs. short: each objective's `short_run_optim` (a larger
    lr for a few hundred CPU steps) with a 50-step warm-up, for smoke and CPU suites; paper: the
    objective's own paper settings (`optim_defaults`; DynaMo AdamW lr 1e-4) with the official
    DynaMo warm-up share (5 of 40 epochs, 12.5%) then cosine. The report says which."""
    dynamo_ablations: list[str] = field(default_factory=list)
    sirl_budgets: list[int] = field(default_factory=list)
    objective_options: dict = field(default_factory=dict)
    """Per objective, config overrides, e.g. {"idm": {"shift_pad": 0}}."""
    horizons: dict = field(default_factory=dict)
    """Per head, (T_o, T, T_a) overriding the task's preset and the head's defaults, e.g. {"mlp": [2, 8, 4]}."""
    head_options: dict = field(default_factory=dict)
    """Per head, config overrides, e.g. {"vqbet": {"gpt_layers": 4}}."""
    head_optim: dict = field(default_factory=dict)
    """Per head, optimizer settings over the head's `short_run_optim`, e.g. {"diffusion": {"lr": 1e-3}}."""
    head_steps: dict = field(default_factory=dict)
    """Per head, training steps on frozen features or state instead of `train_steps` (heads differ
    in cost per step and in the epochs they need)."""
    feature_noise: float = 0.0
    """`robolearn train --feature-noise` of the rows on a frozen encoder (every objective and `none`
    alike): Gaussian noise on the standardized embedding while the head trains."""
    collect_workers: int = 2
    in_ram: bool = False
    """Hold the demonstrations in RAM while pretraining and training end to end (fast GPU steps)."""
    note: str = ""


# ----------------------------------------------------------------------------- rows
def encoder_variants(task: TaskSpec) -> list[tuple[str, str, dict]]:
    """(label, objective, overrides of its config) of every encoder to pretrain."""
    objs = [e[3:] if e.startswith("ft-") else e for e in task.encoders if e not in ("state", "scratch")]
    out = [(o, o, {}) for o in dict.fromkeys(objs)]
    for flag in task.dynamo_ablations:
        out.append((f"dynamo-{flag}", "dynamo", {flag: True}))
    for budget in task.sirl_budgets:
        out.append((f"sirl-{budget}q", "sirl", {"queries": int(budget)}))
    return out


def encoder_seeds(task: TaskSpec) -> list[int]:
    return list(task.pretrain_seeds) if task.pretrain_seeds else list(task.seeds)


def encoder_seed(task: TaskSpec, seed: int) -> int:
    """The encoder a head of this seed reads."""
    seeds = encoder_seeds(task)
    return seed if seed in seeds else seeds[0]


def pretrain_preset(preset: str, objective: str, steps: int) -> dict:
    """OptimConfig fields of a pretraining job under the task's preset (TaskSpec.pretrain_preset)."""
    if preset == "paper":
        return dict(warmup_steps=round(0.125 * steps))  # the rest: the objective's optim_defaults
    if preset == "short":
        return dict(warmup_steps=min(50, steps), **get_objective(objective).short_run_optim)
    raise RobolearnError(f"unknown pretraining preset '{preset}' (short | paper)")


def pretrain_config(t: TaskSpec, objective: str, overrides: dict, seed: int, data: Path, out: Path,
                    wb: dict) -> PretrainConfig:
    """The pretraining job of one encoder of a task (bench, run and benchmarks/probe_objectives.py)."""
    steps = t.pretrain_steps if objective != "none" else 0
    pc = PretrainConfig(
        data=data, out=out, objective=objective, encoder=t.encoder,
        optim=OptimConfig(**{**dict(steps=steps, batch_size=t.pretrain_batch, checkpoint_every=max(steps // 2, 1),
                                    eval_every=max(steps, 1), seed=seed),
                             **pretrain_preset(t.pretrain_preset, objective, steps)}),
        loader=DataConfig(cameras=t.cameras, in_ram=t.in_ram), **wb)
    sub = pc.objective_config()
    if sub is not None and overrides:
        setattr(pc, objective, dataclasses.replace(sub, **overrides))
    return pc


def pretrain_name(task: TaskSpec) -> str:
    """The folder (under the run root) holding the task's pretraining data and encoders."""
    return task.pretrain_group or task.name


def pretrain_store(task: TaskSpec, root: Path) -> Path:
    """The store the task's encoders pretrain on: the heads' own demos without `pretrain_envs`."""
    if not task.pretrain_envs:
        return Path(root) / task.name / "demos.hdf5"
    return Path(root) / pretrain_name(task) / "pretrain_demos.hdf5"


def pool_store(root: Path, group: str, env: str) -> Path:
    """Where one env's part of a multi-env pretraining pool is collected before the merge."""
    return Path(root) / group / "pretrain" / (re.sub(r"[^A-Za-z0-9._-]+", "_", env) + ".hdf5")


def row_encoders(task: TaskSpec) -> list[str]:
    labels = list(task.encoders) + [v[0] for v in encoder_variants(task) if v[0] not in task.encoders]
    order = {b: i for i, b in enumerate(BASELINES)}  # baselines first: they frame every table
    return sorted(dict.fromkeys(labels), key=lambda e: order.get(e, len(order)))


def validate_task(task: TaskSpec) -> None:
    for env in [task.env, *task.pretrain_envs]:
        if env not in TASKS:
            raise RobolearnError(f"task {task.name}: unknown env '{env}'; known: {', '.join(TASKS)}")
    for e in task.encoders:
        base = e[3:] if e.startswith("ft-") else e
        if base not in ("state", "scratch") and base not in OBJECTIVES:
            raise RobolearnError(f"task {task.name}: unknown encoder '{e}'; known: state, scratch, "
                                 f"{', '.join(OBJECTIVES)} (and ft-<objective> to fine-tune one)")
    for h in task.heads:
        if h not in HEADS:
            raise RobolearnError(f"task {task.name}: unknown head '{h}'; known: {', '.join(HEADS)}")
    flags = [f.name for f in dataclasses.fields(get_objective("dynamo").Config) if f.name.startswith("no_")]
    for flag in task.dynamo_ablations:
        if flag not in flags:
            raise RobolearnError(f"unknown DynaMo ablation '{flag}'; known: {', '.join(flags)}")
    if task.pretrain_envs and task.pretrain_demos < 1:
        raise RobolearnError(f"task {task.name}: pretrain_envs needs pretrain_demos >= 1")
    if len(set(task.pretrain_envs)) != len(task.pretrain_envs):
        raise RobolearnError(f"task {task.name}: pretrain_envs names an env twice")
    if task.pretrain_group is not None and not task.pretrain_envs:
        raise RobolearnError(f"task {task.name}: pretrain_group '{task.pretrain_group}' needs pretrain_envs "
                             f"(a group shares pretraining data other than the task's own demos)")
    if task.horizon is not None and task.horizon < 1:
        raise RobolearnError(f"task {task.name}: horizon must be >= 1, got {task.horizon}")


def validate_tasks(tasks: list[TaskSpec]) -> None:
    """Each task, and what tasks share: names, and the folders of pretraining groups."""
    names = [t.name for t in tasks]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RobolearnError(f"task names must be distinct; repeated: {', '.join(dup)}")
    for t in tasks:
        validate_task(t)
        if t.pretrain_group is not None and t.pretrain_group in names:
            raise RobolearnError(f"task {t.name}: pretrain_group '{t.pretrain_group}' is also a task's name; "
                                 f"its folder would hold both")


@dataclass
class RunOptions:
    """What a run or a suite shares across its tasks."""

    root: Path
    jobs: int = 1
    threads: int = 1
    eval_workers: int = 2
    wandb: str = "offline"
    project: str = "robolearn"
    videos: int = 1
    report_only: bool = False
    max_fault_rate: float = 0.05
    """An evaluation with more simulator faults than this share fails the run, after the report."""


class _Plan:
    """The stages a run still has to do, by phase, and which job reads which one's output. Jobs are
    keyed by output path: tasks of one pretraining group ask for the same pool and encoders, which are
    made once; asking for one path with different settings is an error, not a silent pick."""

    def __init__(self, root: Path, opts: RunOptions):
        self.root, self.opts = root, opts
        self.wb = dict(wandb=opts.wandb, project=opts.project)
        # Evaluation runs its envs in subprocesses; with several jobs at once, one env each.
        self.eval_workers = opts.eval_workers if opts.jobs <= 1 else 1
        self.jobs: dict[str, list] = {phase: [] for phase in ("collect", "merge", "pretrain", "train", "evaluate")}
        self.shared: dict[Path, tuple[str, object]] = {}
        self.maker: dict[Path, str] = {}  # output folder -> the key of the job in this plan that writes it
        self.needs: dict[str, set[str]] = {}  # job key -> keys of the planned jobs it reads the output of

    def _plan(self, phase: str, key: str, kind: str, cfg, out: Path, reads: tuple = ()) -> None:
        self.jobs[phase].append((key, kind, cfg))
        self.maker[Path(out)] = key
        self.needs[key] = {self.maker[Path(r)] for r in reads if Path(r) in self.maker}

    def once(self, phase: str, path: Path, key: str, kind: str, cfg, task: TaskSpec, reads: tuple = ()) -> None:
        if path in self.shared:
            other, prev = self.shared[path]
            if to_dict(prev) != to_dict(cfg):
                raise RobolearnError(f"tasks {other} and {task.name} share pretraining group "
                                     f"'{task.pretrain_group}' but ask for {path} with different settings; "
                                     f"give them the same pretraining budgets, image size and cameras")
            return
        self.shared[path] = (task.name, cfg)
        self._plan(phase, key, kind, cfg, path, reads)

    def add_task(self, t: TaskSpec) -> None:
        tdir = self.root / t.name
        tdir.mkdir(parents=True, exist_ok=True)
        demos = tdir / "demos.hdf5"
        if not demos.exists():
            # Rows that all read the privileged state need no images: physics-only collection.
            images = any(e != "state" for e in row_encoders(t))
            self.jobs["collect"].append((f"{t.name}/collect", "collect", CollectConfig(
                env=t.env, episodes=t.demos, out=demos, seed=0, image_size=t.image_size, cameras=t.cameras,
                workers=t.collect_workers, images=images)))
        pre_data = pretrain_store(t, self.root)
        if t.pretrain_envs and not pre_data.exists():
            self._add_pretrain_data(t, pre_data)
        self._add_encoders(t, pre_data)
        self._add_rows(t, demos)

    def _add_pretrain_data(self, t: TaskSpec, pre_data: Path) -> None:
        pool, pname = t.pretrain_envs, pretrain_name(t)
        # One env: collected straight into the store; several: env by env, then merged.
        parts = [pre_data] if len(pool) == 1 else [pool_store(self.root, pname, env) for env in pool]
        for env, part in zip(pool, parts):
            if not part.exists():
                part.parent.mkdir(parents=True, exist_ok=True)
                suffix = "" if len(pool) == 1 else f"/{env}"
                self.once("collect", part, f"{pname}/collect_pretrain{suffix}", "collect", CollectConfig(
                    env=env, episodes=t.pretrain_demos, out=part, seed=PRETRAIN_DATA_SEED,
                    image_size=t.image_size, cameras=t.cameras, workers=t.collect_workers), t)
        if len(pool) > 1:
            self.once("merge", pre_data, f"{pname}/merge_pretrain", "merge", MergeJob(parts=parts, out=pre_data), t)

    def _add_encoders(self, t: TaskSpec, pre_data: Path) -> None:
        pname = pretrain_name(t)
        for label, objective, overrides in encoder_variants(t):
            overrides = {**t.objective_options.get(objective, {}), **overrides}
            for seed in encoder_seeds(t):
                enc = self.root / pname / "enc" / f"{label}-s{seed}"
                if (enc / "encoder.json").exists():
                    continue
                pc = pretrain_config(t, objective, overrides, seed, pre_data, enc, self.wb)
                self.once("pretrain", enc, f"{pname}/pretrain/{label}-s{seed}", "pretrain", pc, t, reads=(pre_data,))

    def _add_rows(self, t: TaskSpec, demos: Path) -> None:
        tdir, pre_dir = self.root / t.name, self.root / pretrain_name(t)
        for enc_label in row_encoders(t):
            for head in t.heads:
                for seed in t.seeds:
                    if not _trainable_row(enc_label, head):
                        continue  # kNN end to end: no such row
                    key = f"{enc_label}-{head}-s{seed}"
                    pol, ev = tdir / "pol" / key, tdir / "eval" / key
                    if not (pol / "policy.json").exists():
                        tc = _train_config(t, enc_label, head, seed, demos, pre_dir, pol, self.wb)
                        self._plan("train", f"{t.name}/train/{key}", "train", tc, pol, reads=(tc.encoder,))
                    if not (ev / "results.json").exists():
                        self._plan("evaluate", f"{t.name}/eval/{key}", "eval", out=ev, reads=(pol,), cfg=EvalConfig(
                            policy=str(pol), episodes=t.eval_episodes, seed=EVAL_SEED + 1000 * seed,
                            workers=self.eval_workers, videos=self.opts.videos, horizon=t.horizon, out=ev,
                            max_fault_rate=1.0, **self.wb))  # checked after the report: every row gets measured


def run_tasks(tasks: list[TaskSpec], opts: RunOptions, title: str) -> Path:
    """Run every stage of every task that is not finished yet, then write results.json and report.md."""
    validate_tasks(tasks)
    root = Path(opts.root)
    root.mkdir(parents=True, exist_ok=True)
    timings_path = root / "timings.json"
    timings: dict = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    def save_timings():
        save_json(timings_path, timings)

    plan = _Plan(root, opts)
    for t in tasks:
        plan.add_task(t)
    if not opts.report_only:
        # Collection runs its own worker processes: one collection at a time, and the data before the rest.
        run_phase("collect", plan.jobs["collect"], 1, opts.threads, timings, save_timings)
        run_phase("merge", plan.jobs["merge"], opts.jobs, opts.threads, timings, save_timings)
        staged = plan.jobs["pretrain"] + plan.jobs["train"] + plan.jobs["evaluate"]
        run_graph("pretrain/train/evaluate", staged, plan.needs, opts.jobs, opts.threads, timings, save_timings)
    rows = collect_rows(tasks, root, timings)
    save_json(root / "results.json", {"title": title, "tasks": [to_dict(t) for t in tasks], "rows": rows})
    report = write_suite_report(root, title, tasks, rows)
    for t in tasks:  # a crash is not a failed policy: too many faults fail the run, the report written
        for ev in sorted((root / t.name / "eval").glob("*/results.json")):
            check_faults(_read(ev), opts.max_fault_rate, f"{ev.parent} (report: {report})")
    return report


def _trainable_row(enc_label: str, head: str) -> bool:
    e2e = enc_label == "scratch" or enc_label.startswith("ft-")
    return get_head(head).trainable or not e2e


def _train_config(t: TaskSpec, enc_label: str, head: str, seed: int, demos: Path, pre_dir: Path, pol: Path,
                  wb: dict) -> TrainConfig:
    e2e = enc_label == "scratch" or enc_label.startswith("ft-")
    steps = t.e2e_steps if e2e else int(t.head_steps.get(head, t.train_steps))
    optim = OptimConfig(steps=steps, batch_size=t.e2e_batch if e2e else 256, warmup_steps=min(50, steps),
                        checkpoint_every=max(steps // 2, 1), eval_every=steps, seed=seed,
                        **{**get_head(head).short_run_optim, **t.head_optim.get(head, {})})
    if enc_label == "state":
        encoder, finetune = "state", False
    elif enc_label == "scratch":
        encoder, finetune = "scratch", False
    else:
        base = enc_label[3:] if enc_label.startswith("ft-") else enc_label
        encoder, finetune = str(pre_dir / "enc" / f"{base}-s{encoder_seed(t, seed)}"), enc_label.startswith("ft-")
    t_o, t_pred, t_a = (list(t.horizons.get(head, [])) + [None, None, None])[:3]
    tc = TrainConfig(data=demos, encoder=encoder, finetune=finetune, scratch_encoder=t.encoder,
                     cameras=t.cameras, out=pol, head=head, use_proprio=True if enc_label == "state" else t.use_proprio,
                     obs_horizon=t_o, pred_horizon=t_pred, action_horizon=t_a, optim=optim,
                     loader=DataConfig(in_ram=t.in_ram),
                     feature_noise=0.0 if e2e or enc_label == "state" else t.feature_noise, **wb)
    if t.head_options.get(head):
        setattr(tc, head, dataclasses.replace(tc.head_config(), **t.head_options[head]))
    return tc


# ----------------------------------------------------------------------------- results
def _read(path: Path) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


COLLAPSE_KEYS = ("mean_cosine", "effective_rank", "emb_std", "within_episode_share")
"""The encoders' collapse indicators (robolearn.probes.collapse_stats) shown beside their probes."""


def collect_rows(tasks: list[TaskSpec], root: Path, timings: dict) -> list[dict]:
    """One row per task x encoder x head: success pooled over seeds with a Wilson interval."""
    rows = []
    for t in tasks:
        tdir = root / t.name
        pname = pretrain_name(t)
        task_module = get_task(t.env)
        columns = getattr(task_module, "report_columns", None)  # the task's own report columns, if any
        for enc_label in row_encoders(t):
            base = enc_label[3:] if enc_label.startswith("ft-") else enc_label
            enc_results = [_read(root / pname / "enc" / f"{base}-s{s}" / "results.json") for s in encoder_seeds(t)]
            r2 = [x for x in (r.get("val/probe_r2/mean") for r in enc_results) if x is not None]
            collapse = {k: float(np.mean(v)) for k in COLLAPSE_KEYS
                        if (v := [r[f"val/{k}"] for r in enc_results if f"val/{k}" in r])}
            privileged = any(r.get("uses_privileged_labels", False) for r in enc_results)
            for head in t.heads:
                if not _trainable_row(enc_label, head):
                    continue
                succ = n = 0
                per_seed, lengths, finals, episodes, walls = [], [], [], [], {}
                faults, tracebacks = 0, []
                for s in t.seeds:
                    key = f"{enc_label}-{head}-s{s}"
                    res = _read(tdir / "eval" / key / "results.json")
                    if not res:
                        continue
                    succ, n = succ + int(res["successes"]), n + int(res["episodes"])
                    per_seed.append(res["success_rate"])
                    lengths.append(res["mean_length"])
                    finals.append(res.get("mean_final_success", 0.0))
                    episodes += res.get("per_episode", [])
                    faults += int(res.get("sim_faults", 0))
                    if (res.get("first_fault") or {}).get("traceback_file"):
                        tracebacks.append(os.path.relpath(res["first_fault"]["traceback_file"], root))
                    for stage, k in (("pretrain", f"{pname}/pretrain/{base}-s{s}" if s in encoder_seeds(t) else ""),
                                     ("train", f"{t.name}/train/{key}"), ("eval", f"{t.name}/eval/{key}")):
                        if k in timings:
                            walls[stage] = walls.get(stage, 0.0) + float(timings[k])
                if n == 0:
                    continue
                lo, hi = wilson_interval(succ, n)
                videos = sorted(str(p.relative_to(root)) for p in (tdir / "eval").glob(f"{enc_label}-{head}-s*/videos/*.mp4"))
                rows.append(dict(
                    task=t.name, encoder=enc_label, head=head, success=succ / n, ci_low=lo, ci_high=hi,
                    successes=succ, episodes=n, per_seed=per_seed, mean_length=float(np.mean(lengths)),
                    final_success=float(np.mean(finals)), probe_r2=float(np.mean(r2)) if r2 else None,
                    collapse=collapse, pretrain_preset=None if base in ("state", "scratch", "none") else t.pretrain_preset,
                    wall_s=walls, videos=videos[:2], privileged_labels=privileged,
                    sim_faults=faults, fault_traceback=tracebacks[0] if tracebacks else None,
                    **({"task_columns": dict(task_module.REPORT_COLUMNS), **columns(episodes)} if columns else {})))
    return rows


# ----------------------------------------------------------------------------- robolearn run
def run(cfg) -> Path:
    """`robolearn run`: one task through every stage, with a report."""
    root = cfg.folder()
    if root.exists() and cfg.overwrite:
        shutil.rmtree(root)
    task = TaskSpec(
        name=re.sub(r"-v\d+$", "", cfg.env.split("/")[-1]).lower(), env=cfg.env, demos=cfg.episodes, encoders=list(cfg.objectives),
        heads=list(cfg.heads), seeds=list(cfg.seeds), image_size=cfg.image_size, use_proprio=cfg.use_proprio,
        pretrain_steps=cfg.pretrain_steps, pretrain_batch=cfg.pretrain_batch, train_steps=cfg.train_steps,
        e2e_steps=cfg.e2e_steps, eval_episodes=cfg.eval_episodes, encoder=cfg.encoder,
        dynamo_ablations=list(cfg.dynamo_ablations), sirl_budgets=list(cfg.sirl_budgets),
        collect_workers=cfg.workers)
    root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, root / "run.yaml")
    opts = RunOptions(root=root, jobs=cfg.jobs, threads=cfg.threads or 1, eval_workers=cfg.workers,
                      wandb=cfg.wandb, project=cfg.project, max_fault_rate=cfg.max_fault_rate)
    return run_tasks([task], opts, f"robolearn run `{cfg.name}`")


__all__ = ["MergeJob", "RunOptions", "TaskSpec", "collect_rows", "encoder_variants", "pretrain_config", "pretrain_preset",
           "pretrain_store", "row_encoders", "run",
           "run_tasks", "validate_tasks"]
