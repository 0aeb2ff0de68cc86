#!/bin/bash
# Issue 18: decisive experiments for the ablation directions that differ from the paper (Reach, the
# dynamo-ablations suite's pretraining: 200 Reach-v0 demos, 32 px, conv, short preset, 400 steps).
# Usage: run.sh WORKDIR CLEAN_DEMOS   (CLEAN_DEMOS: <bench out>/reach/pretrain_demos.hdf5 of
# `robolearn bench --suite dynamo-ablations`). The clean DynaMo and `none` rows are that suite's encoders.
# Then: summ.py (tables from runs.json, which holds each run's results.json and training curve).
set -e
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
mkdir -p "$1" && cd "$1" && ln -sf "$2" clean.hdf5
RL=robolearn
pre() {  # DATA NAME SEED STEPS [FLAGS...]
  local data=$1 name=$2 seed=$3 steps=$4; shift 4
  [ -f enc_$name/results.json ] && return
  $RL pretrain --data $data.hdf5 --objective dynamo --encoder.name conv --encoder.norm batch --encoder.embed-dim 64 \
    --optim.steps $steps --optim.batch-size 32 --optim.lr 3e-4 --optim.warmup-steps 50 --optim.grad-clip 0.1 \
    --optim.eval-every $steps --optim.checkpoint-every $steps --optim.log-every 25 --optim.seed $seed \
    --wandb disabled --threads 1 --out enc_$name "$@" > $name.log 2>&1
}
# Demos whose motion the frame does not predict: DART noise 1.0 on the executed action (recorded action clean).
[ -f noisy.hdf5 ] || $RL collect --env robolearn/Reach-v0 --episodes 200 --seed 1000000 --image-size 32 --cameras top \
    --expert-noise 1.0 --workers 1 --out noisy.hdf5
for s in 0 1 2; do
  pre clean clean_noinv_s$s $s 400 --dynamo.no-inverse
  pre noisy noisy_dynamo_s$s $s 400
  pre noisy noisy_noinv_s$s $s 400 --dynamo.no-inverse
  pre clean clean_z2_s$s $s 400 --dynamo.latent-dim 2
  pre clean clean_z4_s$s $s 400 --dynamo.latent-dim 4
done
# The covariance term over 4x the steps, with and without it.
pre clean clean_dynamo_1600_s0 0 1600
pre clean clean_nocov_1600_s0 0 1600 --dynamo.no-covariance
pre clean clean_noinv_1600_s0 0 1600 --dynamo.no-inverse
