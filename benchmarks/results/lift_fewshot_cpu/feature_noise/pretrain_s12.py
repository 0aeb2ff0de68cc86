"""Pretrain the lift-fewshot suite's encoders for seeds 1 and 2 ahead of the bench, with the pipeline's own
configs (robolearn.pipeline.pretrain_config), into the bench folder: the bench then finds them and skips."""
import robolearn.rendering  # noqa
import sys, time
from pathlib import Path
import torch
import robolearn.pipeline as P
from robolearn.bench import BenchConfig, suite_tasks
from robolearn.pretrain import pretrain

torch.set_num_threads(1)
root = Path("/work/lift_noise")
cfg = BenchConfig(suite="lift-fewshot", jobs=1, eval_workers=1, videos=0, out=root, wandb="disabled")
t = suite_tasks(cfg)[0]
pname = P.pretrain_name(t)
pre_data = root / pname / "pretrain_demos.hdf5"
for label, objective, overrides in P.encoder_variants(t):
    overrides = {**t.objective_options.get(objective, {}), **overrides}
    for seed in P.encoder_seeds(t):
        enc = root / pname / "enc" / f"{label}-s{seed}"
        if (enc / "encoder.json").exists() or label not in sys.argv[1:]:
            continue
        pc = P.pretrain_config(t, objective, overrides, seed, pre_data, enc, dict(wandb="disabled"))
        t0 = time.time()
        print("pretrain", label, seed, flush=True)
        pretrain(pc)
        print("done", label, seed, round(time.time() - t0), "s", flush=True)
