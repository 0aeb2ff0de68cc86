"""Rollouts as independent loops: `workers` processes, each with its own copy of the policy and its
own envs, each rolling out its fixed share of the episodes (every `workers`-th).

Why not the lockstep batch (robolearn.evaluation.pool) whenever the policy runs on a CPU: there every
step waits at one barrier for the slower worker and for the main process's policy forward, so the
cores sit idle between steps. Measured on 2 quiet cores (benchmarks/results/stage_speed/
rollouts_quiet.md): the lockstep evaluator reached 0.66-0.83 of two plain env loops, while two
independent processes doing the same work scale at 0.94-1.12. Here each process is a plain loop (an
`EnvRunner` with its envs in-process) and nothing is waited for until the end.

Outcomes do not depend on the layout: episode i has seed `seed + i` and a sampling policy's noise
comes from a generator seeded with it. A batched forward's rounding depends on the rows beside an
episode, so action digests can differ in the last bits from another layout's (as between shards);
the same layout gives the same digests.

A GPU policy keeps the lockstep batch (one process owns the device and batches every env).
"""
from __future__ import annotations

import logging
import logging.handlers
import multiprocessing as mp
import pickle
import queue
import signal
import threading
import time
import traceback
from typing import Any, Callable, Optional

from tqdm import std as tqdm_std
from tqdm.auto import tqdm

from robolearn.errors import RobolearnError
from robolearn.lifetime import children_exit_with_me
from robolearn.evaluation.rollouts import EnvRunner, EpisodeList, _fault_order

POLL_S = 0.2
"""How often the main process refreshes the progress bar while the loops run."""

class LoopShare(EpisodeList):
    """Loop `index`'s episodes: those whose index is `index` mod `loops`; the first ones placed at env
    (index // loops) mod envs, as in the whole evaluation, so a shard's episodes sit in the loop and
    batch row they have there; each finished one counted for the evaluation process's progress bar.

    Fixed shares, not a shared queue: which loop, env and policy-batch row an episode gets then never
    depends on timing, so the same command gives the same actions bit for bit (a batched forward's
    rounding depends on the row); interleaving keeps the shares' lengths alike."""

    def __init__(self, todo: list[int], index: int, loops: int, finished, succeeded):
        super().__init__([i for i in todo if i % loops == index])
        self.loops = loops
        self.finished, self.succeeded = finished, succeeded

    def first(self, n_envs: int) -> dict[int, int]:
        self._next = min(n_envs, len(self.todo))
        return {(i // self.loops) % n_envs: i for i in self.todo[:self._next]}

    def finish(self, success: bool) -> None:
        with self.finished.get_lock():
            self.finished.value += 1
            self.succeeded.value += int(success)


def _loop_main(index: int, loops: int, runner_kwargs: dict, load_policy: Optional[Callable[[], Any]],
               finished, succeeded, threads: int, logs, results, start) -> None:
    """Loop process `index` of `loops`: its share of the episodes, its envs in this process, its own
    policy; puts (index, True, result) or (index, False, error) on `results`."""
    # Ctrl-C and SIGTERM are handled once, by the evaluation process, which then kills the loops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Exiting with a killed evaluation process is `run_loops`' `children_exit_with_me` (robolearn/lifetime.py).
    # Log records (simulator faults, warnings) go to the evaluation process, which logs them as its own.
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(logs)]
    root.setLevel(logging.INFO)
    # tqdm's default lock holds a multiprocessing semaphore, made on a loop's first (disabled) bar: a loop
    # killed after that leaves it to the resource tracker, which then warns after the evaluation's
    # "interrupted". A loop shows no bars, so a thread lock serves.
    tqdm_std.tqdm.set_lock(threading.RLock())
    try:
        import torch

        torch.set_num_threads(threads)
        share = LoopShare(runner_kwargs["episodes"], index, loops, finished, succeeded)
        policy = None if load_policy is None else load_policy()
        # Every loop starts its share at once (`start`, a barrier): with fixed shares, a loop that began
        # while another was still importing torch would finish first and leave its core idle at the end.
        runner = EnvRunner(**runner_kwargs, workers=1, source=share, progress=False, ready=start.wait)
        results.put((index, True, runner.run(policy)))
    except Exception as e:  # to the evaluation process, which raises it (RobolearnError: one line)
        try:
            pickle.dumps(e)
        except Exception:
            e = RuntimeError(f"loop {index}: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        results.put((index, False, e))


def _merge(runs: list[dict], startup_seconds: float) -> dict:
    """The loops' results as one `EnvRunner.run` result (records in episode order; CPU summed)."""
    records = sorted((r for run in runs for r in run["records"]), key=lambda r: r["episode"])
    faults = [run["first_fault"] for run in runs if run["first_fault"] is not None]
    started = min(run["rollout_started"] for run in runs)
    ended = max(run["rollout_ended"] for run in runs)
    return {"records": records, "clips": sorted(c for run in runs for c in run["clips"]), "fps": runs[0]["fps"],
            "sim_faults": sum(run["sim_faults"] for run in runs),
            "first_fault": min(faults, key=_fault_order) if faults else None,
            "env_steps": sum(run["env_steps"] for run in runs),
            "rollout_seconds": ended - started, "wall_seconds": startup_seconds + ended - started,
            # Each loop is a plain loop: its envs and its policy share the process.
            "main_cpu_seconds": 0.0, "worker_cpu_seconds": sum(run["main_cpu_seconds"] for run in runs),
            "startup_cpu_seconds": sum(run["startup_cpu_seconds"] for run in runs),
            "rollout_started": started, "rollout_ended": ended}


def _relay_logs(logs) -> None:
    """In the evaluation process: the loops' log records, handled by this process's loggers."""
    while (record := logs.get()) is not None:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)


def _collect(procs: dict, results, finished, succeeded, bar) -> dict[int, dict]:
    """Each loop's result as it arrives, with the progress bar kept up to date; raises a loop's error,
    or one for a loop that died without returning."""
    runs: dict[int, dict] = {}
    while len(runs) < len(procs):
        try:
            index, good, payload = results.get(timeout=POLL_S)
        except queue.Empty:
            dead = [i for i, p in procs.items() if i not in runs and p.exitcode is not None]
            if dead and results.empty():
                raise RobolearnError(f"evaluation loop {dead[0]} died (exit code {procs[dead[0]].exitcode}) "
                                     "before returning its episodes")
        else:
            if not good:
                raise payload
            runs[index] = payload
        done = finished.value
        if done > bar.n:
            bar.update(done - bar.n)
            bar.set_postfix(success=f"{succeeded.value / done:.2f}")
    return runs


def _stop(procs: dict, results, logs, relay: threading.Thread, ok: bool) -> None:
    """Join the loops (killed first unless they all returned) and, after a clean run, the log relay."""
    if not ok:  # an error in a loop, or Ctrl-C: never leave processes behind
        for p in procs.values():
            if p.is_alive():
                p.kill()
        # A killed loop may have left these queues' pipes half written: do not wait on them at exit.
        results.cancel_join_thread()
        logs.cancel_join_thread()
    for p in procs.values():
        if p.pid is not None:
            p.join()
    if ok:
        logs.put(None)
        relay.join()


def run_loops(runner: EnvRunner, load_policy: Optional[Callable[[], Any]], threads: int = 1) -> dict:
    """`runner`'s evaluation as `runner.workers` independent loops of `runner.per_worker` envs each;
    `load_policy` (picklable; None for the expert) builds each loop's copy of the policy. Returns what
    `runner.run` returns, with `workers` and `envs_per_worker` of this layout."""
    ctx = mp.get_context("spawn")  # OpenGL contexts and torch's threads do not survive fork
    todo = list(runner.todo)
    finished, succeeded = ctx.Value("l", 0), ctx.Value("l", 0)
    kwargs = {"env_id": runner.env_id, "env_kwargs": runner.env_kwargs, "episodes": todo, "seed": runner.seed,
              "videos": runner.videos, "expert": runner.expert, "envs_per_worker": runner.per_worker}
    t0 = time.monotonic()
    logs = ctx.Queue()
    relay = threading.Thread(target=_relay_logs, args=(logs,), name="loop-logs", daemon=True)
    relay.start()
    # Loops with a share: a shard's few episodes may leave some without any. Plain processes, not a
    # Pool: terminating a Pool mid-task can deadlock on its queues' locks (seen in CI); a loop that
    # is killed here holds nothing the evaluation process waits on.
    busy = sorted({i % runner.workers for i in todo})
    results = ctx.Queue()
    # No timeout: a loop that dies before it arrives is seen below, and the others are killed.
    start = ctx.Barrier(len(busy))
    procs = {i: ctx.Process(target=_loop_main, name=f"eval-loop-{i}", daemon=True,
                            args=(i, runner.workers, kwargs, load_policy, finished, succeeded, threads, logs, results,
                                  start))
             for i in busy}
    bar = tqdm(total=len(todo), desc=runner.desc, unit="ep", dynamic_ncols=True, **({} if runner.progress else {"disable": True}))
    ok = False
    try:
        with children_exit_with_me():  # even if this process is killed with SIGKILL mid-start-up
            for p in procs.values():
                p.start()
        by_loop = _collect(procs, results, finished, succeeded, bar)
        ok = True
    finally:
        bar.close()
        _stop(procs, results, logs, relay, ok)
    runs = [by_loop[i] for i in busy]
    # Start-up: spawning the loops, importing torch and the env, loading the policy, before the first reset.
    out = _merge(runs, startup_seconds=min(run["rollout_started"] for run in runs) - t0)
    out.update(workers=runner.workers, envs_per_worker=runner.per_worker)
    return out


def rollout(runner: EnvRunner, policy, load_policy: Optional[Callable[[], Any]], lockstep: bool = False) -> dict:
    """`runner`'s evaluation of `policy` (None: the expert) in its layout: independent loops when there
    are several workers and the policy runs on a CPU (each loop builds its copy with `load_policy`),
    else `runner.run` (one process, or the lockstep batch: a GPU policy, or `lockstep`)."""
    on_cpu = policy is None or str(policy.device) == "cpu"
    if runner.workers > 1 and on_cpu and not lockstep:
        return run_loops(runner, load_policy)
    return runner.run(policy)
