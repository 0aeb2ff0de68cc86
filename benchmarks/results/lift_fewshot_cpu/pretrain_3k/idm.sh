#!/bin/bash
# Control for the DynaMo 3k run: IDM on Lift pretrained 3,000 steps (its bench settings otherwise), seed $1.
set -e
cd /work/main
export MUJOCO_GL=egl TQDM_DISABLE=1 OMP_NUM_THREADS=1
S=${1:-0}
R=/work/runs/lift_fewshot/lift-fewshot
O=/work/runs/lift3k-idm-s$S
.venv/bin/robolearn pretrain --data $R/pretrain_demos.hdf5 --objective idm --encoder.name conv --encoder.norm batch \
  --encoder.embed-dim 64 --optim.steps 3000 --optim.batch-size 32 --optim.lr 1e-3 --optim.weight-decay 1e-4 \
  --optim.warmup-steps 50 --optim.grad-clip 1.0 --optim.checkpoint-every 1000 --optim.eval-every 1000 \
  --optim.seed $S --threads 1 --wandb disabled --out $O/enc
.venv/bin/robolearn train --data $R/demos.hdf5 --encoder $O/enc --head mlp --standardize --use-proprio \
  --optim.steps 1500 --optim.batch-size 256 --optim.lr 1e-3 --optim.weight-decay 1e-4 --optim.warmup-steps 50 \
  --optim.seed $S --threads 1 --wandb disabled --out $O/pol
.venv/bin/robolearn eval --policy $O/pol --env robosuite/Lift-v0 --episodes 50 --seed 100000 --workers 1 --videos 0 \
  --wandb disabled --out $O/eval
