#!/bin/bash
# exp18b: 50 rollouts of a trained policy folder on the bench's seed-0 evaluation seeds (100000..), one worker/thread.
# usage: exp18b_eval.sh POLICY_DIR OUT_DIR
set -e
export MUJOCO_GL=egl TQDM_DISABLE=1 OMP_NUM_THREADS=1
/work/main/.venv/bin/robolearn eval --policy $1 --env robosuite/Lift-v0 --episodes 50 --seed 100000 --workers 1 \
  --threads 1 --videos 0 --wandb disabled --out $2
