"""The evaluator, end to end: real MuJoCo physics, real rendering, spawned workers.

A faulty env for the fault test is registered by this module itself; the env id
`<this module>:robolearn_test/FaultyPointMass-v0` makes every spawned worker import this module
(gymnasium's `module:EnvId` convention), so the registration exists there too.
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import json
import logging
import math

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

import robolearn.envs as envs
import robolearn.evaluate as evaluate_mod
from robolearn.config import EvalConfig
from robolearn.errors import RobolearnError
from robolearn.tracking import read_metrics
from robolearn.evaluate import evaluate, format_results, wilson_interval

# Spawned workers import this module (see FAULTY_ID): torch is imported inside the tests that use it.

SEED = 100_000

# --------------------------------------------------------------------- a real env with injected faults
FAULTY_ID = "robolearn_test/FaultyPointMass-v0"
PHYSICS_FAULT_SEED = SEED + 1  # MuJoCo's own divergence check fires (velocity beyond mjMAXVAL)
EXCEPTION_SEED = SEED + 3  # the env's step raises inside the worker
FAULT_STEP = 5


class _InjectFault(gym.Wrapper):
    def reset(self, *, seed=None, options=None):
        self._seed, self._t = seed, 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self._t += 1
        if self._t == FAULT_STEP and self._seed == PHYSICS_FAULT_SEED:
            self.env.unwrapped.data.qvel[:] = 1e11
        if self._t == FAULT_STEP and self._seed == EXCEPTION_SEED:
            raise RuntimeError("injected failure inside step")
        return self.env.step(action)


def _make_faulty(**kwargs):
    return _InjectFault(envs.make_env("robolearn/PointMass-v0", **kwargs))


if FAULTY_ID not in gym.registry:
    gym.register(FAULTY_ID, entry_point=_make_faulty)
# The expert of the faulty env is PointMass's own.
envs.TASKS.setdefault(FAULTY_ID, envs.TASKS["robolearn/PointMass-v0"])


def _cfg(tmp_path, **kw) -> EvalConfig:
    base = dict(policy="expert", episodes=4, workers=2, videos=0, image_size=32, wandb="disabled",
                out=tmp_path / "eval")
    base.update(kw)
    return EvalConfig(**base)


def _outcomes(results: dict) -> list[tuple]:
    return [(r["seed"], r["success"], r["length"], r["mode"], r["final_info"]) for r in results["per_episode"]]


# --------------------------------------------------------------------- statistics
def test_wilson_interval_known_values():
    # Published Wilson 95% intervals (e.g. statsmodels proportion_confint(method="wilson")).
    for (k, n), (lo, hi) in {
        (0, 10): (0.0, 0.2775),
        (10, 10): (0.7225, 1.0),
        (5, 10): (0.2366, 0.7634),
        (1, 10): (0.0179, 0.4042),
    }.items():
        got = wilson_interval(k, n)
        assert got == pytest.approx((lo, hi), abs=1e-4), (k, n, got)
    # The formula itself, off the table.
    k, n, z = 37, 50, 1.96
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((c - h, c + h))
    assert wilson_interval(0, 0) == (0.0, 1.0)


# --------------------------------------------------------------------- the expert through the evaluator
@pytest.mark.slow
def test_expert_blockpush_results_video_and_reproducible(tmp_path):
    cfg = _cfg(tmp_path, env="robolearn/BlockPush-v0", episodes=8, workers=2, videos=1)
    r = evaluate(cfg)

    assert r["success_rate"] >= 0.95, r["per_episode"]
    for key in ("success_rate", "successes", "success_ci95", "mean_length", "mean_final_success",
                "sim_faults", "steps_per_second", "env_steps", "videos", "per_episode", "env", "episodes"):
        assert key in r, key
    assert r["episodes"] == 8 and len(r["per_episode"]) == 8
    assert [e["seed"] for e in r["per_episode"]] == [SEED + i for i in range(8)]
    assert r["success_ci95"] == pytest.approx(wilson_interval(r["successes"], 8))
    assert r["env_steps"] == sum(e["length"] for e in r["per_episode"])
    assert r["mean_final_success"] == pytest.approx(np.mean([e["final_info"]["success"] for e in r["per_episode"]]))
    assert {e["mode"] for e in r["per_episode"]} <= {0, 1, 2, 3}
    assert r["sim_faults"] == 0 and r["steps_per_second"] > 0

    assert f"success {r['successes']}/8 = {100 * r['successes'] / 8:.1f}%" in format_results(r)
    on_disk = json.loads((cfg.out / "results.json").read_text())
    assert on_disk["per_episode"] == r["per_episode"]
    logged = read_metrics(cfg.out)[-1]  # the Tracker's local log, written even with wandb disabled
    assert logged["eval/success_rate"] == r["success_rate"]
    assert logged["eval/success_ci95_low"] == pytest.approx(r["success_ci95"][0])

    # One video, of the first episode: every frame (reset + one per step), both cameras side by side,
    # upscaled to at least 256 px.
    assert len(r["videos"]) == 1 and r["videos"][0].endswith(f"episode_{SEED}.mp4")
    reader = imageio.get_reader(r["videos"][0])
    try:
        assert reader.count_frames() == r["per_episode"][0]["length"] + 1
        frame = reader.get_data(0)
        fps = reader.get_meta_data()["fps"]
    finally:
        reader.close()
    assert frame.shape == (256, 512, 3)
    assert fps == pytest.approx(10)  # control_hz

    # Same seed again, one worker this time, into the same folder: refused without --overwrite, and
    # identical per episode with it (each episode has its seed, whichever worker runs it).
    with pytest.raises(RobolearnError, match="exists"):
        evaluate(cfg)
    again = evaluate(_cfg(tmp_path, env="robolearn/BlockPush-v0", episodes=8, workers=1, overwrite=True))
    assert _outcomes(again) == _outcomes(r)
    assert again["videos"] == [] and not any((cfg.out / "videos").iterdir())
    assert [row["eval/episodes"] for row in read_metrics(cfg.out)] == [8]  # the replaced run's row is gone


@pytest.mark.slow
def test_expert_pointmass_same_seed_same_results(tmp_path):
    """Same seed, same episodes, whatever the layout: one env in this process, or 2 workers x 2 envs
    (5 episodes on 4 envs: one env takes a second episode, the others park when none is left)."""
    a = evaluate(_cfg(tmp_path, env="robolearn/PointMass-v0", episodes=5, workers=2, envs_per_worker=2,
                      out=tmp_path / "a"))
    b = evaluate(_cfg(tmp_path, env="robolearn/PointMass-v0", episodes=5, workers=1, envs_per_worker=1,
                      out=tmp_path / "b"))
    assert (a["workers"], a["envs_per_worker"], b["workers"], b["envs_per_worker"]) == (2, 2, 1, 1)
    assert a["success_rate"] >= 0.95
    assert a["per_episode"] == b["per_episode"]  # outcomes, final infos and the digest of every action
    # A different base seed gives different episodes.
    c = evaluate(_cfg(tmp_path, env="robolearn/PointMass-v0", episodes=5, workers=1, seed=7, out=tmp_path / "c"))
    assert [e["seed"] for e in c["per_episode"]] == list(range(7, 12))
    assert _outcomes(c) != _outcomes(a)



def test_env_batch_steps_and_autoresets_as_gymnasiums_sync_vector_env():
    """The evaluator's lean in-process batch (EnvBatch) against gymnasium's SyncVectorEnv in NEXT_STEP
    autoreset mode, on real PointMass physics and renders: same observations, rewards, ends and
    infos at every step, across episode ends and the seeds handed to the autoresets."""
    import functools

    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    from robolearn.evaluation.batch import EnvBatch
    from robolearn.evaluation.workers import make_eval_env

    fn = functools.partial(make_eval_env, "robolearn/PointMass-v0", {"image_size": 16, "horizon": 6}, True)
    ours, ref = EnvBatch([fn] * 2), SyncVectorEnv([fn] * 2, autoreset_mode=AutoresetMode.NEXT_STEP)
    try:
        (o1, i1), (o2, i2) = ours.reset([3, 4]), ref.reset(seed=[3, 4])
        ends = 0
        for t in range(20):
            for k in o2:
                np.testing.assert_array_equal(o1[k], o2[k], err_msg=f"step {t}, {k}")
            for j in range(2):  # gymnasium batches the infos; ours keeps one dict per env
                assert i1[j]["is_success"] == i2["is_success"][j] and i1[j]["success"] == i2["success"][j]
                np.testing.assert_array_equal(i1[j]["expert_action"], i2["expert_action"][j])
            actions = np.stack([i["expert_action"] for i in i1])
            seeds = [100 + 2 * t, 101 + 2 * t]  # the seed each env's next autoreset takes
            ours.set_next_seeds(seeds)
            ref.set_attr("next_seed", seeds)
            o1, r1, te1, tr1, i1 = ours.step(actions)
            o2, r2, te2, tr2, i2 = ref.step(actions)
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(te1 | tr1, te2 | tr2)
            np.testing.assert_array_equal(tr1, tr2)
            ends += int((te1 | tr1).sum())
        assert ends >= 4  # several episodes ended (6-step horizon), so autoresets were compared too
    finally:
        ours.close()
        ref.close()

# --------------------------------------------------------------------- faults
@pytest.mark.slow
def test_sim_fault_is_a_failure_the_run_goes_on_and_past_the_threshold_it_fails_in_one_line(tmp_path, caplog, capsys):
    """2 faults in 6 episodes (33%) pass the default --max-fault-rate 5%: every episode still runs and
    results.json is written with the faults counted, then `robolearn eval` exits 2 with one line that
    names the saved traceback."""
    from robolearn.cli import main

    out = tmp_path / "eval"
    with caplog.at_level(logging.WARNING, logger="robolearn.evaluation"):
        code = main(["eval", "--policy", "expert", "--env", f"{__name__}:{FAULTY_ID}", "--episodes", "6",
                     "--workers", "2", "--videos", "0", "--image-size", "32", "--wandb", "disabled", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "2 of 6 episodes ended in a simulator fault" in err and str(out / "fault_traceback.txt") in err
    r = json.loads((out / "results.json").read_text())
    by_seed = {e["seed"]: e for e in r["per_episode"]}
    assert len(by_seed) == 6 and r["sim_faults"] == 2
    for seed, reason in ((PHYSICS_FAULT_SEED, "velocity"), (EXCEPTION_SEED, "injected failure")):
        e = by_seed[seed]
        assert e["sim_fault"] and not e["success"] and e["length"] == FAULT_STEP
        assert reason in e["final_info"]["fault"]
    others = [e for s, e in by_seed.items() if s not in (PHYSICS_FAULT_SEED, EXCEPTION_SEED)]
    assert all(e["success"] and not e["sim_fault"] for e in others)
    assert r["successes"] == 4
    warned = [m for m in caplog.messages if "simulator fault" in m]
    assert len(warned) == 2
    # The fault is visible: the first one that raised, with its traceback saved beside results.json.
    first = r["first_fault"]
    assert (first["seed"], first["episode"]) == (EXCEPTION_SEED, EXCEPTION_SEED - SEED)
    saved = (out / "fault_traceback.txt").read_text()
    assert first["traceback_file"] == str(out / "fault_traceback.txt")
    assert "Traceback (most recent call last)" in saved and "RuntimeError: injected failure inside step" in saved
    assert "in step" in saved and __file__ in saved  # the frame that raised, in this file
    assert "fault_traceback" not in str(r["per_episode"])  # in the file, not repeated per episode
    assert "traceback: " + first["traceback_file"] in format_results(r)


# --------------------------------------------------------------------- the policy path
class _RecordingPolicy:
    """Stands in for robolearn.policies.policy.Policy: records how the evaluator drives it."""

    env_id = f"{__name__}:{FAULTY_ID}"  # faults at step 5 give episodes of different lengths
    env_kwargs = {"image_size": 24, "cameras": ["top"]}
    cameras = ["top"]

    def __init__(self):
        import torch

        self.device = torch.device("cpu")
        self.resets, self.batches, self.generators = [], [], []

    def reset(self, mask=None):
        self.resets.append(None if mask is None else np.asarray(mask).tolist())

    def select_action(self, obs, generator=None):
        self.batches.append(obs["top_image"].shape)
        self.generators.append(generator)
        return np.zeros((obs["proprio"].shape[0], 2), np.float32)  # the ball stays: never solves


@pytest.mark.slow
def test_policy_path_defaults_batching_and_resets(tmp_path, monkeypatch):
    import torch

    fake = _RecordingPolicy()
    monkeypatch.setattr(evaluate_mod, "_load_policy", lambda path, device: fake)
    # --lockstep: the two workers' envs as one batch, the policy in this process.
    r = evaluate(_cfg(tmp_path, policy=str(tmp_path / "pol"), episodes=4, workers=2, envs_per_worker=1, horizon=8,
                      image_size=None, max_fault_rate=1.0, lockstep=True))

    # env id and kwargs come from the policy; cfg.horizon is added on top.
    assert r["env"] == fake.env_id and r["env_kwargs"] == {"image_size": 24, "cameras": ["top"], "horizon": 8}
    eps = r["per_episode"]
    # env 0 runs seed +0 (8 steps), env 1 seed +1 (fault at step 5), then takes seed +2 (8 steps);
    # env 0 takes seed +3 (fault at step 5). Both finish at rollout step 14.
    assert [(e["seed"] - SEED, e["length"], e["sim_fault"], e["truncated"]) for e in eps] == [
        (0, 8, False, True), (1, 5, True, False), (2, 8, False, True), (3, 5, True, False)]
    assert fake.resets == [None, [False, True], [True, False]]
    assert len(fake.batches) == 14 and set(fake.batches) == {(2, 24, 24, 3)}
    assert all(isinstance(g, torch.Generator) for g in fake.generators)


def test_refusals(tmp_path):
    with pytest.raises(RobolearnError, match="--env"):
        evaluate(_cfg(tmp_path, env=None))
    with pytest.raises(RobolearnError, match="not found"):
        evaluate(_cfg(tmp_path, policy=str(tmp_path / "no_such_run")))
    out = tmp_path / "eval"
    out.mkdir()
    (out / "results.json").write_text("{}")
    with pytest.raises(RobolearnError, match="overwrite"):
        evaluate(_cfg(tmp_path, env="robolearn/PointMass-v0"))
    assert (out / "results.json").read_text() == "{}"


@pytest.mark.slow
def test_bench_row_shows_faults_and_the_run_fails_after_the_report(tmp_path):
    """A task whose env raises: the row counts its faults in the report (linking the traceback), and the
    run stops with one line naming the file, after every stage ran and the report was written."""
    from robolearn.pipeline import RunOptions, TaskSpec, run_tasks

    task = TaskSpec(name="faulty", env=FAULTY_ID, demos=4, image_size=32, encoders=["state"], heads=["mlp"],
                    seeds=[0], train_steps=20, eval_episodes=4, collect_workers=1)
    # One job, one eval worker: everything in this process, where FAULTY_ID is registered.
    opts = RunOptions(root=tmp_path, jobs=1, eval_workers=1, wandb="disabled", videos=0)
    tb = tmp_path / "faulty" / "eval" / "state-mlp-s0" / "fault_traceback.txt"
    with pytest.raises(RobolearnError, match="2 of 4 episodes ended in a simulator fault") as e:
        run_tasks([task], opts, "faults")
    assert str(tb) in str(e.value) and "\n" not in str(e.value)
    (row,) = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert row["sim_faults"] == 2 and row["fault_traceback"] == "faulty/eval/state-mlp-s0/fault_traceback.txt"
    report = (tmp_path / "report.md").read_text()
    assert "| sim faults |" in report and "| 2 ([traceback](faulty/eval/state-mlp-s0/fault_traceback.txt)) |" in report
    # A higher threshold accepts the same finished stages (nothing reruns).
    run_tasks([task], RunOptions(root=tmp_path, jobs=1, eval_workers=1, wandb="disabled", videos=0,
                                 max_fault_rate=0.5), "faults")


def test_collect_counts_simulator_faults_apart(tmp_path, capsys):
    """Collection keeps successful episodes only: attempts ended by a fault are failures, counted and
    named apart (stderr, the store's attributes, `robolearn info`)."""
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect
    from robolearn.data.store import summary

    # Seeds SEED..: SEED+1 diverges, SEED+3 raises; one worker, so this process's registration serves.
    out = collect(CollectConfig(env=FAULTY_ID, episodes=3, out=tmp_path / "d.hdf5", seed=SEED, image_size=16,
                                workers=1))
    err = capsys.readouterr().err
    assert "collected 3 episodes in 5 attempts (2 failed, 2 of them simulator faults (first: seed 100001:" in err
    assert "(2 failed, 2 of them simulator faults)" in summary(out)


class _OneViewPolicy(_RecordingPolicy):
    """A policy whose encoder reads one of the two views BlockPush's demonstrations recorded."""

    env_id = "robolearn/BlockPush-v0"
    env_kwargs = {"image_size": 24, "cameras": ["overview", "side"]}
    cameras = ["side"]

    def select_action(self, obs, generator=None):
        self.batches.append(sorted(k for k in obs if k.endswith("_image")))
        return np.zeros((obs["proprio"].shape[0], 2), np.float32)


def test_only_the_cameras_the_policy_reads_are_rendered(tmp_path, monkeypatch):
    fake = _OneViewPolicy()
    monkeypatch.setattr(evaluate_mod, "_load_policy", lambda path, device: fake)
    r = evaluate(_cfg(tmp_path, policy=str(tmp_path / "pol"), episodes=1, workers=1, horizon=2, image_size=None))
    assert r["env_kwargs"]["cameras"] == ["side"]
    assert fake.batches and all(keys == ["side_image"] for keys in fake.batches)


# --------------------------------------------------------------------- independent loops, interrupted
@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_interrupted_evaluation_leaves_no_loop_running(tmp_path, how):
    """`robolearn eval --workers 2` runs two loop processes. Ctrl-C: exit 130, "interrupted", no
    results.json, the loops gone. The evaluation killed with SIGKILL: its loops notice and exit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from processes import session_pids

    out = tmp_path / "eval"
    cmd = [sys.executable, "-m", "robolearn.cli", "eval", "--policy", "expert", "--env", "robolearn/BlockPush-v0",
           "--episodes", "2000", "--workers", "2", "--videos", "0", "--wandb", "disabled", "--out", str(out)]
    # SIGINT as a terminal gives it: a test run started in the background inherits SIGINT ignored.
    proc = subprocess.Popen(cmd, env=dict(os.environ, TQDM_DISABLE="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        # The evaluation, its two loops and the spawn machinery's resource tracker.
        while len(session_pids(proc.pid)) < 4:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "the loops never started"
            time.sleep(0.1)
        time.sleep(2)  # the loops are rolling out
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err[-2000:]
        else:
            proc.kill()
            proc.wait()
        deadline = time.time() + 20
        while session_pids(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert session_pids(proc.pid) == []
    finally:
        if session_pids(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "results.json").exists()
