# The job run_lr1e-3_seeds.sh and run_lr1e-3_12k.sh ran, sourced by both (from their scratch folder, holding
# the suite's demos.hdf5): the suite's state diffusion (x0, T 8, T_a 1) at lr 1e-3, trained, then 50 rollouts
# from seed 100000. Skips a job whose evaluation exists.
RL=/work/main/.venv/bin/robolearn
run() {  # NAME SEED T_O STEPS
  [ -f e_$1/results.json ] && return
  date -u +"%T start $1" >> logs/progress
  /usr/bin/time -v $RL train --data demos.hdf5 --encoder state --head diffusion --out pol_$1 --optim.steps $4 \
    --optim.batch-size 256 --optim.lr 1e-3 --optim.warmup-steps 50 --optim.eval-every $4 --optim.seed $2 \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --obs-horizon $3 --pred-horizon 8 --action-horizon 1 > logs/train_$1.log 2>&1
  $RL eval --policy pol_$1 --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_$1 > logs/eval_$1.log 2>&1
  date -u +"%T done $1 $(grep -o 'mean final success [0-9.]*' logs/eval_$1.log)" >> logs/progress
}
