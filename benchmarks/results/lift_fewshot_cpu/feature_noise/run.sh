#!/bin/bash
# exp18c: does Gaussian noise on the standardized frozen embedding during head training (noise:S, exp18b_trainfix.py)
# lift DynaMo + MLP's closed loop on the lift-fewshot seed-0 encoder? 3 head seeds per setting, 50 rollouts each.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
cd /work/main
run() {  # ENC FIX HEADSEED
  n=$1-${2/:/}-hs$3
  [ -f /work/exp18c/eval/$n/results.json ] && return
  date -u +"%T start $n" >> /work/exp18c/logs/progress
  HEADSEED=$3 .venv/bin/python /work/exp18b/exp18b_trainfix.py $1 $2 /work/exp18c/pol/$n > /work/exp18c/logs/train_$n.log 2>&1
  bash /work/exp18b/exp18b_eval.sh /work/exp18c/pol/$n /work/exp18c/eval/$n > /work/exp18c/logs/eval_$n.log 2>&1
  date -u +"%T done $n $(grep -o 'mean final success [0-9.]*' /work/exp18c/logs/eval_$n.log)" >> /work/exp18c/logs/progress
}
for s in 0 1 2; do run dynamo noise:0.5 $s; done
run dynamo bench 2
for s in 0 1 2; do run dynamo noise:1.0 $s; done
for s in 0 1 2; do run idm noise:0.5 $s; done
for s in 0 1 2; do run none noise:0.5 $s; done
