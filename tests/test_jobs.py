"""The job runner: each stage starts as soon as the stages whose output it reads are done."""
from __future__ import annotations

from pathlib import Path

from robolearn.config import CollectConfig
from robolearn.jobs import MergeJob, run_graph


def _collect(out: Path, name: str, episodes: int, seed: int):
    return (name, "collect", CollectConfig(env="robolearn/PointMass-v0", episodes=episodes, out=out / f"{name}.hdf5",
                                           seed=seed, images=False, workers=1))


def test_a_job_starts_when_what_it_reads_is_done_not_after_its_phase(tmp_path):
    """Two processes, real jobs: a long collection beside two short ones and the merge that reads them.
    The merge needs its inputs written (it fails on a missing file), and it does not wait for the long
    collection it does not read: it finishes first, as a head on `none` trains while DynaMo pretrains."""
    jobs = [_collect(tmp_path, "long", 1000, 0), _collect(tmp_path, "a", 2, 1000), _collect(tmp_path, "b", 2, 2000),
            ("merge", "merge", MergeJob(parts=[tmp_path / "a.hdf5", tmp_path / "b.hdf5"], out=tmp_path / "ab.hdf5"))]
    timings: dict = {}
    saved = []
    run_graph("test", jobs, {"merge": {"a", "b"}}, 2, 1, timings, lambda: saved.append(dict(timings)))
    finished = list(timings)  # in the order the jobs finished
    assert sorted(finished) == ["a", "b", "long", "merge"] and len(saved) == 4
    assert finished.index("merge") < finished.index("long"), timings
    assert (tmp_path / "ab.hdf5").exists()


def test_the_plan_says_which_job_reads_which(tmp_path):
    """A head trains on its own encoder's output and is evaluated after it; the state row and the
    frozen `none` row do not wait for another objective's pretraining."""
    from robolearn.bench import suite_tasks
    from robolearn.config import BenchConfig
    from robolearn.pipeline import RunOptions, _Plan

    (task,) = suite_tasks(BenchConfig(suite="smoke", encoders=["state", "none", "idm"], out=tmp_path))
    plan = _Plan(tmp_path, RunOptions(root=tmp_path, jobs=2))
    plan.add_task(task)
    p = "pointmass"
    assert plan.needs[f"{p}/train/idm-mlp-s0"] == {f"{p}/pretrain/idm-s0"}
    assert plan.needs[f"{p}/train/none-mlp-s0"] == {f"{p}/pretrain/none-s0"}
    assert plan.needs[f"{p}/train/state-mlp-s0"] == set()
    assert plan.needs[f"{p}/eval/idm-mlp-s0"] == {f"{p}/train/idm-mlp-s0"}
    staged = [k for phase in ("pretrain", "train", "evaluate") for k, _, _ in plan.jobs[phase]]
    assert all(staged.index(n) < staged.index(k) for k in staged for n in plan.needs[k])
