"""Every stage's speed against its own limit, in one run: where the time goes.

Per stage, the achieved rate of the real code path beside the rate of the same work with the
overhead removed, and their ratio:

| stage | achieved (the real path) | limit (overhead removed) |
| --- | --- | --- |
| collect | `robolearn collect` (1 process): stored frames/s | the same episodes in a plain loop: env step + render + expert, no HDF5 |
| pretrain <objective> | `robolearn pretrain`: steps/s of its training loop (metrics.jsonl), every step counted | the model's own step on one batch already in memory: loss, backward, clip, AdamW, EMA (`after_step`) |
| train <head> | `robolearn train` on a frozen encoder (`scratch`: end to end on image windows) | the same, for the head (end to end: encoder + head) |
| embed | the embedding cache: frames/s of `embed_demos` over the store | the encoder's forward on in-memory frames |
| rollouts <env> | the evaluator (`EnvRunner`, scripted expert, cameras rendered): `--layouts` workers x envs per worker | N x a plain loop (make_env + expert, step and render) stepping as many envs in turn as a worker has, N workers |
| batches | a frozen head's batches by `TensorBatches`; image windows by `WindowDataset.batch`, from the file and in RAM | — (and by a DataLoader over a TensorDataset, and a plain DataLoader over the windows) |
| render <env> | one frame of every default camera (`render_all`) | — (ms per frame: the simulator's own cost; the adapters also with their full meshes) |

Rates are given per wall second and per CPU second (this process; rollouts add their worker
processes' CPU). On a shared machine the wall rate falls with the load and the CPU rate does not,
so ratios use CPU time; `uptime` is printed beside the table. For rollouts with N workers, `cpu
ratio` is the plain loop's CPU per env step over the evaluator's (main process + workers): the
share of the evaluator's CPU that is simulation, i.e. the scaling N workers could reach on N idle
cores (an upper bound: it ignores waits at the per-step barrier); the wall ratio is the evaluator's
steps per second over N x the plain loop's, meaningful on N quiet cores only. Each env's first reset
opens its GL context and builds its renderer (start-up, paid per env); the note gives it and the
CPU ratio without it (`steady`) on both sides.

    .venv/bin/python benchmarks/stage_speed.py                       # everything, a few minutes
    .venv/bin/python benchmarks/stage_speed.py --stages pretrain train --image-sizes 32
    .venv/bin/python benchmarks/stage_speed.py --stages rollouts render --envs robosuite/Lift-v0
"""
from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported

import robolearn.rendering  # noqa: E402,F401  (MUJOCO_GL before mujoco)

import functools  # noqa: E402
import json  # noqa: E402
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import tyro

from clock import Clock  # benchmarks/, beside this script

STAGES = ["collect", "pretrain", "train", "embed", "batches", "rollouts", "render"]


@dataclass
class Args:
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    """Stages to measure (collect pretrain train embed batches rollouts render)."""
    image_sizes: list[int] = field(default_factory=lambda: [32, 64])
    """Image sizes of the training stages."""
    objectives: list[str] = field(default_factory=lambda: ["idm", "dynamo", "sirl", "ccl"])
    heads: list[str] = field(default_factory=lambda: ["mlp", "knn", "vqbet", "diffusion", "scratch"])
    """Heads on a frozen encoder; `scratch`: an MLP trained end to end with its encoder."""
    envs: list[str] = field(default_factory=lambda: [
        "robolearn/PointMass-v0", "robolearn/BlockPush-v0", "robosuite/Lift-v0", "metaworld/drawer-open-v3"])
    """Env families of the rollout and render stages."""
    demos: int = 12
    """PointMass demonstrations the training stages read."""
    steps: int = 20
    """Training steps per run (one log at the end, so logging costs what it costs in a long run)."""
    pretrain_batch: int = 32
    """The cpu suite's pretraining and end-to-end batch."""
    head_batch: int = 256
    """The cpu suite's frozen-head batch."""
    episodes: int = 16
    """Rollout episodes per row (capped at --horizon steps each); robosuite and MetaWorld run a quarter."""
    horizon: int = 50
    rollout_size: int = 64
    """Image size of the rollout and render stages."""
    layouts: list[str] = field(default_factory=lambda: ["1x1", "2x1", "2xauto"])
    """Rollout rows: workers x envs per worker (`auto`: the evaluator's default); more than one worker
    runs as independent loops, as `robolearn eval` does on a CPU, or with `-lockstep` (e.g. 2x8-lockstep)
    as one batch stepped from this process."""
    repeats: int = 1
    """Rollout rows: evaluator runs, each after its own plain loop, pooled."""
    out: Optional[Path] = None
    """Also write the rows as JSON here."""


ROWS: list[dict] = []


def row(stage: str, unit: str, achieved: tuple[float, float], limit: Optional[tuple[float, float]] = None,
        note: str = "") -> None:
    """achieved, limit: (per wall second, per CPU second) rates of `unit`."""
    r = {"stage": stage, "unit": unit, "wall": achieved[0], "cpu": achieved[1],
         "limit_wall": limit[0] if limit else None, "limit_cpu": limit[1] if limit else None,
         "ratio_cpu": achieved[1] / limit[1] if limit else None,
         "ratio_wall": achieved[0] / limit[0] if limit else None, "note": note}
    ROWS.append(r)
    print(fmt(r), flush=True)


def fmt(r: dict) -> str:
    f = lambda v: "-" if v is None else (f"{v:.3g}" if v < 100 else f"{v:.0f}")  # noqa: E731
    ratio = "-" if r["ratio_cpu"] is None else f"{r['ratio_cpu']:.2f} ({r['ratio_wall']:.2f})"
    return (f"{r['stage']:34} {r['unit']:9} {f(r['wall']):>8} {f(r['cpu']):>8} | {f(r['limit_wall']):>8} "
            f"{f(r['limit_cpu']):>8} | {ratio:>12}  {r['note']}")


HEADER = (f"{'stage':34} {'unit':9} {'wall/s':>8} {'cpu/s':>8} | {'lim wall':>8} {'lim cpu':>8} | "
          f"{'cpu (wall) ratio':>12}")


def run_rate(run_dir: Path) -> tuple[float, float]:
    """Steps per wall and CPU second of a run's training loop (its last log: the cumulative rate over
    every step, the first included), from metrics.jsonl."""
    logs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [m for m in logs if "train/steps_per_s" in m][-1]
    return last["train/steps_per_s"], last["train/cpu_steps_per_s"]


def model_rate(model, batch, optim_cfg, n: int) -> tuple[float, float]:
    """The model's own step on one in-memory batch: loss, backward, per-group clip, optimizer,
    after_step; n steps, the first included (as the run's rate)."""
    opts = model.configure_optimizers(optim_cfg)
    groups = [g for o in opts for g in o.param_groups]
    model.train()
    with Clock() as clock:
        for i in range(n):
            loss, _ = model.train_loss(batch)
            for o in opts:
                o.zero_grad(set_to_none=True)
            loss.backward()
            if optim_cfg.grad_clip > 0:
                for g in groups:
                    torch.nn.utils.clip_grad_norm_(g["params"], optim_cfg.grad_clip)
            for o in opts:
                o.step()
            model.after_step(i + 1, n)
    return n / clock.wall, n / clock.cpu


def optim(steps: int, batch: int, **kw):
    from robolearn.settings import OptimConfig

    # As robolearn.pipeline builds them: a method's short-run settings (SIRL's batch) win.
    return OptimConfig(**{**dict(steps=steps, batch_size=batch, warmup_steps=min(50, steps), log_every=steps,
                                 eval_every=10**9, checkpoint_every=0, device="cpu"), **kw})


# ----------------------------------------------------------------------------- stages
def collect_stage(args: Args, tmp: Path, size: int) -> Path:
    from robolearn.config import CollectConfig
    from robolearn.data.collect import _make, collect, run_episode
    from robolearn.data.store import open_store

    out = tmp / f"pm{size}.hdf5"
    with Clock() as c:
        collect(CollectConfig(env="robolearn/PointMass-v0", episodes=args.demos, out=out, image_size=size))
    with open_store(out) as s:
        frames = sum(s.length(d) for d in s.demo_names(None))
        attempts = int(s.h5["data"].attrs["collect_attempts"])
    n = 0  # frames kept, over the time of every attempt (as collect spends it), env start-up included
    with Clock() as p:
        task, env = _make({"env": "robolearn/PointMass-v0", "image_size": size, "cameras": None, "horizon": None})
        for seed in range(attempts):
            ep = run_episode(env, task, seed)
            n += len(ep["actions"]) if ep["is_success"] else 0
    env.close()
    row(f"collect PointMass {size}px", "frames", (frames / c.wall, frames / c.cpu), (n / p.wall, n / p.cpu),
        "limit: the same episodes without the HDF5 writer")
    return out


def pretrain_stage(args: Args, data: Path, tmp: Path, size: int) -> dict:
    from robolearn.config import PretrainConfig
    from robolearn.data.normalize import Normalizer
    from robolearn.data.store import open_store
    from robolearn.data.windows import WindowDataset
    from robolearn.distributed import sharded_loader
    from robolearn.encoders import make_encoder
    from robolearn.pretrain import data_info, pretrain
    from robolearn.pretraining import get_objective
    from robolearn.settings import EncoderConfig, resolve_optim

    encoders = {}
    for name in ["none"] + (list(args.objectives) if "pretrain" in args.stages else []):
        out = tmp / f"enc-{name}-{size}"
        steps = 0 if name == "none" else args.steps
        cls = get_objective(name)
        cfg = PretrainConfig(data=data, out=out, objective=name, wandb="disabled",
                             optim=optim(steps, args.pretrain_batch, **cls.short_run_optim))
        with Clock() as total:
            pretrain(cfg)
        encoders[name] = out
        if name == "none":
            continue
        achieved = run_rate(out)
        # The limit: the objective's step on one batch of the same loader, already in memory.
        store = open_store(data)
        cameras = list(store.cameras)
        normalizer = Normalizer.from_store(store, split="train")
        info = data_info(store, cameras)
        obj_cfg = cfg.objective_config()
        objective = cls(make_encoder(EncoderConfig(), info.num_views, info.image_size), obj_cfg, info)
        (tmp / f"prep-{name}-{size}").mkdir(exist_ok=True)
        objective.prepare(tmp / f"prep-{name}-{size}", data, normalizer)
        dataset = objective.make_dataset(data, "train", cameras, normalizer, False) or WindowDataset(
            data, cls.window_spec(obj_cfg), split="train", cameras=cameras, normalizer=normalizer)
        batch = next(iter(sharded_loader(dataset, cfg.optim.batch_size, 0)))  # as the run's (all windows if fewer)
        store.close()
        limit = model_rate(objective, batch, resolve_optim(cfg.optim, cls.optim_defaults), args.steps)
        row(f"pretrain {name} {size}px", "steps", achieved, limit, f"b{cfg.optim.batch_size}; command {total.wall:.0f} s")
    return encoders


def train_stage(args: Args, data: Path, enc: Path, tmp: Path, size: int) -> dict:
    from robolearn.config import TrainConfig
    from robolearn.data.normalize import Normalizer
    from robolearn.data.store import open_store
    from robolearn.data.windows import WindowDataset, WindowSpec
    from robolearn.distributed import sharded_loader
    from robolearn.policies import get_head
    from robolearn.policies.policy import Policy
    from robolearn.settings import resolve_optim
    from robolearn.train import EndToEnd

    policies = {}
    for head in args.heads:
        e2e = head == "scratch"
        head_name = "mlp" if e2e else head
        cls = get_head(head_name)
        batch_size = args.pretrain_batch if e2e else args.head_batch
        out = tmp / f"pol-{head}-{size}"
        steps = args.steps if cls.trainable else 1
        cfg = TrainConfig(data=data, encoder="scratch" if e2e else str(enc), out=out, head=head_name,
                          wandb="disabled", optim=optim(steps, batch_size, **cls.short_run_optim))
        with Clock() as total:
            from robolearn.train import train
            train(cfg)
        policies[head] = out
        if not cls.trainable:
            row(f"train {head} {size}px", "command", (1 / total.wall, 1 / total.cpu), None,
                f"no gradient steps: the whole command {total.wall:.1f} s (embedding cache included)")
            continue
        achieved = run_rate(out)
        policy = Policy.load(out)
        ocfg = resolve_optim(cfg.optim, cls.optim_defaults)
        if e2e:
            store = open_store(data)
            normalizer = Normalizer.from_store(store, split="train")
            store.close()
            spec = WindowSpec(obs_horizon=policy.obs_horizon, action_horizon=policy.pred_horizon)
            ds = WindowDataset(data, spec, split="train", cameras=policy.cameras,
                               normalizer=normalizer.subset(["actions"]), with_features=False)
            batch = next(iter(sharded_loader(ds, batch_size, 0)))
            model = EndToEnd(policy.features, policy.head, cfg.shift_pad)
            model.features.encoder.requires_grad_(True)
        else:
            model = policy.head
            # The trainer hands a head its chunk preceded by `action_context` earlier actions (VQ-BeT
            # supervises every context position: 5 chunks, not 1).
            d, t, a = policy.meta["emb_dim"], model.action_context + policy.pred_horizon, policy.action_dim
            # A batch holds every window when there are fewer than batch_size (ShardedBatchSampler).
            batch_size = min(batch_size, json.loads((out / "results.json").read_text())["train_windows"])
            g = torch.Generator().manual_seed(0)
            batch = (torch.randn(batch_size, policy.obs_horizon, d, generator=g),
                     torch.rand(batch_size, t, a, generator=g) * 2 - 1, torch.zeros(batch_size, t, dtype=torch.bool))
        limit = model_rate(model, batch, ocfg, args.steps)
        row(f"train {head} {size}px", "steps", achieved, limit, f"b{batch_size}; command {total.wall:.0f} s")
    return policies


def embed_stage(args: Args, data: Path, enc: Path, size: int) -> None:
    from robolearn.data.store import open_store
    from robolearn.embeddings import embed_demos
    from robolearn.encoders import load_encoder

    encoder, meta = load_encoder(enc)
    with open_store(data) as store:
        demos = store.demo_names(None)
        frames = sum(store.length(d) for d in demos)
        with Clock() as c:
            embed_demos(encoder, store, meta["cameras"], demos, progress=False)
        x = torch.from_numpy(store.images(demos[0], meta["cameras"]))
    x = x.repeat((256 + len(x) - 1) // len(x), 1, 1, 1, 1)[:256]
    with torch.no_grad(), Clock() as m:
        for _ in range(max(1, frames // 256)):
            encoder(x)
    n = 256 * max(1, frames // 256)
    row(f"embed cache {size}px", "frames", (frames / c.wall, frames / c.cpu), (n / m.wall, n / m.cpu),
        "limit: the encoder on in-memory frames, batch 256")


def plain_loop(env_id: str, kwargs: dict, episodes: int, seed: int, policy=None,
               n_envs: int = 1) -> tuple[int, Clock, float, int]:
    """Env steps, their clock, the CPU seconds of the first resets (start-up: the GL contexts), and
    the number of envs it stepped in turn.

    With the expert, `n_envs` envs are stepped in turn (env j runs episodes j, j + n_envs, ...): the
    simulator's and renderer's own cost for a worker of that many envs, whose renders alternate
    between GL contexts. With a policy: one env (its history is per env)."""
    from robolearn.envs import expert_rng, get_task, make_env

    n_envs = 1 if policy is not None else max(1, min(n_envs, episodes))
    task = get_task(env_id) if policy is None else None
    envs = [make_env(env_id, **kwargs) for _ in range(n_envs)]
    shares = [iter(range(j, episodes, n_envs)) for j in range(n_envs)]
    obs, act = [None] * n_envs, [None] * n_envs

    def start(j: int) -> bool:
        """Env j's next episode; False when it has none left."""
        i = next(shares[j], None)
        if i is None:
            return False
        obs[j], _ = envs[j].reset(seed=seed + i)
        if policy is None:
            act[j] = task.expert(envs[j], expert_rng(seed + i)).act
        else:
            policy.reset()
            act[j] = policy.select_action
        return True

    steps, clock, startup = 0, Clock(), Clock()
    try:  # from the first resets, as the evaluator's rollout time: each env's first render opens its GL context
        with clock:
            with startup:
                live = [j for j in range(n_envs) if start(j)]
            while live:
                for j in list(live):
                    obs[j], _, term, trunc, _ = envs[j].step(act[j](obs[j]))
                    steps += 1
                    if (term or trunc) and not start(j):
                        live.remove(j)
    finally:
        for env in envs:
            env.close()
    return steps, clock, startup.cpu, n_envs


def rollout_stage(args: Args, env_id: str, policy_dir: Optional[Path] = None) -> None:
    from robolearn.evaluation.loops import rollout
    from robolearn.evaluation.rollouts import EnvRunner
    from robolearn.policies.policy import Policy

    kwargs = {"image_size": args.rollout_size, "horizon": args.horizon}
    policy = None
    what = "expert"
    if policy_dir is not None:
        policy = Policy.load(policy_dir)
        kwargs["image_size"] = int(policy.meta["image_size"])
        what = f"{policy.meta['head']} policy"
    seed = 100_000
    episodes = args.episodes if env_id.startswith("robolearn/") else max(2, args.episodes // 4)
    for layout in args.layouts:
        shape, _, mode = layout.partition("-")
        w, _, k = shape.partition("x")
        t = dict.fromkeys(["n", "wall", "cpu", "start", "steps", "ewall", "ecpu", "estart", "main", "workers"], 0.0)
        ratios = []
        # The plain loop again before every evaluator run, `--repeats` times: on a shared machine the
        # CPU cost of a step drifts with the load by +-20% over minutes; interleaved and pooled, the
        # drift falls on both sides of the ratio.
        for _ in range(args.repeats):
            runner = EnvRunner(env_id, kwargs, range(episodes), seed, workers=int(w), expert=policy is None,
                               desc=f"{env_id} {layout}", envs_per_worker=None if k == "auto" else int(k))
            # The limit steps as many envs in turn as each of the runner's workers does.
            n, clock, plain_startup, plain_envs = plain_loop(env_id, kwargs, episodes, seed, policy, n_envs=runner.per_worker)
            load = None if policy is None else functools.partial(Policy.load, policy_dir)
            r = rollout(runner, policy, load, lockstep=mode == "lockstep")  # as `robolearn eval` does
            cpu = r["main_cpu_seconds"] + r["worker_cpu_seconds"]
            ratios.append((r["env_steps"] / cpu) / (n / clock.cpu))
            for key, v in (("n", n), ("wall", clock.wall), ("cpu", clock.cpu), ("start", plain_startup),
                           ("steps", r["env_steps"]), ("ewall", r["rollout_seconds"]), ("ecpu", cpu),
                           ("estart", r["startup_cpu_seconds"]), ("main", r["main_cpu_seconds"]),
                           ("workers", r["worker_cpu_seconds"])):
                t[key] += v
        nw, nk = r["workers"], r["envs_per_worker"]
        steady = (t["steps"] / (t["ecpu"] - t["estart"])) / (t["n"] / (t["cpu"] - t["start"]))
        kind = "" if nw == 1 else " lockstep" if mode == "lockstep" else " loops"
        row(f"rollouts {env_id.split('/')[-1]} {what} {nw}x{nk}{kind}", "env steps",
            (t["steps"] / t["ewall"], t["steps"] / t["ecpu"]), (nw * t["n"] / t["wall"], t["n"] / t["cpu"]),
            f"main {1e3 * t['main'] / t['steps']:.2f} + workers {1e3 * t['workers'] / t['steps']:.2f} cpu ms/step, "
            f"limit: plain loop ({plain_envs} env(s) in turn) {1e3 * t['cpu'] / t['n']:.2f}; start-up {t['estart'] / args.repeats:.2f} s cpu "
            f"(plain {t['start'] / args.repeats:.2f}); steady cpu ratio {steady:.2f}; "
            f"{args.repeats} runs: {' '.join(f'{x:.2f}' for x in ratios)}")


def render_stage(args: Args, env_id: str) -> None:
    """Frames of every camera per step; for the adapters also with their full meshes, after the same
    actions from the same reset, and the mean absolute pixel difference between the two."""
    from robolearn.envs import make_env

    variants = [{}] if env_id.startswith("robolearn/") else [{}, {"light_meshes": False}]
    frames: list[list[dict]] = []
    for kw in variants:
        env = make_env(env_id, image_size=args.rollout_size, **kw)
        u = env.unwrapped
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        u.render_all(force=True)  # GL context, mesh upload (and the light twin): not timed
        clock, n, seen = Clock(), 30, []
        for _ in range(n):
            env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
            with clock:
                seen.append({k: v.copy() for k, v in u.render_all(force=True).items()})
        env.close()
        frames.append(seen)
        note = ""
        if kw:
            diff = {c: np.mean([np.abs(a[c].astype(int) - b[c]).mean() for a, b in zip(*frames)]) for c in u.cameras}
            note = "; light vs full, mean |pixel difference| " + ", ".join(f"{c} {d:.2f}" for c, d in diff.items())
        what = " full meshes" if kw else ""
        row(f"render {env_id.split('/')[-1]}{what} {args.rollout_size}px", "frames", (n / clock.wall, n / clock.cpu),
            None, f"{1e3 * clock.wall / n:.1f} ms wall, {1e3 * clock.cpu / n:.1f} ms cpu per step's frames "
                  f"({len(u.cameras)} cameras: {', '.join(u.cameras)}){note}")


def batches_stage(args: Args, tmp: Path) -> None:
    """A frozen head's batches: a DataLoader over a TensorDataset (what train used) against
    TensorBatches (one index per tensor), batch 256 of 3,000 windows; then image windows."""
    from torch.utils.data import DataLoader, TensorDataset

    from robolearn.distributed import ShardedBatchSampler, TensorBatches

    ds = TensorDataset(torch.randn(3000, 1, 68), torch.randn(3000, 5, 2), torch.zeros(3000, 5, dtype=torch.bool))
    rates = []
    for make in (lambda s: DataLoader(ds, batch_sampler=s), lambda s: TensorBatches(ds.tensors, s)):
        n, clock = 0, Clock()
        with clock:
            for _ in range(10):
                n += sum(1 for _ in make(ShardedBatchSampler(len(ds), args.head_batch, 0)))
        rates.append((n / clock.wall, n / clock.cpu))
    row("head batches: TensorBatches", "batches", rates[1], None, f"{1e3 / rates[1][1]:.2f} ms cpu per batch")
    row("head batches: DataLoader", "batches", rates[0], None, f"{1e3 / rates[0][1]:.2f} ms cpu per batch (before)")
    window_batches(args, tmp)


def window_batches(args: Args, tmp: Path) -> None:
    """Image windows as pretraining reads them (IDM's: a frame and the next, 64 a batch, 32 px PointMass):
    `sharded_loader` (a batch at a time, `WindowDataset.batch`) from the file and in RAM, against a plain
    DataLoader over the same dataset (`__getitems__`: the batch split into items, then torch's collation)."""
    from torch.utils.data import DataLoader

    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect
    from robolearn.data.windows import WindowDataset, WindowSpec
    from robolearn.distributed import ShardedBatchSampler, sharded_loader

    data = collect(CollectConfig(env="robolearn/PointMass-v0", episodes=args.demos, out=tmp / "windows.hdf5",
                                 image_size=32))
    spec = WindowSpec(obs_horizon=1, action_horizon=1, future=1)
    for name, in_ram, plain in (("file, batched", False, False), ("RAM, batched", True, False),
                                ("file, plain DataLoader", False, True)):
        ds = WindowDataset(data, spec, in_ram=in_ram)
        n, clock = 0, Clock()
        with clock:
            while n < 200:
                loader = DataLoader(ds, batch_sampler=ShardedBatchSampler(len(ds), 64, 0)) if plain else \
                    sharded_loader(ds, 64, 0)
                n += sum(1 for _ in loader)
        rate = (n / clock.wall, n / clock.cpu)
        row(f"windows: {name}", "batches", rate, None, f"{1e3 / rate[1]:.2f} ms cpu per batch of 64")


def main(args: Args) -> None:
    torch.set_num_threads(1)
    bad = [s for s in args.stages if s not in STAGES]
    if bad:
        sys.exit(f"unknown stage(s) {', '.join(bad)}; known: {', '.join(STAGES)}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"torch threads 1; {os.cpu_count()} cores; rates per wall second and per CPU second\n")
    print(HEADER)
    stages = set(args.stages)
    policy_dir = None
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if stages & {"collect", "pretrain", "train", "embed"}:
            for size in args.image_sizes:
                data = collect_stage(args, tmp, size)
                encs = pretrain_stage(args, data, tmp, size) if stages & {"pretrain", "train", "embed"} else {}
                if "embed" in stages:
                    embed_stage(args, data, encs["none"], size)
                if "train" in stages:
                    pols = train_stage(args, data, encs["none"], tmp, size)
                    policy_dir = policy_dir or pols.get("mlp")
        if "batches" in stages:
            batches_stage(args, tmp)
        if "rollouts" in stages:
            for env_id in args.envs:
                rollout_stage(args, env_id)
            if policy_dir is not None:
                rollout_stage(args, "robolearn/PointMass-v0", policy_dir)
        if "render" in stages:
            for env_id in args.envs:
                render_stage(args, env_id)
    print("\nuptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(ROWS, indent=1))


if __name__ == "__main__":
    main(tyro.cli(Args))
