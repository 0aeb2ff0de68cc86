"""The tables of README.md, from runs.json (each run's results.json and training curve)."""
import json
from pathlib import Path

import numpy as np

runs = json.loads((Path(__file__).parent / "runs.json").read_text())
FEATS = ["agent_x", "agent_y", "goal_x", "goal_y"]
ROWS = [("clean", "none", "clean_none"), ("clean", "DynaMo (latent 16, the default)", "clean_dynamo"),
        ("clean", "DynaMo, latent 4", "clean_z4"), ("clean", "DynaMo, latent 2", "clean_z2"),
        ("clean", "no inverse", "clean_noinv"), ("DART 1.0", "DynaMo", "noisy_dynamo"),
        ("DART 1.0", "no inverse", "noisy_noinv")]
print("| demos | encoder | probe R², mean (per seed) | agent x | agent y | goal x | goal y | effective rank | mean cosine |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for data, name, prefix in ROWS:
    res = [runs[f"{prefix}_s{s}"]["results"] for s in range(3)]
    per = [r["val/probe_r2/mean"] for r in res]
    feats = [np.mean([r[f"val/probe_r2/{f}"] for r in res]) for f in FEATS]
    print(f"| {data} | {name} | {np.mean(per):.2f} ({', '.join(f'{p:.2f}' for p in per)}) | "
          + " | ".join(f"{v:.2f}" for v in feats) + f" | {np.mean([r['val/effective_rank'] for r in res]):.1f} | {np.mean([r['val/mean_cosine'] for r in res]):.3f} |")
print()
print("| seed 0, 1,600 steps | probe R² | effective rank | mean cosine | off-diagonal covariance (last 100 steps) "
      "| dynamics loss (last 100 steps) |")
print("| --- | --- | --- | --- | --- | --- |")
for name, key in [("DynaMo", "clean_dynamo_1600_s0"), ("no covariance", "clean_nocov_1600_s0")]:
    r, curve = runs[key]["results"], runs[key]["train_curve"][-4:]
    print(f"| {name} | {r['val/probe_r2/mean']:.2f} | {r['val/effective_rank']:.1f} | {r['val/mean_cosine']:.3f} | "
          f"{np.mean([c['train/covariance'] for c in curve]):.4f} | {np.mean([c['train/dynamics'] for c in curve]):.4f} |")
