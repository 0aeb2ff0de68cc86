"""`robolearn bench` end to end on its smoke suite (PointMass, tiny budgets): the parallel path
(--jobs 2, --scale), a bench killed (kill -9, its job processes too) and rerun, --report-only, and
bad arguments. Faults in a bench row: tests/test_evaluate.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from processes import session_pids
from robolearn.cli import main

ROBOLEARN = [sys.executable, "-m", "robolearn.cli"]
ENV = dict(os.environ, TQDM_DISABLE="1", WANDB_MODE="disabled")
SCALE = "0.2"  # smoke suite x 0.2: 4 demos, 60 head steps, 2 evaluation episodes per row


def _bench(out, *extra) -> list[str]:
    return ROBOLEARN + ["bench", "--suite", "smoke", "--jobs", "2", "--scale", SCALE, "--videos", "0",
                        "--out", str(out), *extra]


def _bench_until_training(out) -> subprocess.Popen:
    """The smoke bench started in its own session (so a signal to the group reaches its job processes,
    as a scheduler's kill does), returned once a head has started training."""
    proc = subprocess.Popen(_bench(out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 300
        while not list((out / "pointmass" / "pol").glob("*/metrics.jsonl")):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.time() < deadline, "training never started"
            time.sleep(0.05)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc


def _rows(out) -> list[tuple]:
    rows = json.loads((out / "results.json").read_text())["rows"]
    return [(r["task"], r["encoder"], r["head"], r["episodes"], r["sim_faults"]) for r in rows]


def test_bad_task_name_is_one_line(tmp_path, capsys):
    code = main(["bench", "--suite", "smoke", "--tasks", "pointmas", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "error: suite smoke has no task pointmas; its tasks: pointmass"
    assert not (tmp_path / "b").exists()
    code = main(["bench", "--suite", "smoke", "--scale", "0", "--out", str(tmp_path / "b")])
    assert code == 2 and capsys.readouterr().err.strip() == "error: --scale must be positive, got 0.0"


@pytest.mark.slow
def test_bench_killed_mid_run_resumes_and_report_only_rewrites_the_report(tmp_path, capsys):
    out = tmp_path / "bench"
    proc = _bench_until_training(out)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "report.md").exists()  # killed before the end
    demos = out / "pointmass" / "demos.hdf5"
    collected = demos.stat().st_mtime_ns

    rerun = subprocess.run(_bench(out), env=ENV, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "taking over the lock" in rerun.stderr  # the killed bench's lock on its folder
    assert demos.stat().st_mtime_ns == collected  # finished stages are not redone
    assert _rows(out) == [("pointmass", "state", "mlp", 2, 0), ("pointmass", "none", "mlp", 2, 0)]
    for key in ("state-mlp-s0", "none-mlp-s0"):
        res = json.loads((out / "pointmass" / "eval" / key / "results.json").read_text())
        assert [e["episode"] for e in res["per_episode"]] == [0, 1]
    report = (out / "report.md").read_text()
    assert "| state | mlp |" in report and "| none | mlp |" in report

    # --report-only: the report again from the finished stages; nothing runs (no stage folder changes).
    (out / "report.md").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "pointmass").rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["bench", "--suite", "smoke", "--scale", SCALE, "--out", str(out), "--report-only"]) == 0
    assert (out / "report.md").read_text() == report
    assert {p: p.stat().st_mtime_ns for p in (out / "pointmass").rglob("*") if p.is_file()} == stamps


@pytest.mark.slow
def test_sigterm_to_the_bench_alone_stops_its_job_processes_in_one_line(tmp_path):
    """A scheduler's SIGTERM reaches the bench process only (not its spawned jobs): the bench stops them
    through their own cleanup, prints one line and exits 130; nothing of the run keeps running."""
    out = tmp_path / "bench"
    proc = _bench_until_training(out)
    try:
        assert len(session_pids(proc.pid)) >= 3  # the bench and its two job processes
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=90)
        assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err[-2000:]
        deadline = time.time() + 10
        while session_pids(proc.pid) and time.time() < deadline:
            time.sleep(0.1)
        assert session_pids(proc.pid) == []
    finally:
        if proc.poll() is None or session_pids(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "report.md").exists()


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_a_job_process_whose_bench_was_killed_stops(tmp_path, sigint):
    """SIGKILL leaves no chance to clean up: the job processes notice their parent is gone and stop at once,
    also when the bench was started with SIGINT ignored (in the background, `nohup ... &`), which its
    jobs inherit."""
    ready = tmp_path / "ready"
    code = ("import multiprocessing as mp, pathlib, signal, sys, time\n"
            "from robolearn import jobs\n"
            "def job(ready):\n"
            "    jobs.interrupt_when_parent_dies()\n"
            "    pathlib.Path(ready).touch()\n"
            "    time.sleep(300)\n"
            "if __name__ == '__main__':\n"
            "    # what the job inherits (a shell without job control ignores SIGINT in commands it puts in\n"
            "    # the background)\n"
            "    signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[2] == 'ignored' else signal.SIG_DFL)\n"
            "    p = mp.get_context('spawn').Process(target=job, args=(sys.argv[1],))\n"
            "    p.start()\n"
            "    print(p.pid, flush=True)\n"
            "    time.sleep(300)\n")
    script = tmp_path / "parent.py"
    script.write_text(code)
    parent = subprocess.Popen([sys.executable, str(script), str(ready), sigint], stdout=subprocess.PIPE, text=True,
                              env=ENV)
    import psutil

    from robolearn.jobs import JOB_GRACE_S

    job = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.time() + 120
        while not ready.exists():  # the job runs (its imports take a while on a busy machine)
            assert time.time() < deadline and job.is_running(), "the job never started"
            time.sleep(0.05)
        parent.kill()
        parent.wait()
        killed = time.monotonic()
        job.wait(timeout=60)  # psutil.TimeoutExpired if the job ran on (it sleeps 300 s)
        assert time.monotonic() - killed < JOB_GRACE_S / 2  # interrupted, not let go after the grace period
    finally:
        if parent.poll() is None:
            parent.kill()
        if job.is_running():
            job.kill()
