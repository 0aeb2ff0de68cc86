#!/bin/bash
# exp18: DynaMo on the lift-fewshot seed-0 pool with a tighter latent-action bottleneck (latent_dim $1, default 4),
# everything else as the bench's dynamo-s0 (1,000 steps, batch 32, lr 3e-4, clip 0.1, jitter 0.3).
set -e
export MUJOCO_GL=egl TQDM_DISABLE=1 OMP_NUM_THREADS=1
L=${1:-4}; R=/work/exp18/bench/lift-fewshot; O=/work/exp18/var-z$L
/work/main/.venv/bin/robolearn pretrain --data $R/pretrain_demos.hdf5 --objective dynamo --encoder.name conv --encoder.norm batch \
  --encoder.embed-dim 64 --optim.steps 1000 --optim.batch-size 32 --optim.lr 3e-4 --optim.warmup-steps 50 \
  --optim.grad-clip 0.1 --optim.checkpoint-every 500 --optim.eval-every 1000 --optim.seed 0 --threads 1 \
  --dynamo.latent-dim $L --wandb disabled --out $O/enc
