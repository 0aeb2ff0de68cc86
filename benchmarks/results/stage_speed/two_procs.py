"""Is the in-worker inflation the machine's? The same in-process work run alone, then as two
independent processes at once (no pipes, no AsyncVectorEnv): if each of the two pays more CPU per
unit of work than the one alone, two busy processes cost more on this machine whatever they talk.

    MUJOCO_GL=egl .venv/bin/python benchmarks/results/stage_speed/two_procs.py
"""
import multiprocessing as mp
import os
import time


def _python_loop(n=3_000_000):
    t = time.process_time()
    s = 0
    for i in range(n):
        s += i * i % 7
    return n, time.process_time() - t


def _numpy_loop(n=400):
    import numpy as np
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    t = time.process_time()
    for _ in range(n):
        a = np.tanh(a @ a.T * 1e-3)
    return n, time.process_time() - t


def _envs(render):
    import robolearn.rendering  # noqa: F401
    import torch
    torch.set_num_threads(1)
    from robolearn.evaluation.rollouts import EnvRunner
    r = EnvRunner("robolearn/PointMass-v0", {"image_size": 32, "render": render}, range(128), 0,
                  workers=1, expert=True, envs_per_worker=8).run()
    return r["env_steps"], r["main_cpu_seconds"]


def _child(kind, q):
    q.put({"python": _python_loop, "numpy": _numpy_loop,
           "envs render off": lambda: _envs(False), "envs render on": lambda: _envs(True)}[kind]())


def run(kind, procs):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_child, args=(kind, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    out = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return [1e3 * c / n for n, c in out]  # CPU ms per unit of work, per process


if __name__ == "__main__":
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cpus", flush=True)
    print("| work | 1 process: cpu ms per unit | 2 at once: cpu ms per unit (each) | ratio |")
    print("| --- | --- | --- | --- |")
    for kind in ("python", "numpy", "envs render off", "envs render on"):
        one, two = run(kind, 1), run(kind, 2)
        print(f"| {kind} | {one[0]:.4f} | {two[0]:.4f}, {two[1]:.4f} | {sum(two) / 2 / one[0]:.2f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
