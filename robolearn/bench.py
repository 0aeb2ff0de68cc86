"""`robolearn bench`: the task ladder as suites of tasks x encoders x heads x seeds.

Every task's table carries the privileged-state ceiling (`state`), end-to-end training from scratch
(`scratch`) and the frozen random initialization (`none`) beside the pretraining objectives. Budgets
(demonstrations, image size, steps) come from measured state ceilings: see the README's task ladder.

    robolearn bench --suite cpu            # about 5 min on 2 quiet CPU cores (--jobs 2 --videos 0)
    robolearn bench --suite paper          # the papers' scale: a GPU, or a long CPU run
    robolearn bench --suite metaworld-cpu  # MetaWorld few-shot (ML10 pool, 2 held-out tasks) on 2 cores
    robolearn bench --suite blockpush-state --jobs 2 --videos 0   # multimodal heads on state, ~1 h on 2 cores
    robolearn bench --suite metaworld      # the inverse-dynamics paper's ML45 split: a GPU machine
    robolearn bench --suite gpu --tasks lift   # robosuite Lift from images, 200 demonstrations
    robolearn bench --suite cpu --tasks reach --encoders state scratch none idm --seeds 0
    robolearn bench --suite lift-fewshot       # robosuite Lift, 200 pretraining / 20 head demos, 32 px
    robolearn bench --suite dynamo-ablations   # DynaMo's ablations as rows on ReachTarget
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from robolearn.config import BenchConfig, EncoderConfig
from robolearn.errors import RobolearnError
from robolearn.pipeline import RunOptions, TaskSpec, row_encoders, run_tasks

ALL_ENCODERS = ["state", "scratch", "none", "idm", "dynamo", "sirl", "ccl"]

# DynaMo's official Block Push config: EMA target, transformers 4 layers / 4 heads / 72 wide, dropout 0.3,
# no augmentation (our default per-frame jitter is for scenes redrawn per episode; Block Push's is fixed).
DYNAMO_BLOCKPUSH = {"dynamo": {"target": "ema", "layers": 4, "heads": 4, "embed": 72, "dropout": 0.3,
                               "jitter": 0.0}}


def _smoke() -> list[TaskSpec]:
    return [TaskSpec(name="pointmass", env="robolearn/PointMass-v0", demos=20, image_size=32,
                     encoders=["state", "none"], heads=["mlp"], seeds=[0], pretrain_steps=0, train_steps=300,
                     eval_episodes=10, collect_workers=1, note="a seconds-scale check that the stages connect")]


def _cpu() -> list[TaskSpec]:
    return [
        TaskSpec(name="pointmass", env="robolearn/PointMass-v0", demos=100, image_size=32,
                 encoders=ALL_ENCODERS, heads=["mlp", "knn"], seeds=[0, 1, 2], pretrain_seeds=[0],
                 pretrain_steps=500, pretrain_batch=32, train_steps=1000, e2e_steps=800, e2e_batch=32,
                 eval_episodes=30,
                 note="the smoke rung: four goals, the goal visible only in the image; every sound pipeline succeeds"),
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=32, use_proprio=False,
                 pretrain_envs=["robolearn/Reach-v0"], pretrain_demos=200,
                 encoders=ALL_ENCODERS, heads=["mlp"], seeds=[0, 1, 2], pretrain_seeds=[0],
                 pretrain_steps=400, pretrain_batch=32, train_steps=1000, e2e_steps=800, e2e_batch=32,
                 eval_episodes=50,
                 note="the few-demonstration rung (inverse-dynamics paper's setting): pretraining on 200 demos "
                      "of random goals, heads on 10 demos of one goal, images only, floor colour and distractors "
                      "redrawn every episode"),
    ]


def _paper() -> list[TaskSpec]:
    return [
        TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, image_size=64,
                 encoders=["state", "scratch", "none", "dynamo", "idm"], heads=["mlp", "vqbet", "diffusion"],
                 seeds=[0, 1, 2], pretrain_steps=20000, pretrain_preset="paper", pretrain_batch=64, train_steps=20000,
                 e2e_steps=20000, e2e_batch=64, eval_episodes=50, encoder=EncoderConfig(name="resnet18"),
                 horizons={"mlp": [3, 5, 5]}, objective_options=DYNAMO_BLOCKPUSH,  # vqbet, diffusion: the task preset
                 note="the multimodal rung at the DynaMo paper's scale (1,000 demonstrations, two views)"),
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=64, use_proprio=False,
                 pretrain_envs=["robolearn/Reach-v0"], pretrain_demos=1000,
                 encoders=ALL_ENCODERS, heads=["mlp"], seeds=[0, 1, 2, 3, 4],
                 pretrain_steps=20000, pretrain_preset="paper", pretrain_batch=256, train_steps=5000, e2e_steps=5000, e2e_batch=64,
                 eval_episodes=100, note="the few-demonstration rung at the inverse-dynamics paper's budgets"),
        _lift(pretrain_steps=20000, pretrain_preset="paper", pretrain_batch=256, train_steps=10000, e2e_steps=10000, e2e_batch=64,
              eval_episodes=100),
    ]


def _gpu() -> list[TaskSpec]:
    """What one GPU session (minutes of an H200 and 16 cores) measures of the paper suite."""
    return [
        TaskSpec(name="reach", env="robolearn/ReachTarget-v0", demos=10, image_size=64, use_proprio=False,
                 pretrain_envs=["robolearn/Reach-v0"], pretrain_demos=1000,
                 encoders=["state", "scratch", "none", "idm", "dynamo"], heads=["mlp"], seeds=[0, 1, 2],
                 pretrain_seeds=[0], pretrain_steps=3000, pretrain_preset="paper", pretrain_batch=256, train_steps=2000,
                 e2e_steps=2000, e2e_batch=64, eval_episodes=50, collect_workers=14, in_ram=True,
                 note="few-demonstration rung at GPU budgets: 1,000 pretraining demos, 3,000 pretraining steps"),
        TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, image_size=64,
                 encoders=["state", "none", "dynamo"], heads=["mlp", "vqbet"], seeds=[0],
                 pretrain_steps=2000, pretrain_preset="paper", pretrain_batch=64, train_steps=3000, eval_episodes=50,
                 encoder=EncoderConfig(name="resnet18"), collect_workers=14, in_ram=True,
                 horizons={"mlp": [3, 5, 5]}, objective_options=DYNAMO_BLOCKPUSH,
                 note="the multimodal rung at the DynaMo paper's demonstration count (1,000), shortened training"),
        _lift(pretrain_seeds=[0], pretrain_steps=3000, pretrain_preset="paper", pretrain_batch=256, train_steps=2000, e2e_steps=2000,
              e2e_batch=64, eval_episodes=50, collect_workers=14, in_ram=True),
    ]


def _lift(**budgets) -> TaskSpec:
    """robosuite Lift from images: its 200 demonstrations are also the pretraining data (no pool)."""
    return TaskSpec(name="lift", env="robosuite/Lift-v0", demos=200, image_size=64,
                    encoders=["state", "scratch", "none", "idm"], heads=["mlp"], seeds=[0, 1, 2], **budgets,
                    note="robosuite Lift (Panda, OSC_POSE) from the agentview and eye-in-hand images, 200 scripted "
                         "demonstrations; the encoder pretrains on the same demonstrations")


# MetaWorld lets a failing episode run to 500 steps, while its experts solve these tasks in 60-250:
# a failing policy would cost 3-10x a solved one in rendered frames. Evaluation stops at twice the
# expert's longest successful episode of 50, rounded up to 50 steps, at most 500 (`longest solved` of
# benchmarks/expert_success.py: drawer-open 92, sweep-into 65, bin-picking 247, box-close 149,
# hand-insert 67, door-lock 132, door-unlock 58).
MW_EVAL_HORIZON = {"drawer-open-v3": 200, "sweep-into-v3": 150, "bin-picking-v3": 500, "box-close-v3": 300,
                   "hand-insert-v3": 150, "door-lock-v3": 300, "door-unlock-v3": 150}


def _metaworld_fewshot(size: str, held_out: list[str], **budgets) -> list[TaskSpec]:
    """The inverse-dynamics paper's MetaWorld setting: encoders pretrained once on demonstrations of
    the split's pool of tasks (`pretrain_group`), heads on 10 demonstrations of each held-out task."""
    from robolearn.envs.metaworld_tasks import fewshot_split

    pool, test = fewshot_split(size)
    assert set(held_out) <= {e.split("/")[-1] for e in test}, "held-out tasks come from the split's test list"
    return [TaskSpec(name=task.removesuffix("-v3"), env=f"metaworld/{task}", demos=10, pretrain_envs=pool,
                     pretrain_group=f"pool-{size}", horizon=MW_EVAL_HORIZON[task], cameras=["corner2"],
                     encoders=["state", "scratch", "none", "idm", "dynamo"], heads=["mlp"], seeds=[0, 1, 2],
                     **budgets) for task in held_out]


def _metaworld() -> list[TaskSpec]:
    """ML45: pretraining on 45 tasks, heads on 10 demonstrations of each of the 5 held-out tasks."""
    return _metaworld_fewshot(
        "ml45", ["bin-picking-v3", "box-close-v3", "hand-insert-v3", "door-lock-v3", "door-unlock-v3"],
        image_size=64, pretrain_demos=50, pretrain_steps=20000, pretrain_preset="paper", pretrain_batch=256, train_steps=5000,
        e2e_steps=5000, e2e_batch=64, eval_episodes=50, collect_workers=14, in_ram=True,
        note="the inverse-dynamics paper's ML45 split (its Table: idm 0.51, scratch 0.44 averaged over the 5 "
             "held-out tasks): 50 demonstrations of each of the 45 training tasks, one corner camera, 64 px")


def _metaworld_cpu() -> list[TaskSpec]:
    """ML10's pool on 2 CPU cores: 10 tasks x 15 demonstrations, 2 held-out tasks."""
    return _metaworld_fewshot(
        "small", ["drawer-open-v3", "sweep-into-v3"],
        image_size=48, pretrain_demos=15, pretrain_seeds=[0], pretrain_steps=300, pretrain_batch=32,
        train_steps=1000, e2e_steps=500, e2e_batch=32, eval_episodes=10,
        collect_workers=2,
        note="the inverse-dynamics paper's MetaWorld setting at CPU scale: ML10's 10 training tasks as the "
             "pool (not ML45's 45), 15 demonstrations each, 300 pretraining steps, 48 px, one corner camera")


# BlockPush from the privileged state: 1,000 demos give ~69k training windows; the state heads train at
# batch 256, so 100 epochs are ~27k steps. Steps per CPU-second of one thread, measured on the shared
# 2-core machine (process time): MLP 104, VQ-BeT (GPT 4 x 64, heads 256) 18.7, paper-sized VQ-BeT
# (6 x 120, heads 1024) 3.9, diffusion (32, 64, 128) 6.4 at T 16, ~6 at T 8 (5.9 measured next to a 4.0
# for T 16, both loaded); diffusion at T 4 with the observation MLP 6.2 (since fused AdamW and cropped
# convolutions ~11, benchmarks/results/stage_speed/train_step.md). Budgets sized for 2 cores: in float32 with
# diffusion at 12,000 steps the whole suite took 61-64 min on 2 quiet cores (blockpush_state/suite_full_8628043,
# suite_full_b8d0411); diffusion at 11,000 steps (~40 epochs) and bf16 for diffusion and the MLP: 49 min
# (suite_full_65ad3b4: VQ-BeT 0.96, diffusion 0.83, MLP 0.42).
BLOCKPUSH_STATE_STEPS = {"mlp": 27000, "vqbet": 15000, "diffusion": 11000}  # ~100, 55, 40 epochs
BLOCKPUSH_STATE_VQBET = {"gpt_layers": 4, "gpt_heads": 4, "gpt_embed": 64, "head_hidden": 256}
# Diffusion predicting the clean chunk (x0), re-planning every step: on the suite's data x0 prediction
# halves the sampled first-action error at equal steps (0.072 vs 0.141 at step 1,000) and executing the
# chunk open loop loses most of what the head learned (benchmarks/results/blockpush_state/diffusion_sweep.md).
# lr 1e-3 and 4-step chunks: 55/100 over head seeds 0, 1 against 33/100 at lr 3e-4 with 8-step chunks
# (intervals apart; seed 2 26/50); lr 1e-3 alone 47/100 (diffusion_failures/README.md). A wider (4.5M) or narrower
# UNet, input noise and twice the steps did not help. An MLP (256, 256) on the observation window before FiLM:
# head seeds 0, 1, 2 at 37/50, 22/50, 41/50 = 100/150 against 81/150 without; >= 1 block entered 138/150
# against 118/150. Batch 64 at equal CPU time: 19/50 against 29/50 (seed 0). With the MLP, 12,000 steps instead
# of 6,000: 46/50, 40/50, 43/50 = 129/150 = 0.86 [0.80, 0.91] (head seeds 0-2, reset seeds from 100000); the
# suite's own row (each seed on its own reset seeds): 125/150 = 0.83 [0.77, 0.88] (suite_diffusion_12k/).
BLOCKPUSH_STATE_DIFFUSION = {"prediction_type": "sample", "cond_mlp": (256, 256)}
BLOCKPUSH_STATE_DIFFUSION_HORIZONS = [2, 4, 1]  # T_o, T, T_a
# bf16 autocast on the CPU (as `amp="auto"` trains on GPUs): this CPU's bf16 matmuls and convolutions take a
# diffusion step from 83 to 75 ms and an MLP step from 9.8 to 7.9, VQ-BeT's from 46 to 50 (its small attention
# and gathers gain nothing and pay the casts), so VQ-BeT trains in float32 (benchmarks/train_step.py). Beside
# another job the gain is larger: diffusion 9.2-10.2 -> 11.8-12.7 CPU steps/s in the suite. A CPU without
# native bf16 (AVX512-BF16 or AMX) emulates it and is slower: there, set this to {}.
BLOCKPUSH_STATE_AMP = {"amp": "bf16"}
BLOCKPUSH_STATE_DIFFUSION_OPTIM = {"lr": 1e-3, **BLOCKPUSH_STATE_AMP}


def _blockpush_state() -> list[TaskSpec]:
    """The multimodal heads on BlockPush's privileged state (physics only, no images)."""
    # Heads in the order their jobs start: the longest first (diffusion ~15 min a seed beside another job,
    # VQ-BeT ~13, MLP ~4; suite_full_65ad3b4), so no long job is left to run alone at the end while the
    # other core idles.
    return [TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, encoders=["state"],
                     heads=["diffusion", "vqbet", "mlp"], seeds=[0, 1, 2], train_steps=BLOCKPUSH_STATE_STEPS["mlp"],
                     head_steps=BLOCKPUSH_STATE_STEPS,
                     head_options={"vqbet": BLOCKPUSH_STATE_VQBET, "diffusion": BLOCKPUSH_STATE_DIFFUSION},
                     horizons={"diffusion": BLOCKPUSH_STATE_DIFFUSION_HORIZONS},
                     head_optim={"diffusion": BLOCKPUSH_STATE_DIFFUSION_OPTIM, "mlp": BLOCKPUSH_STATE_AMP},
                     eval_episodes=50, collect_workers=2,
                     note="1,000 multimodal demonstrations (4 modes) from the privileged state; horizons from the "
                          "task's preset (MLP 1/5/1, VQ-BeT 3/1/1); diffusion 2/4/1 predicting the clean chunk at lr 1e-3, "
                          "the observation window through an MLP (256, 256) before FiLM; diffusion and MLP under bf16 autocast; "
                          "training budgets per head sized for 2 CPU cores (MLP ~100 epochs, VQ-BeT ~55 with a 4 x 64 "
                          "GPT, diffusion ~40), below the papers' 300+ epochs; diffusion at 44 epochs: head seeds 0, 1, 2 "
                          "42/50, 42/50, 41/50 (at 22 epochs 37/50, 31/50, 37/50; benchmarks/results/blockpush_state/suite_diffusion_12k)")]


# At 32 px the conv encoder's paper strides leave its spatial softmax a 3x3 map, between which BlockPush's
# ~2-px blocks fall: a linear probe of the blocks' x, y reads 0.20 from the random init and 0.78 after 1,500
# supervised steps; first stride 1 (10x10) gives 0.45 and 0.90, at ~5x the compute, so DynaMo gets 1,000
# steps (~0.5 steps/s on one core) where it had 2,000 (benchmarks/results/blockpush_images/encoder_resolution.md).
BLOCKPUSH_IMAGES_FIRST_STRIDE = 1
BLOCKPUSH_IMAGES_PRETRAIN_STEPS = 1000
# End to end from scratch (encoder and VQ-BeT together, batch 64 x 3 frames x 2 views) runs ~0.47 steps/s on
# one core at first stride 1: 1,500 steps (~1.4 epochs) are ~53 min, the longest job of a seed (its result:
# benchmarks/results/blockpush_images/HOW.md).
BLOCKPUSH_IMAGES_E2E_STEPS = 1500


def _blockpush_images() -> list[TaskSpec]:
    """The multimodal rung from images at CPU size: the DynaMo paper's Table-1 ordering (frozen DynaMo +
    VQ-BeT above frozen random init + VQ-BeT) on 1,000 demonstrations, 32 px, the conv encoder; the
    VQ-BeT of `blockpush-state` on the frozen embeddings, and on the same encoder trained with it end to end
    (`scratch`); one encoder per seed."""
    return [TaskSpec(name="blockpush", env="robolearn/BlockPush-v0", demos=1000, image_size=32,
                     encoders=["state", "scratch", "none", "dynamo"], heads=["vqbet"], seeds=[0, 1, 2],
                     encoder=EncoderConfig(first_stride=BLOCKPUSH_IMAGES_FIRST_STRIDE),
                     e2e_steps=BLOCKPUSH_IMAGES_E2E_STEPS, e2e_batch=64,
                     pretrain_steps=BLOCKPUSH_IMAGES_PRETRAIN_STEPS, pretrain_batch=32, train_steps=BLOCKPUSH_STATE_STEPS["vqbet"],
                     head_steps={"vqbet": BLOCKPUSH_STATE_STEPS["vqbet"]}, head_options={"vqbet": BLOCKPUSH_STATE_VQBET},
                     objective_options=DYNAMO_BLOCKPUSH, eval_episodes=50, collect_workers=2,
                     note="1,000 multimodal demonstrations, both views at 32 px, conv encoder with first stride 1 "
                          "(a 10x10 final map); DynaMo with the official block-push settings (EMA target, 4 x 4 x 72 "
                          f"transformers, dropout 0.3), {BLOCKPUSH_IMAGES_PRETRAIN_STEPS:,} steps of the short preset; "
                          "VQ-BeT as in blockpush-state (~55 epochs) on frozen embeddings; scratch trains the same "
                          f"encoder with it end to end for {BLOCKPUSH_IMAGES_E2E_STEPS:,} steps (batch 64, ~1.4 epochs)")]


# Gaussian noise (std, standardized units) on the frozen embedding while the heads train: a head fitted on 20
# demos' embeddings drifts off them in closed loop. DynaMo's seed-0 encoder, 3 head seeds x 50 episodes:
# 73/150 without, 97/150 at 0.5, 103/150 at 1.0, 82/100 at 2.0 (head seeds 0, 1;
# benchmarks/results/lift_fewshot_cpu/feature_noise).
LIFT_FEWSHOT_FEATURE_NOISE = 2.0


def _lift_fewshot() -> list[TaskSpec]:
    """The few-demonstration robosuite rung at CPU size: encoders pretrained on 200 Lift demonstrations
    (seeds disjoint from the heads'), heads on 20; 3 pretraining seeds, one head seed each."""
    return [TaskSpec(name="lift-fewshot", env="robosuite/Lift-v0", demos=20, image_size=32,
                     pretrain_envs=["robosuite/Lift-v0"], pretrain_demos=200,
                     encoders=["state", "scratch", "none", "idm", "dynamo"], heads=["mlp"], seeds=[0, 1, 2],
                     pretrain_steps=1000, pretrain_batch=32, train_steps=1500, e2e_steps=1000, e2e_batch=32,
                     eval_episodes=50, feature_noise=LIFT_FEWSHOT_FEATURE_NOISE,
                     note="few-demonstration Lift: pretraining on 200 demonstrations, heads on 20, 32 px, both "
                          "cameras; one encoder per seed (3 pretraining seeds); frozen rows' heads trained with "
                          f"feature noise {LIFT_FEWSHOT_FEATURE_NOISE}")]


def _dynamo_ablations() -> list[TaskSpec]:
    """DynaMo's ablations (the paper's Table 6) as rows on the cpu suite's few-demonstration rung."""
    (reach,) = [t for t in _cpu() if t.name == "reach"]
    return [dataclasses.replace(reach, encoders=["state", "none", "dynamo"], seeds=[0, 1, 2], pretrain_seeds=None,
                                dynamo_ablations=["no_forward", "no_inverse", "no_bottleneck", "no_covariance",
                                                  "no_stopgrad"],
                                note="DynaMo and one row per ablation (each changes one thing), 3 pretraining seeds")]


SUITES = {"smoke": _smoke, "cpu": _cpu, "gpu": _gpu, "paper": _paper, "metaworld": _metaworld,
          "metaworld-cpu": _metaworld_cpu, "lift-fewshot": _lift_fewshot, "dynamo-ablations": _dynamo_ablations,
          "blockpush-state": _blockpush_state, "blockpush-images": _blockpush_images}


def suite_tasks(cfg: BenchConfig) -> list[TaskSpec]:
    tasks = SUITES[cfg.suite]()
    if cfg.tasks:
        unknown = [t for t in cfg.tasks if t not in {x.name for x in tasks}]
        if unknown:
            raise RobolearnError(f"suite {cfg.suite} has no task {', '.join(unknown)}; "
                                 f"its tasks: {', '.join(t.name for t in tasks)}")
        tasks = [t for t in tasks if t.name in cfg.tasks]
    out = []
    for t in tasks:
        changes = {}
        if cfg.encoders:
            changes["encoders"] = [e for e in cfg.encoders]
        if cfg.heads:
            changes["heads"] = list(cfg.heads)
        if cfg.seeds:
            changes["seeds"] = list(cfg.seeds)
        if cfg.eval_episodes:
            changes["eval_episodes"] = int(cfg.eval_episodes)
        t = dataclasses.replace(t, **changes)
        if cfg.train_scale != 1.0:
            if cfg.train_scale <= 0:
                raise RobolearnError(f"--train-scale must be positive, got {cfg.train_scale}")
            t = dataclasses.replace(t, train_steps=max(1, int(round(t.train_steps * cfg.train_scale))),
                                    head_steps={h: max(1, int(round(n * cfg.train_scale))) for h, n in t.head_steps.items()})
        if cfg.scale != 1.0:
            if cfg.scale <= 0:
                raise RobolearnError(f"--scale must be positive, got {cfg.scale}")
            scaled = {k: max(1, int(round(getattr(t, k) * cfg.scale))) for k in
                      ("demos", "pretrain_steps", "train_steps", "e2e_steps", "eval_episodes")}
            scaled["head_steps"] = {h: max(1, int(round(n * cfg.scale))) for h, n in t.head_steps.items()}
            if t.pretrain_envs:
                scaled["pretrain_demos"] = max(2, int(round(t.pretrain_demos * cfg.scale)))
            scaled["demos"] = max(2, scaled["demos"])
            t = dataclasses.replace(t, **scaled)
        out.append(t)
    return out


def describe(tasks: list[TaskSpec]) -> str:
    lines, pools_shown = [], set()
    for t in tasks:
        pre = ""
        if t.pretrain_envs:
            pool = t.pretrain_envs[0] if len(t.pretrain_envs) == 1 else f"each of {len(t.pretrain_envs)} envs"
            pre = f"; pretrain on {t.pretrain_demos} demos of {pool}"
            if t.pretrain_group:
                pre += f" (shared: group {t.pretrain_group})"
        cap = f"; episodes capped at {t.horizon} steps" if t.horizon else ""
        lines.append(f"{t.name}: {t.env}, {t.demos} demos, {t.image_size} px{pre}")
        if len(t.pretrain_envs) > 1 and (t.pretrain_group or t.name) not in pools_shown:
            pools_shown.add(t.pretrain_group or t.name)
            lines.append(f"  pretraining pool: {', '.join(t.pretrain_envs)}")
        lines.append(f"  rows: {', '.join(row_encoders(t))} x {', '.join(t.heads)}; seeds {t.seeds}; "
                     f"{t.eval_episodes} eval episodes per seed{cap}")
        if t.head_steps:
            lines.append("  training steps: " + ", ".join(f"{h} {t.head_steps.get(h, t.train_steps)}" for h in t.heads))
    return "\n".join(lines)


def bench(cfg: BenchConfig) -> Path:
    if cfg.jobs < 1:
        raise RobolearnError(f"--jobs must be >= 1, got {cfg.jobs}")
    tasks = suite_tasks(cfg)
    if cfg.dry_run:
        print(describe(tasks))
        return Path(".")
    root = cfg.folder()
    if root.exists() and cfg.overwrite:
        shutil.rmtree(root)
    opts = RunOptions(root=root, jobs=cfg.jobs, threads=cfg.threads or 1, eval_workers=cfg.eval_workers,
                      wandb=cfg.wandb, project=cfg.project, report_only=cfg.report_only, videos=cfg.videos,
                      max_fault_rate=cfg.max_fault_rate)
    return run_tasks(tasks, opts, f"robolearn bench --suite {cfg.suite}")
