#!/bin/bash
# Decisive: DynaMo on Lift pretrained 3x longer (3,000 steps), seed $1 (0 by default); head and eval as the bench does.
set -e
cd /work/main
export MUJOCO_GL=egl TQDM_DISABLE=1 OMP_NUM_THREADS=1
R=/work/runs/lift_fewshot/lift-fewshot
S=${1:-0}; O=/work/runs/lift3k-s$S
.venv/bin/robolearn pretrain --data $R/pretrain_demos.hdf5 --objective dynamo --encoder.name conv --encoder.norm batch \
  --encoder.embed-dim 64 --optim.steps 3000 --optim.batch-size 32 --optim.lr 3e-4 --optim.warmup-steps 50 \
  --optim.grad-clip 0.1 --optim.checkpoint-every 1000 --optim.eval-every 1000 --optim.seed $S --threads 1 \
  --wandb disabled --out $O/enc
.venv/bin/robolearn train --data $R/demos.hdf5 --encoder $O/enc --head mlp --standardize --use-proprio \
  --optim.steps 1500 --optim.batch-size 256 --optim.lr 1e-3 --optim.weight-decay 1e-4 --optim.warmup-steps 50 \
  --optim.seed $S --threads 1 --wandb disabled --out $O/pol
.venv/bin/robolearn eval --policy $O/pol --env robosuite/Lift-v0 --episodes 50 --seed 100000 --workers 1 --videos 0 \
  --wandb disabled --out $O/eval
