#!/bin/bash
# The blockpush-state suite on 2 quiet cores at commit b8d0411, timed.
cd /work/main
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
git log --oneline | head -1
date -u
/usr/bin/time -f "wall %e s, user %U s, sys %S s" .venv/bin/robolearn bench --suite blockpush-state --jobs 2 --videos 0 --out /work/exp23/bps3
echo "exit $?"
date -u
