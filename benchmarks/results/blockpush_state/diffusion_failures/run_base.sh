#!/bin/bash
# Base reproduction: collect (suite settings), train the suite's diffusion (seed 0), eval 50, diagnostics.
set -e
cd /work/exp19b
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
RL=/work/main/.venv/bin/robolearn; PY=/work/main/.venv/bin/python
date -u
[ -f demos.hdf5 ] || /usr/bin/time -v $RL collect --env robolearn/BlockPush-v0 --episodes 1000 --seed 0 --no-images --workers 1 --out demos.hdf5 > logs/collect.log 2>&1
date -u
/usr/bin/time -v $RL train --data demos.hdf5 --encoder state --head diffusion --out pol_base --optim.steps 6000 \
    --optim.batch-size 256 --optim.lr 3e-4 --optim.warmup-steps 50 --optim.eval-every 6000 --optim.seed 0 \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --pred-horizon 8 --action-horizon 1 > logs/train_base.log 2>&1
date -u
$RL eval --policy pol_base --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_base_ta1 > logs/eval_base_ta1.log 2>&1
date -u
$PY diag_roll.py pol_base --out r_base_ta1.npz > logs/diag_base_ta1.log 2>&1
$PY analyze.py r_base_ta1.npz --per-episode --plots plots_base_ta1 --json r_base_ta1.json > an_base_ta1.txt 2>&1
$PY diag_roll.py pol_base --driver expert --out r_expert_drive.npz > logs/diag_expert_drive.log 2>&1
$PY analyze.py r_expert_drive.npz > an_expert_drive.txt 2>&1
date -u
