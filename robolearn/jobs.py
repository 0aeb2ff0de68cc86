"""The stages of `robolearn run` and `robolearn bench` as jobs: run inline or in spawned processes that
stop when their parent dies or is interrupted, a phase at a time (`run_phase`) or each job as soon as the
jobs it needs are done (`run_graph`); `robolearn.pipeline` plans them."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import multiprocessing as mp

import torch
from tqdm.auto import tqdm

from robolearn.data.collect import collect
from robolearn.data.store import merge_stores
from robolearn.evaluate import evaluate
from robolearn.pretrain import pretrain
from robolearn.train import train

JOB_GRACE_S = 30.0
"""Seconds an interrupted job process gets to clean up (close its env workers, release its lock)."""


def interrupt_when_parent_dies() -> None:
    """In a job process: when the bench/run process is gone (killed by a scheduler, even with SIGKILL),
    interrupt this job as Ctrl-C would, then exit, rather than go on writing into its folder."""
    parent = mp.parent_process()
    if parent is None:
        return
    # A bench started in the background (`nohup robolearn bench ... &`) hands its jobs an ignored SIGINT,
    # and Python then installs no KeyboardInterrupt handler: the interrupt below, and the bench's own when
    # it is stopped, would do nothing, and the job would run on for JOB_GRACE_S.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch():
        parent.join()  # returns when the parent exits, however it exits
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(JOB_GRACE_S)  # a job still here after its cleanup waits on the dead pool's queue
        os._exit(130)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _job(kind: str, cfg, threads: int) -> float:
    """Run one stage in this process; returns its wall time."""
    interrupt_when_parent_dies()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    if kind == "collect":
        collect(cfg)
    elif kind == "pretrain":
        pretrain(cfg)
    elif kind == "train":
        train(cfg)
    elif kind == "eval":
        evaluate(cfg)
    elif kind == "merge":
        merge_stores(cfg.parts, cfg.out)
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return time.perf_counter() - t0


def run_phase(name: str, jobs: list[tuple[str, str, object]], n_procs: int, threads: int,
              timings: dict, save_timings: Callable[[], None]) -> None:
    """jobs: (key, kind, config), none reading another's output. Runs them inline (n_procs 1) or in
    spawned processes."""
    run_graph(name, jobs, {}, n_procs, threads, timings, save_timings)


def run_graph(name: str, jobs: list[tuple[str, str, object]], needs: dict[str, set[str]], n_procs: int,
              threads: int, timings: dict, save_timings: Callable[[], None]) -> None:
    """jobs: (key, kind, config) in priority order; needs[key]: keys of earlier jobs in the list that must
    finish first, such as an encoder before the heads on it, a policy before its evaluation (keys of jobs
    not in the list ran before this call). Each job starts as soon as what it needs is done, up to
    n_procs at once, rather than after a whole phase: a 30-minute pretraining job no longer leaves the
    other cores idle while heads that do not read it could train. With one process: list order."""
    listed = {key for key, _, _ in jobs}
    needs = {key: set(needs.get(key, ())) & listed for key in listed}  # others ran before (collect, merge)
    seen: set[str] = set()
    for key, _, _ in jobs:
        if not needs[key] <= seen:  # pragma: no cover - the planner's invariant
            raise ValueError(f"job {key} needs {sorted(needs[key] - seen)}, which are not listed before it")
        seen.add(key)
    if not jobs:
        return
    bar = tqdm(total=len(jobs), desc=name, unit="job", dynamic_ncols=True, position=0)

    def finished(key: str, seconds: float) -> None:
        timings[key] = seconds
        save_timings()
        bar.update(1)

    try:
        if n_procs <= 1 or len(jobs) == 1:
            for key, kind, cfg in jobs:
                finished(key, _job(kind, cfg, threads))
            return
        with ProcessPoolExecutor(max_workers=min(n_procs, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            try:
                _run_pool(pool, jobs, needs, n_procs, threads, finished)
            except KeyboardInterrupt:
                _stop_jobs(pool)
                raise
    finally:
        bar.close()


def _run_pool(pool: ProcessPoolExecutor, jobs: list, needs: dict[str, set[str]], n_procs: int, threads: int,
              finished: Callable[[str, float], None]) -> None:
    pending, done, running = list(jobs), set(), {}
    while pending or running:
        for job in [j for j in pending if needs[j[0]] <= done][: n_procs - len(running)]:
            pending.remove(job)
            running[pool.submit(_job, job[1], job[2], threads)] = job[0]
        complete, _ = wait(running, return_when=FIRST_COMPLETED)
        for fut in complete:
            key = running.pop(fut)
            finished(key, fut.result())  # a failed job raises here, with its own message
            done.add(key)


def _stop_jobs(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C or SIGTERM in this process: the running jobs stop now instead of running to their end
    (the pool's exit would wait for them), each through its own cleanup, and none is left behind.
    Ctrl-C in a terminal already interrupted them (one process group); SIGTERM sent to this process
    alone did not, so those still running after a moment get SIGINT, and a hung one SIGTERM."""
    procs = list(getattr(pool, "_processes", {}).values())  # public only from Python 3.14 (terminate_workers)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        p.join(1.0)
    for p in procs:
        if p.is_alive():
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:  # it ended in between
                pass
    deadline = time.monotonic() + JOB_GRACE_S
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()


@dataclass
class MergeJob:
    """A pretraining pool's per-env stores, merged into one (`data.store.merge_stores`)."""

    parts: list[Path]
    out: Path
