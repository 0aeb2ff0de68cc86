#!/bin/bash
# exp18: head on the 20 lift-fewshot demos + 50 rollouts (seed 100000), as pretrain_3k/dynamo.sh, for encoder folder $1.
set -e
export MUJOCO_GL=egl TQDM_DISABLE=1 OMP_NUM_THREADS=1
R=/work/exp18/bench/lift-fewshot; E=$1; O=$(dirname $E)
/work/main/.venv/bin/robolearn train --data $R/demos.hdf5 --encoder $E --head mlp --standardize --use-proprio \
  --optim.steps 1500 --optim.batch-size 256 --optim.lr 1e-3 --optim.weight-decay 1e-4 --optim.warmup-steps 50 \
  --optim.seed 0 --threads 1 --wandb disabled --out $O/pol
/work/main/.venv/bin/robolearn eval --policy $O/pol --env robosuite/Lift-v0 --episodes 50 --seed 100000 --workers 1 --videos 0 \
  --wandb disabled --out $O/eval
