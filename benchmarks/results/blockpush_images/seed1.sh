#!/bin/bash
# Seed 1 of the none and dynamo rows (2026-12-04), added to the seed-0 run folder OUT: the bench resumes there
# (demos already collected) and adds seed 1; 3,668 s wall on 2 cores. Then the report over seeds 0-1.
OUT=${1:?usage: seed1.sh OUT}
TQDM_DISABLE=1 OMP_NUM_THREADS=1 MUJOCO_GL=egl /usr/bin/time -f "%e s wall" robolearn bench --suite blockpush-images --seeds 1 \
  --encoders none dynamo --jobs 2 --eval-workers 1 --videos 0 --threads 1 --wandb disabled --out "$OUT"
robolearn bench --suite blockpush-images --seeds 0 1 --encoders scratch none dynamo --report-only --videos 0 --wandb disabled --out "$OUT"
