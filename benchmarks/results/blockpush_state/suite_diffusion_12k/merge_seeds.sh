#!/bin/bash
# Put seed 0 (run alone in suite0/) into suite/ beside seeds 1 and 2 and rewrite the report there.
# usage: merge_seeds.sh SCRATCH   (the folder holding suite/ and suite0/; both from the same demos.hdf5)
set -e
cd "$1"
cmp suite/blockpush/demos.hdf5 suite0/blockpush/demos.hdf5
for k in pol eval; do cp -r suite0/blockpush/$k/state-diffusion-s0 suite/blockpush/$k/; done
python3 - <<'PY'
import json
t = json.load(open("suite/timings.json"))
t.update({k: v for k, v in json.load(open("suite0/timings.json")).items() if "diffusion-s0" in k})
json.dump(t, open("suite/timings.json", "w"), indent=2)
PY
OMP_NUM_THREADS=1 TQDM_DISABLE=1 /work/main/.venv/bin/robolearn bench --suite blockpush-state --heads diffusion \
    --report-only --videos 0 --out "$PWD/suite"
