#!/bin/bash
# Put seeds 1 and 2 (run in bench1/, bench2/ beside seed 0's bench/) into bench/ and rewrite its report.
set -e
cd /work/exp19e
for s in 1 2; do
  for k in pol eval; do cp -r bench$s/blockpush/$k/state-diffusion-s$s bench/blockpush/$k/; done
done
/work/main/.venv/bin/python - <<'PY'
import json
t = {}
for b in ("bench", "bench1", "bench2"):
    t.update(json.load(open(f"/work/exp19e/{b}/timings.json")))
json.dump(t, open("/work/exp19e/bench/timings.json", "w"), indent=2)
PY
OMP_NUM_THREADS=1 TQDM_DISABLE=1 /work/main/.venv/bin/robolearn bench --suite blockpush-state --heads diffusion --report-only --videos 0 --out /work/exp19e/bench
