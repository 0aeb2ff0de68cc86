#!/bin/bash
# cheap re-evaluations of pol_base (no retraining): executed chunk T_a, and sampling-noise diagnostics
cd /work/exp19b
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
PY=/work/main/.venv/bin/python
while kill -0 $(cat logs/run_base.pid) 2>/dev/null; do sleep 10; done
date -u
for v in "ta2 --ta 2" "ta4 --ta 4" "noise0 --noise-scale 0" "fixednoise --fixed-noise"; do
  set -- $v; name=$1; shift
  $PY diag_roll.py pol_base --k 0 "$@" --out r_base_$name.npz > logs/diag_base_$name.log 2>&1
  $PY analyze.py r_base_$name.npz --json r_base_$name.json > an_base_$name.txt 2>&1
  date -u
done
