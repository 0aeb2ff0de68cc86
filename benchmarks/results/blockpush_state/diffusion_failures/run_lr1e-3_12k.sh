#!/bin/bash
# BlockPush state diffusion (the suite's x0, 2/8/1) at lr 1e-3, 12,000 steps (2x the suite), head seed 0.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
cd /work/exp19c   # a scratch folder holding the suite's demos.hdf5 (../diffusion_sweep.md): edit first
RL=/work/main/.venv/bin/robolearn
run() {  # NAME SEED STEPS
  [ -f e_$1/results.json ] && return
  date -u +"%T start $1" >> logs/progress
  /usr/bin/time -v $RL train --data demos.hdf5 --encoder state --head diffusion --out pol_$1 --optim.steps $3 \
    --optim.batch-size 256 --optim.lr 1e-3 --optim.warmup-steps 50 --optim.eval-every $3 --optim.seed $2 \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --obs-horizon 2 --pred-horizon 8 --action-horizon 1 > logs/train_$1.log 2>&1
  $RL eval --policy pol_$1 --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_$1 > logs/eval_$1.log 2>&1
  date -u +"%T done $1 $(grep -o 'mean final success [0-9.]*' logs/eval_$1.log)" >> logs/progress
}
run lr1e-3_12k_s0 0 12000
