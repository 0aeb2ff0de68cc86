"""exp18b: the lift-fewshot bench's collection, pretraining AND head-training stages for seed 0 (rows scratch, none,
idm, dynamo; state left out), exactly the bench's job configs (robolearn.pipeline), one collection worker, one thread.
Evaluation is skipped here (run exp18b_eval.sh per row).      python exp18b_prep.py"""
import robolearn.rendering  # noqa
import dataclasses, sys
from pathlib import Path
import robolearn.pipeline as P
from robolearn.bench import BenchConfig, suite_tasks


def main():
    orig = P.run_phase
    def phase(name, jobs, *a, **k):
        if name == "evaluate":
            print(f"exp18b: skipping {name} ({len(jobs)} jobs)", flush=True)
            raise SystemExit(0)
        print(f"exp18b: phase {name}: {[j[0] for j in jobs]}", flush=True)
        return orig(name, jobs, *a, **k)
    P.run_phase = phase
    cfg = BenchConfig(suite="lift-fewshot", seeds=[0], encoders=sys.argv[1:] or ["scratch", "none", "idm", "dynamo"],
                      jobs=1, eval_workers=1, videos=0, out=Path("/work/exp18b/bench"), wandb="disabled")
    tasks = [dataclasses.replace(t, collect_workers=1) for t in suite_tasks(cfg)]  # same file for any worker count
    opts = P.RunOptions(root=cfg.out, jobs=1, threads=1, eval_workers=1, wandb="disabled", videos=0)
    P.run_tasks(tasks, opts, "exp18b")


if __name__ == "__main__":
    main()
