"""Training across processes (torchrun, gloo on CPU), checkpoints that survive faults, sharded evaluation.

The multi-process tests start real `torchrun` jobs of `robolearn pretrain` / `robolearn train` on a
tiny generated video (8 episodes of 12 frames, 24 px) and are marked `slow` (deselect with
`-m "not slow"`). Parity tolerance: the 2-process losses equal the 1-process ones to 1e-5 relative
(float32 all-reduce order; measured ~1e-7).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn import distributed as dist
from robolearn.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint, verify_checkpoint
from robolearn.config import EvalConfig
from robolearn.errors import RobolearnError
from robolearn.tracking import read_metrics

ROBOLEARN = [sys.executable, "-m", "robolearn.cli"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
PARITY_RTOL = 1e-5
ENV = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1", WANDB_MODE="offline")


def dot_images(pos: np.ndarray, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    px = (pos + 1) / 2 * (size - 5) + 2
    m = np.exp(-((xx[None] - px[:, 0, None, None]) ** 2 + (yy[None] - px[:, 1, None, None]) ** 2) / 3.0)
    img = np.zeros((len(pos), size, size, 3), np.uint8)
    img[..., 0] = (230 * m).astype(np.uint8)
    img[..., 2] = 40
    return img


@pytest.fixture(scope="module")
def dots(tmp_path_factory) -> Path:
    """A moving dot whose displacement is the action: 8 episodes x 12 steps, 24 px."""
    from robolearn.data.store import make_env_args, write_store

    rng = np.random.default_rng(0)
    demos = []
    for _ in range(8):
        act = rng.normal(0, 0.1, (12, 2))
        pos = np.clip(rng.uniform(-0.8, 0.8, 2) + np.cumsum(act, 0), -1, 1)
        demos.append({"actions": np.clip(act * 5, -1, 1).astype(np.float32),
                      "obs": {"cam_image": dot_images(pos, 24), "proprio": pos.astype(np.float32)},
                      "task_features": pos.astype(np.float32)})
    return write_store(tmp_path_factory.mktemp("dots") / "dots.hdf5", demos,
                       make_env_args("robolearn/PointMass-v0"), valid_fraction=0.25, feature_names=["x", "y"])


def pretrain_args(data, out, steps=20, batch=8, checkpoint_every=10, log_every=1):
    # No dropout and no augmentation: the remaining randomness is the batch order, which the sharded
    # sampler makes identical at every world size.
    return ["pretrain", "--data", str(data), "--out", str(out), "--objective", "idm", "--encoder.name", "conv",
            "--encoder.embed-dim", "16", "--idm.hidden", "32", "32", "--idm.dropout", "0", "--idm.shift-pad", "0",
            "--optim.steps", str(steps), "--optim.batch-size", str(batch), "--optim.warmup-steps", "2",
            "--optim.log-every", str(log_every), "--optim.checkpoint-every", str(checkpoint_every),
            "--optim.eval-every", str(steps), "--wandb", "disabled"]


def losses(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["train/loss"] for r in read_metrics(run_dir) if "train/loss" in r}


def run(cmd, timeout=240):
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


# ----------------------------------------------------------------------------- the sharded sampler
def test_global_batches_do_not_depend_on_the_world_size():
    one = dist.ShardedBatchSampler(50, 8, seed=3, rank_=0, world=1)
    two = [dist.ShardedBatchSampler(50, 4, seed=3, rank_=r, world=2) for r in range(2)]
    four = [dist.ShardedBatchSampler(50, 2, seed=3, rank_=r, world=4) for r in range(4)]
    for epoch in range(3):
        ref = list(one)
        assert len(ref) == 50 // 8 and all(len(b) == 8 for b in ref)
        for group in (two, four):
            per_rank = [list(s) for s in group]
            merged = [sum((per_rank[r][k] for r in range(len(group))), []) for k in range(len(ref))]
            assert merged == ref
            # Each rank its own shard: no window twice within an epoch.
            flat = sum(merged, [])
            assert len(flat) == len(set(flat))
        if epoch:
            assert ref != previous  # reshuffled every epoch
        previous = ref


def test_sampler_is_deterministic_by_seed_and_resumes_mid_epoch():
    a, b = dist.ShardedBatchSampler(40, 4, seed=0), dist.ShardedBatchSampler(40, 4, seed=0)
    c = dist.ShardedBatchSampler(40, 4, seed=1)
    assert list(a) == list(b) and list(a) != list(c)
    run_through = dist.ShardedBatchSampler(40, 4, seed=0)
    full = [batch for _ in range(3) for batch in run_through]  # each pass is the next epoch
    resumed = dist.ShardedBatchSampler(40, 4, seed=0)
    resumed.set_position(13)  # epoch 1, batch 3
    got = list(resumed) + list(resumed)
    assert got == full[13:30]


def test_small_datasets_still_give_every_rank_a_batch():
    for n, world in ((5, 2), (3, 4), (1, 2)):
        shards = [list(dist.ShardedBatchSampler(n, 8, seed=0, rank_=r, world=world)) for r in range(world)]
        assert all(len(s) == 1 and len(s[0]) >= 1 for s in shards)
        assert set(sum((s[0] for s in shards), [])) == set(range(n))


def test_gpu_window_sampler_ranks_share_global_batches():
    from robolearn.pretraining.sampler import GpuWindowSampler

    frames = torch.randint(0, 255, (60, 1, 8, 8, 3), dtype=torch.uint8)
    make = lambda r, w, b: GpuWindowSampler(frames, [20, 25, 15], 4, seed=5, batch_size=b,  # noqa: E731
                                            rank=r, world_size=w)
    one, two = make(0, 1, 6), [make(r, 2, 3) for r in range(2)]
    def windows(batch) -> list[tuple[int, int]]:  # (start, episode) of each window, in batch order
        return list(zip(batch["t"].tolist(), batch["episode"].tolist()))

    for _ in range(2):  # two epochs
        ref = [windows(b) for b in one]
        shards = [[windows(b) for b in s] for s in two]
        # Rank 0 takes the first half of each global batch, rank 1 the second: the same windows, paired.
        assert [shards[0][k] + shards[1][k] for k in range(len(ref))] == ref
    a, b = make(0, 1, 6).sample(6), [make(r, 2, 3).sample(3) for r in range(2)]
    assert torch.equal(a["images"], torch.cat([b[0]["images"], b[1]["images"]]))


# ----------------------------------------------------------------------------- checkpoints
class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)


def _ckpt(tmp_path, steps=(10, 20)):
    model = _Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in steps:
        model.lin.weight.data.fill_(step)
        opt.zero_grad()
        model.lin.weight.sum().backward()
        opt.step()
        save_checkpoint(tmp_path, model, [opt], step)
    return model, opt


@pytest.mark.slow
def test_checkpoints_keep_the_newest_two_and_load(tmp_path):
    model, opt0 = _ckpt(tmp_path, steps=(10, 20, 30))
    dirs = sorted(p.name for p in (tmp_path / "checkpoint").iterdir() if p.is_dir())
    assert dirs == ["step-00000020", "step-00000030"]
    assert json.loads((tmp_path / "checkpoint" / "trainer.json").read_text())["step"] == 30
    path, manifest = find_checkpoint(tmp_path, log=lambda m: None)
    fresh = _Tiny()
    opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    assert load_checkpoint(path, fresh, [opt], manifest) == 30
    assert torch.equal(fresh.lin.weight, model.lin.weight) and torch.equal(fresh.lin.bias, model.lin.bias)
    for key in ("exp_avg", "exp_avg_sq", "step"):  # Adam's moments and step came back
        assert torch.equal(opt.state_dict()["state"][0][key], opt0.state_dict()["state"][0][key])


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "missing"])
def test_damaged_checkpoint_is_refused_and_the_previous_one_used(tmp_path, damage):
    _ckpt(tmp_path)
    newest = tmp_path / "checkpoint" / "step-00000020"
    target = newest / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(target.read_bytes())
        data[-3] ^= 0xFF
        target.write_bytes(bytes(data))
    elif damage == "manifest":
        (newest / "manifest.json").write_text('{"step": 2')
    else:
        (newest / "optim.safetensors").unlink()
    with pytest.raises(RobolearnError):
        verify_checkpoint(newest)
    messages = []
    path, manifest = find_checkpoint(tmp_path, log=messages.append)
    assert path.name == "step-00000010" and manifest["step"] == 10
    assert len(messages) == 1 and "step-00000020 refused" in messages[0]
    assert {"truncate": "truncated", "flip": "corrupt", "manifest": "unreadable",
            "missing": "missing"}[damage] in messages[0]


def test_no_intact_checkpoint_is_a_clear_error(tmp_path):
    _ckpt(tmp_path, steps=(10,))
    target = tmp_path / "checkpoint" / "step-00000010" / "optim.safetensors"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(RobolearnError, match="no usable checkpoint.*--overwrite"):
        find_checkpoint(tmp_path, log=lambda m: None)


def test_interrupted_write_leaves_no_checkpoint_and_is_cleaned_up(tmp_path):
    _ckpt(tmp_path, steps=(10,))
    stale = tmp_path / "checkpoint" / ".tmp-step-00000020-999999"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    assert find_checkpoint(tmp_path, log=print)[1]["step"] == 10
    _ckpt(tmp_path, steps=(30,))
    assert not stale.exists()


@pytest.mark.slow
def test_resume_with_a_corrupt_newest_checkpoint_through_the_cli(dots, tmp_path, capsys):
    from robolearn.cli import main

    out = tmp_path / "run"
    assert main(pretrain_args(dots, out, steps=20, checkpoint_every=10)) == 0
    ref = losses(out)
    # Pretend the run died after step 20's checkpoint was damaged: a new run resumes from step 10.
    (out / "encoder.json").unlink()
    target = out / "checkpoint" / "step-00000020" / "model.safetensors"
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    (out / "metrics.jsonl").unlink()
    capsys.readouterr()
    assert main(pretrain_args(dots, out, steps=20, checkpoint_every=10)) == 0
    text = "".join(capsys.readouterr())
    assert "step-00000020 refused: model.safetensors is truncated" in text
    assert "resumed from step 10" in text
    again = losses(out)
    assert sorted(again) == list(range(11, 21))
    assert all(again[s] == pytest.approx(ref[s], rel=PARITY_RTOL) for s in again)


# ----------------------------------------------------------------------------- multi-process
@pytest.mark.slow
def test_two_processes_match_one_and_their_checkpoint_resumes_in_one(dots, tmp_path):
    one, two, resumed = tmp_path / "one", tmp_path / "two", tmp_path / "resumed"
    run(ROBOLEARN + pretrain_args(dots, one, batch=8))
    done = run(TORCHRUN + ["-m", "robolearn.cli"] + pretrain_args(dots, two, batch=4))
    assert done.stdout.count("encoder written to") == 1  # rank 0 alone reports and writes
    l1, l2 = losses(one), losses(two)
    assert sorted(l1) == sorted(l2) == list(range(1, 21))
    worst = max(abs(l1[s] - l2[s]) / abs(l1[s]) for s in l1)
    print(f"\nloss parity, 2 x batch 4 vs 1 x batch 8, 20 steps: max relative difference {worst:.2e}")
    assert worst < PARITY_RTOL
    first = read_metrics(two)[0]
    assert first["world_size"] == 2 and first["global_batch"] == 8
    assert (two / "encoder.json").exists() and not list(two.glob("**/*.tmp*"))

    # The 2-process checkpoint of step 10 continues in one process: the same steps 11-20.
    (resumed / "checkpoint").mkdir(parents=True)
    shutil.copytree(two / "checkpoint" / "step-00000010", resumed / "checkpoint" / "step-00000010")
    done = run(ROBOLEARN + pretrain_args(dots, resumed, batch=8))
    assert "resumed from step 10" in done.stdout + done.stderr
    assert "written by 2 process(es), now 1" in done.stdout + done.stderr
    l3 = losses(resumed)
    assert sorted(l3) == list(range(11, 21))
    assert max(abs(l1[s] - l3[s]) / abs(l1[s]) for s in l3) < PARITY_RTOL


@pytest.mark.slow
def test_killed_rank_restarts_from_the_last_checkpoint(dots, tmp_path):
    import psutil

    out = tmp_path / "elastic"
    cmd = TORCHRUN + ["--max-restarts", "1", "--monitor-interval", "0.2", "-m", "robolearn.cli"] + \
        pretrain_args(dots, out, steps=80, batch=4, checkpoint_every=20, log_every=5)
    log = open(tmp_path / "torchrun.log", "w")
    proc = subprocess.Popen(cmd, env=ENV, stdout=log, stderr=subprocess.STDOUT)
    try:
        # Kill rank 1 once the run is past its first checkpoint (step 20) by a few logged steps.
        deadline = time.time() + 180
        while time.time() < deadline and max(losses(out) or {0: 0}) < 30:
            time.sleep(0.05)
        killed_after = max(losses(out) or {0: 0})
        assert killed_after >= 30, "the run did not get past step 30"
        rank1 = [p for p in psutil.Process(proc.pid).children(recursive=True)
                 if p.environ().get("RANK") == "1" and p.environ().get("TORCHELASTIC_RESTART_COUNT") == "0"]
        assert len(rank1) == 1
        rank1[0].send_signal(signal.SIGKILL)
        assert proc.wait(timeout=240) == 0, (tmp_path / "torchrun.log").read_text()[-4000:]
    finally:
        if proc.poll() is None:  # a failed run: its ranks too, not only the launcher
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
        log.close()
    rows = read_metrics(out)
    resumed = [r["resumed_from"] for r in rows if "resumed_from" in r]
    assert len(resumed) == 1
    j = resumed[0]
    print(f"\nfault timeline: rank 1 killed after logged step {killed_after}; torchrun restarted both ranks; "
          f"resumed at checkpoint step {j}; finished at step {max(losses(out))}")
    assert j % 20 == 0 and 20 <= j <= killed_after + 5
    assert max(losses(out)) == 80 and (out / "encoder.json").exists()


LAST_STEP_THEN_LEAVE = """
import sys, time
from pathlib import Path
import torch
from robolearn import distributed as dist

dist.setup("cpu")
rank, written = dist.rank(), Path(sys.argv[1])
dist.mean_across_ranks({"loss": torch.tensor(1.0)})  # the last step's all-reduce
if rank == 0:
    time.sleep(0.5)
    written.write_text("policy")  # rank 0 writes after the last step
dist.shutdown(finished=True)
if rank == 1 and not written.exists():
    sys.exit("rank 1 left before rank 0 had finished")
"""


@pytest.mark.slow
def test_a_finished_rank_leaves_only_once_every_rank_has_finished(tmp_path):
    # Rank 1 used to exit ~2 ms after its last all-reduce while a gloo worker could still hold that
    # all-reduce's tensor; freeing it during interpreter shutdown aborted the rank (SIGABRT,
    # "terminate called without an active exception"; robolearn.distributed.shutdown).
    script = tmp_path / "last_step.py"
    script.write_text(LAST_STEP_THEN_LEAVE)
    run(TORCHRUN + [str(script), str(tmp_path / "written")], timeout=120)


@pytest.mark.slow
def test_heads_train_under_torchrun_with_a_sharded_embedding_cache(dots, tmp_path):
    enc = tmp_path / "enc"
    run(ROBOLEARN + pretrain_args(dots, enc, steps=4, checkpoint_every=4))
    # One-step chunks: no padded steps, so the loss is a plain per-sample mean (a masked mean is
    # normalized per rank, which DDP's gradient average matches only when the ranks' masks do).
    common = ["train", "--data", str(dots), "--encoder", str(enc), "--head", "mlp", "--mlp.dropout", "0",
              "--pred-horizon", "1", "--action-horizon", "1",
              "--optim.steps", "12", "--optim.warmup-steps", "2", "--optim.log-every", "1",
              "--optim.checkpoint-every", "12", "--optim.eval-every", "12", "--wandb", "disabled"]
    run(TORCHRUN + ["-m", "robolearn.cli"] + common + ["--out", str(tmp_path / "pol2"), "--optim.batch-size", "8"])
    cache = list((enc / "embeddings").glob("emb-*.safetensors"))
    assert len(cache) == 1 and not list((enc / "embeddings").glob(".*"))  # shards merged and removed
    run(ROBOLEARN + common + ["--out", str(tmp_path / "pol1"), "--optim.batch-size", "16"])
    l1, l2 = losses(tmp_path / "pol1"), losses(tmp_path / "pol2")
    assert sorted(l1) == sorted(l2) == list(range(1, 13))
    assert max(abs(l1[s] - l2[s]) / abs(l1[s]) for s in l1) < PARITY_RTOL
    assert (tmp_path / "pol2" / "policy.json").exists()


# ----------------------------------------------------------------------------- sharded evaluation
def _eval_cfg(tmp_path, name, **kw):
    return EvalConfig(policy="expert", env="robolearn/PointMass-v0", episodes=7, workers=1, videos=0,
                      image_size=32, wandb="disabled", out=tmp_path / name, **kw)


DETERMINISTIC = ("policy", "policy_hash", "env", "env_kwargs", "episodes", "seed", "successes", "success_rate",
                 "success_ci95", "mean_length", "mean_final_success", "sim_faults", "env_steps", "per_episode")


def test_eval_shards_merge_to_the_unsharded_result(tmp_path):
    from robolearn.cli import main
    from robolearn.evaluate import evaluate, merge_results

    full = evaluate(_eval_cfg(tmp_path, "full"))
    parts = [evaluate(_eval_cfg(tmp_path, f"s{k}", shard=f"{k}/3")) for k in range(3)]
    assert [p["shard"]["first_episode"] for p in parts] == [0, 2, 4]
    assert [r["seed"] for p in parts for r in p["per_episode"]] == [100_000 + i for i in range(7)]
    merged = merge_results([tmp_path / "s2", tmp_path / "s0", tmp_path / "s1"], tmp_path / "merged")
    assert {k: merged[k] for k in DETERMINISTIC} == {k: full[k] for k in DETERMINISTIC}
    assert json.loads((tmp_path / "merged" / "results.json").read_text())["per_episode"] == full["per_episode"]

    # The CLI: one line and exit 2 for an incomplete or inconsistent set of shards.
    assert main(["eval-merge", str(tmp_path / "s0"), str(tmp_path / "s2"), "--out", str(tmp_path / "m2")]) == 2
    with pytest.raises(RobolearnError, match=r"missing shard\(s\) 1/3"):
        merge_results([tmp_path / "s0", tmp_path / "s2"], tmp_path / "m2")
    with pytest.raises(RobolearnError, match="given twice"):
        merge_results([tmp_path / "s0", tmp_path / "s0", tmp_path / "s1"], tmp_path / "m2")
    with pytest.raises(RobolearnError, match="not a shard"):
        merge_results([tmp_path / "full"], tmp_path / "m2")
    other = evaluate(_eval_cfg(tmp_path, "other", shard="1/3", seed=5))
    assert other["per_episode"][0]["seed"] == 7
    with pytest.raises(RobolearnError, match="seed"):
        merge_results([tmp_path / "s0", tmp_path / "other", tmp_path / "s2"], tmp_path / "m2")
    with pytest.raises(RobolearnError, match="exists"):
        merge_results([tmp_path / "s0", tmp_path / "s1", tmp_path / "s2"], tmp_path / "merged")


@pytest.mark.parametrize("spec", ["3", "1/0", "3/3", "-1/2", "a/b", "1/9"])
def test_bad_shard_specs_are_refused(tmp_path, spec):
    from robolearn.evaluate import evaluate

    with pytest.raises(RobolearnError, match="--shard"):
        evaluate(_eval_cfg(tmp_path, "bad", shard=spec))


# ----------------------------------------------------------------------------- the GPU benchmark script
BLOCKER = '''
import sys
class _Missing:  # the GPU machine has torch, numpy, einops, h5py, pyyaml, ... but not these
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"mujoco", "gymnasium", "tyro", "wandb", "diffusers"}:
            raise ImportError("not installed on the GPU machine: " + name)
sys.meta_path.insert(0, _Missing())
'''


@pytest.mark.slow
def test_gpu_benchmark_runs_without_the_packages_the_gpu_machine_lacks(tmp_path):
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = dict(ENV, PYTHONPATH=str(tmp_path))
    blocked = subprocess.run([sys.executable, "-c", "import wandb"], env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "not installed on the GPU machine" in blocked.stderr
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_dynamo_throughput.py"
    done = subprocess.run([sys.executable, str(script), "--device", "cpu", "--encoder", "conv", "--image-size", "32",
                           "--batch", "2", "--steps", "2", "--warmup", "1", "--layers", "1", "--heads", "2",
                           "--embed", "16", "--amp", "off", "--no-compile", "--ddp-cpu", "2"],
                          env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout[done.stdout.index("\nrow "):]
    assert "\neager " in table and "DDP eager, 2 x gloo" in table


@pytest.mark.slow
def test_sampling_policy_shards_merge_exactly(tmp_path):
    """A diffusion head draws noise: per-episode generators make each episode's rollout (its action
    digest, bit for bit) the same whichever episodes ran before it on its worker or in its shard.
    Same worker count: the policy's batch has one size, and float results do not depend on the
    other rows. Across worker counts outcomes agree, the last bits of actions need not."""
    from robolearn.config import CollectConfig, OptimConfig, TrainConfig
    from robolearn.data.collect import collect
    from robolearn.evaluate import evaluate, merge_results
    from robolearn.train import train

    demos = collect(CollectConfig(env="robolearn/PointMass-v0", episodes=4, out=tmp_path / "pm.hdf5", image_size=16))
    pol = train(TrainConfig(data=demos, encoder="state", head="diffusion", out=tmp_path / "pol", wandb="disabled",
                            optim=OptimConfig(steps=5, batch_size=16, warmup_steps=1, checkpoint_every=0)))
    cfg = lambda name, **kw: EvalConfig(policy=str(pol), episodes=6, horizon=12, videos=0, workers=2,  # noqa: E731
                                        wandb="disabled", out=tmp_path / name, **kw)
    full = evaluate(cfg("full"))
    assert len({r["actions_digest"] for r in full["per_episode"]}) == 6  # the digest tells episodes apart
    for k in range(2):  # 3 episodes a shard: one loop runs two of them, the other one
        evaluate(cfg(f"s{k}", shard=f"{k}/2"))
    merged = merge_results([tmp_path / f"s{k}" for k in range(2)], tmp_path / "merged")
    assert merged["per_episode"] == full["per_episode"] and merged["policy_hash"] == full["policy_hash"]


# ----------------------------------------------------------------------------- leaving a process
EXITER = '''
import atexit, pathlib, sys, torch, torch.distributed as tdist
from robolearn import distributed
out = pathlib.Path(sys.argv[1])
class Finalized:  # a module global's __del__ runs when the interpreter finalizes, not through atexit
    def __del__(self):
        print("finalized", flush=True)
marker = Finalized()
atexit.register(lambda: (out / "atexit").write_text("ran"))
if sys.argv[2] == "ddp":
    tdist.init_process_group("gloo", init_method=f"file://{out / 'store'}", rank=0, world_size=1)
    ddp = distributed.wrap_model(torch.nn.Linear(2, 1), torch.device("cpu"))
print("before exit", end="")  # unflushed
distributed.exit_process(3)
'''


@pytest.mark.parametrize("mode", ["ddp", "plain"])
def test_a_gloo_ddp_process_exits_with_its_code_without_finalizing(tmp_path, mode):
    """`exit_process` (what `python -m robolearn.cli` ends with): a process that wrapped a model in DDP over
    gloo runs its atexit callbacks, flushes its output and leaves with its code, without interpreter
    finalization (where a gloo thread freeing a tensor aborts it); any other process exits as sys.exit."""
    script = tmp_path / "exiter.py"
    script.write_text(EXITER)
    done = subprocess.run([sys.executable, str(script), str(tmp_path), mode], env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 3, done.stderr[-2000:]
    assert (tmp_path / "atexit").read_text() == "ran" and done.stdout.startswith("before exit")
    assert ("finalized" in done.stdout) == (mode == "plain")
