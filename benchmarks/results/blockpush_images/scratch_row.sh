#!/bin/bash
# The scratch row of seed 0 (2026-12-04), added to the seed-0 run of 2026-12-04 without rerunning it:
# OUT is a hard-linked copy of that run's folder (cp -al), so the bench resumes there and trains only scratch.
OUT=${1:?usage: scratch_row.sh OUT}
TQDM_DISABLE=1 OMP_NUM_THREADS=1 MUJOCO_GL=egl /usr/bin/time -f "%e s wall" robolearn bench --suite blockpush-images --seeds 0 \
  --encoders scratch --jobs 1 --eval-workers 1 --videos 0 --threads 1 --wandb disabled --out "$OUT"   # 3,260 s wall
robolearn bench --suite blockpush-images --seeds 0 --encoders scratch none dynamo --report-only --videos 0 --wandb disabled --out "$OUT"
