"""exp18: run the lift-fewshot bench's collection + pretraining stages only (seed 0; none, idm, dynamo)."""
import robolearn.rendering  # noqa
import sys
from pathlib import Path
import robolearn.pipeline as P
from robolearn.bench import BenchConfig, suite_tasks

def main():
    global orig
    orig = P.run_phase
    def phase(name, jobs, *a, **k):
        if name in ("train", "evaluate"):
            print(f"exp18: skipping {name} ({len(jobs)} jobs)", flush=True)
            raise SystemExit(0)
        print(f"exp18: phase {name}: {[j[0] for j in jobs]}", flush=True)
        return orig(name, jobs, *a, **k)
    P.run_phase = phase
    cfg = BenchConfig(suite="lift-fewshot", seeds=[0], encoders=sys.argv[1:] or ["none", "idm", "dynamo"], jobs=1,
                      eval_workers=1, videos=0, out=Path("/work/exp18/bench"), wandb="disabled")
    tasks = suite_tasks(cfg)
    opts = P.RunOptions(root=cfg.out, jobs=1, threads=1, eval_workers=1, wandb="disabled", videos=0)
    P.run_tasks(tasks, opts, "exp18")


if __name__ == "__main__":
    main()
