# The job that run_lr1e-3_seeds.sh, run_lr1e-3_12k.sh and run_variants_4th.sh ran, sourced by each (from their
# scratch folder, holding the suite's demos.hdf5): the suite's state diffusion (x0, T ${PRED:-8}, T_a 1) at lr
# 1e-3, trained, then 50 rollouts from seed 100000. Skips a job whose evaluation exists.
RL=/work/main/.venv/bin/robolearn
run() {  # NAME SEED T_O STEPS [TRAIN COMMAND AND ITS FLAGS; default: robolearn train]
  local name=$1 seed=$2 t_o=$3 steps=$4; shift 4
  [ $# -gt 0 ] || set -- $RL train
  [ -f e_$name/results.json ] && return
  date -u +"%T start $name" >> logs/progress
  /usr/bin/time -v "$@" --data demos.hdf5 --encoder state --head diffusion --out pol_$name --optim.steps $steps \
    --optim.batch-size 256 --optim.lr 1e-3 --optim.warmup-steps 50 --optim.eval-every $steps --optim.seed $seed \
    --wandb disabled --threads 1 --diffusion.prediction-type sample --obs-horizon $t_o --pred-horizon ${PRED:-8} \
    --action-horizon 1 > logs/train_$name.log 2>&1
  $RL eval --policy pol_$name --env robolearn/BlockPush-v0 --episodes 50 --seed 100000 --workers 1 \
    --envs-per-worker 50 --videos 0 --wandb disabled --threads 1 --out e_$name > logs/eval_$name.log 2>&1
  date -u +"%T done $name $(grep -o 'mean final success [0-9.]*' logs/eval_$name.log)" >> logs/progress
}
