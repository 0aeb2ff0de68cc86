"""The few-shot bench: a pretraining pool of several envs merged into one store, encoders pretrained
once per pool and shared by held-out tasks, and the MetaWorld suites (real MuJoCo, real experts)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
import json
import os

import h5py
import numpy as np
import pytest

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)
from robolearn.config import BenchConfig
from robolearn.data.store import merge_stores, open_store, write_store
from robolearn.errors import DataError, RobolearnError
from robolearn.pipeline import RunOptions, TaskSpec, run_tasks

# Without the `sim` extra these fail (see tests/test_sim_tasks.py) unless ROBOLEARN_NO_SIM=1.
needs_metaworld = pytest.mark.skipif(importlib.util.find_spec("metaworld") is None
                                     and os.environ.get("ROBOLEARN_NO_SIM") == "1",
                                     reason="ROBOLEARN_NO_SIM=1: no `sim` extra (metaworld)")
POOL = ["metaworld/reach-v3", "metaworld/button-press-topdown-v3"]


def _tiny(name: str, env: str, **kw) -> TaskSpec:
    # The frozen random encoder and kNN: no gradient steps, so the test pays for collection only.
    return TaskSpec(**{**dict(name=name, env=env, demos=2, image_size=32, encoders=["none"], heads=["knn"], seeds=[0],
                              pretrain_demos=2, eval_episodes=1, horizon=3, collect_workers=1), **kw})


def _opts(root) -> RunOptions:
    return RunOptions(root=root, jobs=1, eval_workers=1, wandb="disabled", videos=0)


@pytest.mark.slow  # collects 8 MetaWorld episodes with images (~20 s)
@needs_metaworld
def test_pool_is_merged_once_and_its_encoders_shared_by_held_out_tasks(tmp_path):
    tasks = [_tiny(t, f"metaworld/{t}-v3", pretrain_envs=POOL, pretrain_group="pool", cameras=["corner2"])
             for t in ("door-close", "drawer-open")]
    run_tasks(tasks, _opts(tmp_path), "few-shot test")

    timings = json.loads((tmp_path / "timings.json").read_text())
    # Each pool env collected once, merged once, one encoder: not once per held-out task.
    assert sorted(k for k in timings if "pretrain" in k) == sorted(
        [f"pool/collect_pretrain/{e}" for e in POOL] + ["pool/merge_pretrain", "pool/pretrain/none-s0"])
    assert not any((tmp_path / t.name / "enc").exists() for t in tasks)

    parts = [tmp_path / "pool" / "pretrain" / (e.replace("/", "_") + ".hdf5") for e in POOL]
    with open_store(tmp_path / "pool" / "pretrain_demos.hdf5") as pool:
        names = pool.demo_names(None)
        assert len(names) == 4 and pool.env_id is None
        assert json.loads(pool.h5["data"].attrs["source_envs"]) == POOL
        envs = [pool.h5["data"][d].attrs["env"] for d in names]
        assert envs == [POOL[0], POOL[1], POOL[0], POOL[1]]  # round-robin: any prefix covers the pool
        assert pool.cameras == ["corner2"] and pool.image_size == 32
        for i, part_path in enumerate(parts):
            with open_store(part_path) as part:
                assert part.env_id == POOL[i]
                for j, d in enumerate(part.demo_names(None)):
                    merged = names[2 * j + i]
                    # Frames, actions and the train/valid assignment come through unchanged.
                    assert np.array_equal(pool.images(merged), part.images(d))
                    assert np.array_equal(pool.actions(merged), part.actions(d))
                    assert (merged in pool.demo_names("valid")) == (d in part.demo_names("valid"))
                    assert pool.h5["data"][merged]["obs"]["corner2_image"].compression == "gzip"

    for t in tasks:
        policy = json.loads((tmp_path / t.name / "pol" / "none-knn-s0" / "policy.json").read_text())
        assert str(tmp_path / "pool" / "enc" / "none-s0") in json.dumps(policy)
        res = json.loads((tmp_path / t.name / "eval" / "none-knn-s0" / "results.json").read_text())
        assert res["episodes"] == 1 and res["mean_length"] <= 3  # the horizon cap reaches evaluation
    report = (tmp_path / "report.md").read_text()
    assert "2 demos of each of 2 envs" in report and "group `pool`" in report and "at most 3 steps" in report


@pytest.mark.slow  # a whole (tiny) run: collect, pretrain, train, eval
def test_single_pretraining_env_keeps_its_layout(tmp_path):
    """One env: collected straight into `<task>/pretrain_demos.hdf5`, no pool folder, no merge."""
    task = _tiny("pm", "robolearn/PointMass-v0", pretrain_envs=["robolearn/PointMass-v0"])
    run_tasks([task], _opts(tmp_path), "single")
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert "pm/collect_pretrain" in timings and not any("merge" in k for k in timings)
    with open_store(tmp_path / "pm" / "pretrain_demos.hdf5") as s:
        assert s.env_id == "robolearn/PointMass-v0" and len(s.demo_names(None)) == 2
    assert (tmp_path / "pm" / "enc" / "none-s0" / "encoder.json").exists()
    assert not (tmp_path / "pm" / "pretrain").exists()


def test_group_settings_must_agree(tmp_path):
    a = _tiny("a", "robolearn/PointMass-v0", pretrain_envs=["robolearn/Reach-v0"], pretrain_group="g")
    b = _tiny("b", "robolearn/PointMass-v0", pretrain_envs=["robolearn/Reach-v0"], pretrain_group="g",
              pretrain_demos=3)
    with pytest.raises(RobolearnError, match="tasks a and b share pretraining group 'g' but ask for"):
        run_tasks([a, b], _opts(tmp_path), "x")
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").rglob("*.hdf5"))  # nothing ran
    with pytest.raises(RobolearnError, match="pretrain_group 'g' needs pretrain_envs"):
        run_tasks([_tiny("c", "robolearn/PointMass-v0", pretrain_group="g")], _opts(tmp_path), "x")
    with pytest.raises(RobolearnError, match="pretrain_group 'a' is also a task's name"):
        run_tasks([a, _tiny("d", "robolearn/PointMass-v0", pretrain_envs=["robolearn/Reach-v0"],
                            pretrain_group="a")], _opts(tmp_path), "x")


def _store(path, action_dim: int, env: str):
    rng = np.random.default_rng(0)
    demo = {"actions": rng.uniform(-1, 1, (5, action_dim)), "obs": {
        "cam_image": rng.integers(0, 255, (5, 8, 8, 3), dtype=np.uint8), "proprio": np.zeros((5, 2))}}
    return write_store(path, [demo, demo], {"env_name": env, "type": 2, "env_kwargs": {}})


def test_merge_refuses_stores_that_do_not_fit_together(tmp_path):
    a, b = _store(tmp_path / "a.hdf5", 2, "x"), _store(tmp_path / "b.hdf5", 3, "y")
    with pytest.raises(DataError, match="action size 3 differ"):
        merge_stores([a, b], tmp_path / "m.hdf5")
    assert not (tmp_path / "m.hdf5").exists()
    with pytest.raises(DataError, match="two or more stores"):
        merge_stores([a], tmp_path / "m.hdf5")
    with h5py.File(merge_stores([a, _store(tmp_path / "c.hdf5", 2, "z")], tmp_path / "m.hdf5"), "r") as f:
        assert f["data"].attrs["total"] == 20 and len(f["data"]) == 4


def test_metaworld_suites_describe_their_split(capsys):
    from robolearn.bench import bench
    from robolearn.envs.metaworld_tasks import ML10_TRAIN, fewshot_split

    bench(BenchConfig(suite="metaworld-cpu", dry_run=True))
    out = capsys.readouterr().out
    assert out.count("pretraining pool:") == 1  # one pool, shared by the held-out tasks
    assert all(f"metaworld/{t}" in out for t in ML10_TRAIN) and "group pool-small" in out
    assert "rows: state, scratch, none, idm, dynamo x mlp; seeds [0, 1, 2]" in out
    bench(BenchConfig(suite="metaworld", dry_run=True))
    out = capsys.readouterr().out
    pool, test = fewshot_split("ml45")
    assert f"each of {len(pool)} envs" in out and all(e in out for e in test)
    assert all(line.split(":")[1].strip().split(",")[0] not in pool
               for line in out.splitlines() if not line.startswith(" "))  # held-out tasks are not in the pool


def test_blockpush_state_suite_trains_each_head_on_its_budget():
    from robolearn.bench import BLOCKPUSH_STATE_STEPS, _blockpush_state
    from robolearn.pipeline import _train_config

    t = _blockpush_state()[0]
    cfgs = {h: _train_config(t, "state", h, 0, Path("d.hdf5"), Path("p"), Path("o"), {}) for h in t.heads}
    assert {h: c.optim.steps for h, c in cfgs.items()} == BLOCKPUSH_STATE_STEPS
    assert cfgs["vqbet"].head_config().gpt_layers == 4 and cfgs["mlp"].head_config().hidden == 256
    assert cfgs["vqbet"].obs_horizon is None  # the task's preset decides: VQ-BeT 3 / 1 / 1
    # Diffusion: x0 prediction on 4-step chunks at lr 1e-3, re-planning every step (diffusion_failures/).
    d = cfgs["diffusion"]
    assert d.head_config().prediction_type == "sample" and (d.obs_horizon, d.pred_horizon, d.action_horizon) == (2, 4, 1)
    assert d.head_config().cond_mlp == (256, 256) and cfgs["mlp"].diffusion.cond_mlp == ()  # the paper's elsewhere
    assert d.optim.lr == 1e-3 and cfgs["vqbet"].optim.lr == 3e-4 and cfgs["mlp"].optim.lr is None  # the heads' own elsewhere
    assert cfgs["mlp"].diffusion.prediction_type == "epsilon"  # the head's default elsewhere
    # bf16 autocast where this CPU runs the step faster in it (benchmarks/train_step.py), float32 for VQ-BeT
    assert {h: c.optim.amp for h, c in cfgs.items()} == {"diffusion": "bf16", "mlp": "bf16", "vqbet": "auto"}


def test_blockpush_images_suite_puts_the_state_suites_vqbet_on_frozen_dynamo_with_the_official_block_push_recipe():
    from robolearn.bench import BLOCKPUSH_IMAGES_E2E_STEPS, BLOCKPUSH_STATE_STEPS, _blockpush_images
    from robolearn.pipeline import _train_config, pretrain_config

    t = _blockpush_images()[0]
    assert t.image_size == 32 and t.demos == 1000 and t.encoders == ["state", "scratch", "none", "dynamo"]
    for enc in t.encoders:
        c = _train_config(t, enc, "vqbet", 0, Path("d.hdf5"), Path("p"), Path("o"), {})
        steps = BLOCKPUSH_IMAGES_E2E_STEPS if enc == "scratch" else BLOCKPUSH_STATE_STEPS["vqbet"]
        assert c.optim.steps == steps and c.head_config().gpt_layers == 4
        if enc == "scratch":  # end to end, the encoder trained with the head is the frozen rows' (first stride 1)
            assert c.encoder == "scratch" and c.scratch_encoder.first_stride == 1 and c.optim.batch_size == 64
    dyn = pretrain_config(t, "dynamo", t.objective_options["dynamo"], 0, Path("d.hdf5"), Path("o"), {}).dynamo
    assert (dyn.target, dyn.layers, dyn.heads, dyn.embed, dyn.dropout) == ("ema", 4, 4, 72, 0.3)


def test_lift_fewshot_suite_trains_every_frozen_head_with_feature_noise_and_no_other_row():
    """The suite's feature noise reaches the heads on frozen encoders (random init and every objective alike),
    not the state ceiling, end-to-end training or a fine-tuned encoder."""
    from robolearn.bench import LIFT_FEWSHOT_FEATURE_NOISE, _lift_fewshot
    from robolearn.pipeline import _train_config

    t = _lift_fewshot()[0]
    noise = {enc: _train_config(t, enc, "mlp", 0, Path("d.hdf5"), Path("p"), Path("o"), {}).feature_noise
             for enc in [*t.encoders, "ft-idm"]}
    assert LIFT_FEWSHOT_FEATURE_NOISE > 0
    assert noise == {"state": 0.0, "scratch": 0.0, "none": LIFT_FEWSHOT_FEATURE_NOISE, "idm": LIFT_FEWSHOT_FEATURE_NOISE,
                     "dynamo": LIFT_FEWSHOT_FEATURE_NOISE, "ft-idm": 0.0}
