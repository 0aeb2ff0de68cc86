"""Replay a suite's measured job times (timings.json) through both schedulers with N slots:
phases (every pretraining job before any head) against each job starting when what it reads is done."""
import json, sys, tempfile, heapq
from pathlib import Path
from robolearn.bench import suite_tasks
from robolearn.config import BenchConfig
from robolearn.pipeline import RunOptions, _Plan

def simulate(jobs, needs, dur, slots, barrier):
    listed = {k for k, _ in jobs}
    needs = {k: [n for n in v if n in listed] for k, v in needs.items()}
    done_at = {}
    phases = [[k for k, ph in jobs if ph == p] for p in ("pretrain", "train", "evaluate")] if barrier else [[k for k, _ in jobs]]
    start_floor = 0.0
    for keys in phases:
        pending = list(keys); running = []  # (end, key)
        clock = start_floor
        while pending or running:
            ready = [k for k in pending if all(n in done_at and done_at[n] <= clock for n in needs.get(k, ()))]
            while ready and len(running) < slots:
                k = ready.pop(0); pending.remove(k); heapq.heappush(running, (clock + dur.get(k, 0.0), k))
            end, k = heapq.heappop(running); clock = end; done_at[k] = end
        start_floor = clock
    return max(done_at.values())

def main(suite, timings_path, slots=2):
    dur = json.loads(Path(timings_path).read_text())
    with tempfile.TemporaryDirectory() as d:
        plan = _Plan(Path(d), RunOptions(root=Path(d), jobs=slots))
        for t in suite_tasks(BenchConfig(suite=suite, out=Path(d))):
            plan.add_task(t)
        jobs = [(k, ph) for ph in ("pretrain", "train", "evaluate") for k, _, _ in plan.jobs[ph]]
        missing = [k for k, _ in jobs if k not in dur]
        a, b = simulate(jobs, plan.needs, dur, slots, True), simulate(jobs, plan.needs, dur, slots, False)
        print(f"{suite}: {len(jobs)} jobs ({len(missing)} without a measured time), {slots} slots: "
              f"phases {a:.0f} s, as soon as ready {b:.0f} s ({100 * (a - b) / a:.0f}% less)")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
