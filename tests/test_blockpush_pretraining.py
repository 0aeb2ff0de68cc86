"""DynaMo and SIRL on real BlockPush demonstrations (two cameras): they learn, and their frozen
embeddings carry more of the task state than the random initialization does."""
from __future__ import annotations

import json

import numpy as np
import pytest

from robolearn.config import OptimConfig, PretrainConfig
from robolearn.tracking import read_metrics


def run(data, out, objective, steps, batch, lr=None, **sub):
    cfg = PretrainConfig(data=data, out=out, objective=objective, wandb="disabled",
                         optim=OptimConfig(steps=steps, batch_size=batch, warmup_steps=10, log_every=10,
                                           checkpoint_every=steps, eval_every=steps, lr=lr))
    for k, v in sub.items():
        setattr(getattr(cfg, objective), k, v)
    from robolearn.pretrain import pretrain

    out = pretrain(cfg)
    return json.loads((out / "results.json").read_text()), read_metrics(out)


@pytest.fixture(scope="module")
def baseline(blockpush_demos, tmp_path_factory):
    res, _ = run(blockpush_demos, tmp_path_factory.mktemp("bp") / "none", "none", 1, 1)
    return res


@pytest.mark.slow
def test_dynamo_learns_on_blockpush_and_beats_random_init(blockpush_demos, baseline, tmp_path):
    # lr 3e-4 instead of the paper's 1e-4: 120 steps instead of 40 epochs.
    res, rows = run(blockpush_demos, tmp_path / "dynamo", "dynamo", 120, 16, lr=3e-4, layers=2, heads=4, embed=64)
    print("dynamo", {k: round(v, 3) for k, v in res.items() if isinstance(v, float)})
    print("none", {k: round(v, 3) for k, v in baseline.items() if isinstance(v, float)})
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert losses[-1] < 0.7 * losses[0], losses
    # Measured on collect's default (DART) demos: probe R² 0.052 against the random init's 0.015 (a thin
    # margin, deterministic on one machine; benchmarks/probe_objectives.py measures it over seeds).
    assert res["val/probe_r2/mean"] > baseline["val/probe_r2/mean"], (res, baseline)
    # No collapse (DynaMo's failure mode without stop-gradient): below the collapse warning's cosine and
    # with many effective dimensions (measured: cosine 0.95, rank 17.7; the random init 0.43, 35).
    assert res["val/mean_cosine"] < 0.99 and res["val/effective_rank"] > 4


@pytest.mark.slow
def test_sirl_beats_random_init_on_the_features_it_was_asked_about(blockpush_demos, baseline, tmp_path):
    res, rows = run(blockpush_demos, tmp_path / "sirl", "sirl", 120, 8, queries=500, segment=10)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    # A triplet loss over 8 queries a step is noisy (one run: 0.67, 1.80, 0.75 ... 0.32, 0.56, 0.73):
    # compare the first and last three logged values, not single points.
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    assert res["uses_privileged_labels"] and res["query_budget"] == 500
    # Measured on collect's default (DART) demos: 0.084 against the random init's 0.015.
    assert res["val/probe_r2/mean"] > baseline["val/probe_r2/mean"], (res, baseline)
    assert (tmp_path / "sirl" / "queries.json").exists()
