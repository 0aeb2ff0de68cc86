"""One writer per output folder, and kill -9 anywhere: real processes, real signals, real files."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robolearn.errors import RobolearnError
from robolearn.locking import STALE_S, exclusive, lock_path

ROBOLEARN = [sys.executable, "-m", "robolearn.cli"]
ENV = dict(os.environ, TQDM_DISABLE="1", WANDB_MODE="disabled")

HOLD = """
import sys, time
from robolearn.locking import exclusive
with exclusive(sys.argv[1], "holder"):
    print("locked", flush=True)
    time.sleep(600)
"""


def _holder(target: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_refused_and_a_killed_holders_lock_taken_over(tmp_path, capsys):
    target = tmp_path / "run"
    proc = _holder(target)
    try:
        with pytest.raises(RobolearnError) as e:
            with exclusive(target):
                pass
        msg = str(e.value)
        assert f"pid {proc.pid} on host {socket.gethostname()}" in msg and "\n" not in msg
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock_path(target).exists()  # a killed holder cannot clean up
    with exclusive(target):  # the kernel released the dead process's flock: taken over, with a warning
        assert json.loads(lock_path(target).read_text())["pid"] == os.getpid()
    assert f"taking over the lock left by pid {proc.pid}" in capsys.readouterr().err
    assert not lock_path(target).exists()  # a clean exit removes it


FORK_AND_HOLD = """
import os, sys, time
from robolearn.locking import exclusive
with exclusive(sys.argv[1], "holder"):
    if os.fork() == 0:  # a forked child, as a DataLoader worker is: it outlives its killed parent here
        os.write(1, b"child\\n")  # after the fork hooks ran (on a loaded machine this can lag the parent)
        time.sleep(60)
        os._exit(0)
    os.write(1, b"locked\\n")  # one write each: the two lines cannot interleave in the pipe
    time.sleep(600)
"""


def test_a_forked_child_does_not_keep_its_killed_parents_lock(tmp_path, capsys):
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", FORK_AND_HOLD, str(target)], stdout=subprocess.PIPE, text=True,
                            env=ENV, start_new_session=True)
    try:
        assert {proc.stdout.readline().strip(), proc.stdout.readline().strip()} == {"locked", "child"}
        proc.send_signal(signal.SIGKILL)  # the parent only; its child sleeps on
        proc.wait()
        with exclusive(target):
            pass
        assert f"taking over the lock left by pid {proc.pid}" in capsys.readouterr().err
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child too
        except ProcessLookupError:
            pass


def test_without_flock_the_record_guards(tmp_path, monkeypatch, capsys):
    """A filesystem without flock (Lustre mounted without it): flock's own error stands in for one."""
    import errno

    import robolearn.locking as locking

    def no_flock(fd, op):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(locking.fcntl, "flock", no_flock)
    target = tmp_path / "run"
    alive = os.getppid()  # a live process of this host
    lock_path(target).write_text(json.dumps({"pid": alive, "host": socket.gethostname(), "started": time.time()}))
    with pytest.raises(RobolearnError, match=f"pid {alive} on host"):
        with exclusive(target):
            pass
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    lock_path(target).write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": time.time()}))
    with exclusive(target):
        pass
    assert f"taking over the lock left by pid {dead}" in capsys.readouterr().err


def test_a_failed_command_leaves_no_folder_made_for_its_lock(tmp_path):
    target = tmp_path / "a" / "b" / "demos.hdf5"
    with pytest.raises(RuntimeError):
        with exclusive(target):
            raise RuntimeError("the command failed before writing anything")
    assert list(tmp_path.iterdir()) == []
    with exclusive(target):
        target.write_text("x")
    assert target.read_text() == "x" and sorted(p.name for p in target.parent.iterdir()) == ["demos.hdf5"]


def test_a_record_from_another_host_is_honoured_until_stale(tmp_path, capsys):
    """On a filesystem that does not share flocks between hosts, the holder's record still guards."""
    target = tmp_path / "run"
    lock = lock_path(target)
    lock.write_text(json.dumps({"pid": 4242, "host": "node-17", "command": "robolearn train", "started": time.time()}))
    with pytest.raises(RobolearnError, match="pid 4242 on host node-17"):
        with exclusive(target):
            pass
    os.utime(lock, (time.time() - STALE_S - 5,) * 2)  # its heartbeat stopped
    with exclusive(target):
        pass
    assert "taking over the lock left by pid 4242 on host node-17" in capsys.readouterr().err


# --------------------------------------------------------------------- kill -9 during `robolearn train`
STEPS, EVERY, LOG = 450, 150, 10


@pytest.fixture(scope="module")
def demos(tmp_path_factory) -> Path:
    from robolearn.config import CollectConfig
    from robolearn.data.collect import collect

    out = tmp_path_factory.mktemp("ow") / "pm.hdf5"
    return collect(CollectConfig(env="robolearn/PointMass-v0", episodes=20, out=out, seed=0, image_size=32, workers=1))


def _train_args(demos: Path, out: Path, steps: int = STEPS, every: int = EVERY) -> list[str]:
    return ROBOLEARN + ["train", "--data", str(demos), "--encoder", "state", "--out", str(out), "--threads", "1",
                        "--optim.steps", str(steps), "--optim.batch-size", "32", "--optim.checkpoint-every", str(every),
                        "--optim.log-every", str(LOG), "--wandb", "disabled"]


def _wait(cond, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read()[-2000:]}"
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def _loss_steps(out: Path) -> list[int]:
    from robolearn.tracking import read_metrics

    return [r["step"] for r in read_metrics(out) if "train/loss" in r]


def _checkpoint_step(out: Path) -> int:
    try:
        return json.loads((out / "checkpoint" / "trainer.json").read_text())["step"]
    except (OSError, ValueError):
        return 0


@pytest.mark.slow
def test_train_killed_between_checkpoints_resumes_once_per_step_and_matches_an_uninterrupted_run(demos, tmp_path):
    """A second `train` on a running folder exits 2 naming the first; kill -9 between checkpoints, rerun:
    it takes the lock over, resumes, logs each step once, and ends with an uninterrupted run's weights."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "pol"
    first = subprocess.Popen(_train_args(demos, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: lock_path(out).exists() and (out / "metrics.jsonl").exists(), first, "a started run")
        first.send_signal(signal.SIGSTOP)  # paused (still holding its lock) while the second one starts
        try:
            second = subprocess.run(_train_args(demos, out), env=ENV, capture_output=True, text=True, timeout=300)
        finally:
            first.send_signal(signal.SIGCONT)
        assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert f"pid {first.pid} on host {socket.gethostname()}" in second.stderr
        _wait(lambda: 0 < _checkpoint_step(out) < STEPS, first, "a checkpoint")
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    saved = _checkpoint_step(out)
    assert not (out / "policy.json").exists()
    assert max(_loss_steps(out)) >= saved  # the killed attempt logged up to or past its checkpoint

    rerun = subprocess.run(_train_args(demos, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"taking over the lock left by pid {first.pid}" in rerun.stderr
    assert f"resumed from step {saved}" in rerun.stderr + rerun.stdout
    assert _loss_steps(out) == list(range(LOG, STEPS + 1, LOG))  # each step once, in order

    # The uninterrupted run, in this process (the same command through the CLI's entry point).
    from robolearn.cli import main

    ref = tmp_path / "ref"
    assert main([str(a) for a in _train_args(demos, ref)[3:]]) == 0
    a, b = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_train_killed_before_its_first_checkpoint_restarts_without_the_dead_attempts_rows(demos, tmp_path):
    out = tmp_path / "pol"
    first = subprocess.Popen(_train_args(demos, out, every=STEPS), env=ENV, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: len(_loss_steps(out)) >= 3, first, "three logged steps")
        first.send_signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert _checkpoint_step(out) == 0 and not (out / "checkpoint").is_dir() or not any((out / "checkpoint").glob("step-*"))
    # The rerun (here a shorter one) starts over: only its own rows remain.
    rerun = subprocess.run(_train_args(demos, out, steps=60, every=60), env=ENV, capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _loss_steps(out) == list(range(LOG, 61, LOG))
    assert (out / "policy.json").exists()


# --------------------------------------------------------------------- kill -9 during `robolearn collect`
@pytest.mark.slow
def test_collect_killed_mid_write_leaves_nothing_and_the_rerun_equals_an_uninterrupted_one(tmp_path):
    import h5py
    import numpy as np

    def args(out):
        return ROBOLEARN + ["collect", "--env", "robolearn/PointMass-v0", "--episodes", "30", "--image-size", "16",
                            "--workers", "1", "--out", str(out)]

    out = tmp_path / "demos.hdf5"
    proc = subprocess.Popen(args(out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: list(tmp_path.glob(".demos.hdf5.tmp-*")), proc, "the temporary file")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists() and list(tmp_path.glob(".demos.hdf5.tmp-*"))  # half-written, hidden, never renamed
    done = subprocess.run(args(out), env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos.hdf5"]  # the dead run's temp and lock are gone
    from robolearn.cli import main

    ref = tmp_path / "ref" / "demos.hdf5"
    ref.parent.mkdir()
    assert main(args(ref)[3:]) == 0  # the uninterrupted run, in this process
    with h5py.File(out) as a, h5py.File(ref) as b:
        assert list(a["data"]) == list(b["data"])
        for demo in a["data"]:
            assert np.array_equal(a["data"][demo]["actions"][()], b["data"][demo]["actions"][()])
            assert np.array_equal(a["data"][demo]["obs"]["proprio"][()], b["data"][demo]["obs"]["proprio"][()])


# --------------------------------------------------------------------- kill -9 during `robolearn eval`
@pytest.mark.slow
def test_eval_killed_before_its_results_writes_nothing_and_the_rerun_has_the_uninterrupted_outcomes(tmp_path):
    def args(out, workers):
        return ROBOLEARN + ["eval", "--policy", "expert", "--env", "robolearn/PointMass-v0", "--episodes", "12",
                            "--workers", str(workers), "--videos", "0", "--image-size", "16", "--out", str(out),
                            "--wandb", "disabled"]

    out = tmp_path / "ev"
    # Its own session: kill -9 reaches its env worker processes too (as a scheduler kills a job).
    proc = subprocess.Popen(args(out, 2), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait(lambda: lock_path(out).exists(), proc, "the lock")
        time.sleep(1.0)  # starting its env workers or rolling out: nothing is written before the end
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "results.json").exists()
    rerun = subprocess.run(args(out, 2), env=ENV, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    from robolearn.cli import main

    assert main([str(a) for a in args(tmp_path / "ref", 1)[3:]]) == 0  # uninterrupted, in this process

    def outcomes(folder):
        return [(e["seed"], e["success"], e["length"]) for e in json.loads((folder / "results.json").read_text())["per_episode"]]

    assert outcomes(out) == outcomes(tmp_path / "ref") and len(outcomes(out)) == 12


@pytest.mark.slow
def test_train_killed_during_its_final_write_finishes_on_rerun_with_the_same_policy(demos, tmp_path):
    """The final files are written atomically, one after the other (weights, results.json, policy.json
    last), so a kill during the final write leaves the run without policy.json: its last checkpoint
    is complete. That state, made by removing what the kill would not have written; the rerun finishes
    from the last checkpoint with the same weights and logs no step twice."""
    from robolearn.cli import main

    out = tmp_path / "pol"
    args = [str(a) for a in _train_args(demos, out, steps=60, every=30)[3:]]
    assert main(args) == 0
    meta = json.loads((out / "policy.json").read_text())
    for name in ("policy.json", "results.json"):
        (out / name).unlink()
    assert main(args) == 0
    again = json.loads((out / "policy.json").read_text())
    assert again["weights_hash"] == meta["weights_hash"]
    assert _loss_steps(out) == list(range(LOG, 61, LOG))
