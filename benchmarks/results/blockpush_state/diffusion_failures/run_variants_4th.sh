#!/bin/bash
# run_variants_4th.sh NAME CMD...: train with CMD (robolearn train, or python noise_train.py) the suite's state diffusion
# (x0, T_o 2, T ${PRED:-8}, T_a 1) at lr 1e-3, 6,000 steps, head seed ${SEED:-0}, plus CMD's flags; then 50 rollouts from seed
# 100000. Runs in a scratch folder holding the suite's demos.hdf5 (../diffusion_sweep.md): edit the cd first.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
cd /work/exp19d   # edit
NAME=$1; shift
RL=/work/main/.venv/bin/robolearn
date -u +"%T start $NAME" >> logs/progress
/usr/bin/time -v "$@" --data demos.hdf5 --encoder state --head diffusion --out pol_$NAME --optim.steps 6000 \
    --optim.batch-size 256 --optim.lr 1e-3 --optim.warmup-steps 50 --optim.eval-every 6000 --optim.seed ${SEED:-0} \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --obs-horizon 2 --pred-horizon ${PRED:-8} --action-horizon 1 > logs/train_$NAME.log 2>&1
$RL eval --policy pol_$NAME --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_$NAME > logs/eval_$NAME.log 2>&1
date -u +"%T done $NAME $(grep -o 'mean final success [0-9.]*' logs/eval_$NAME.log)" >> logs/progress
