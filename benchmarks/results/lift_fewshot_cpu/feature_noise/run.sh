#!/bin/bash
# exp18c: does Gaussian noise on the standardized frozen embedding during head training (noise:S, exp18b_trainfix.py)
# lift DynaMo + MLP's closed loop on the lift-fewshot seed-0 encoder? 3 head seeds per setting, 50 rollouts each.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source "$(dirname "$0")/queue.sh"  # run(): one head, trained then evaluated
cd /work/main
for s in 0 1 2; do run dynamo noise:0.5 $s; done
run dynamo bench 2
for s in 0 1 2; do run dynamo noise:1.0 $s; done
for s in 0 1 2; do run idm noise:0.5 $s; done
for s in 0 1 2; do run none noise:0.5 $s; done
