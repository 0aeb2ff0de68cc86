"""The stages of `robolearn run` and `robolearn bench` as jobs: a phase's jobs run inline or in spawned
processes that stop when their parent dies or is interrupted (`robolearn.pipeline` plans them)."""
from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
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
    """jobs: (key, kind, config). Runs them inline (n_procs 1) or in spawned processes."""
    if not jobs:
        return
    bar = tqdm(total=len(jobs), desc=name, unit="job", dynamic_ncols=True, position=0)
    try:
        if n_procs <= 1 or len(jobs) == 1:
            for key, kind, cfg in jobs:
                timings[key] = _job(kind, cfg, threads)
                save_timings()
                bar.update(1)
            return
        with ProcessPoolExecutor(max_workers=min(n_procs, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            try:
                futs = {pool.submit(_job, kind, cfg, threads): key for key, kind, cfg in jobs}
                for fut in as_completed(futs):
                    timings[futs[fut]] = fut.result()  # a failed job raises here, with its own message
                    save_timings()
                    bar.update(1)
            except KeyboardInterrupt:
                _stop_jobs(pool)
                raise
    finally:
        bar.close()


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
