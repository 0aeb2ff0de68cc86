#!/bin/bash
# run_variant.sh NAME [extra train flags...]: train the suite's diffusion setting + flags (seed 0), eval 50 (T_a from the policy), diag
set -e
cd /work/exp19b
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
RL=/work/main/.venv/bin/robolearn; PY=/work/main/.venv/bin/python
NAME=$1; shift
STEPS=${STEPS:-6000}; LR=${LR:-3e-4}
date -u
/usr/bin/time -v $RL train --data demos.hdf5 --encoder state --head diffusion --out pol_$NAME --optim.steps $STEPS \
    --optim.batch-size 256 --optim.lr $LR --optim.warmup-steps 50 --optim.eval-every $STEPS --optim.seed 0 \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --pred-horizon 8 --action-horizon 1 "$@" > logs/train_$NAME.log 2>&1
date -u
$RL eval --policy pol_$NAME --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_$NAME > logs/eval_$NAME.log 2>&1
date -u
$PY diag_roll.py pol_$NAME --out r_$NAME.npz > logs/diag_$NAME.log 2>&1
$PY analyze.py r_$NAME.npz --per-episode --json r_$NAME.json > an_$NAME.txt 2>&1
date -u
