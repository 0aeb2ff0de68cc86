#!/bin/bash
# exp18c, second queue: noise:2.0 on the DynaMo seed-0 encoder, head seeds 0 and 1 (after run.sh's noise:1.0 hs2)
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
cd /work/main
while [ ! -f /work/exp18c/eval/dynamo-noise1.0-hs2/results.json ]; do sleep 5; done
pkill -f /work/exp18c/run.sh
run() {  # ENC FIX HEADSEED
  n=$1-${2/:/}-hs$3
  [ -f /work/exp18c/eval/$n/results.json ] && return
  date -u +"%T start $n" >> /work/exp18c/logs/progress
  HEADSEED=$3 .venv/bin/python /work/exp18b/exp18b_trainfix.py $1 $2 /work/exp18c/pol/$n > /work/exp18c/logs/train_$n.log 2>&1
  bash /work/exp18b/exp18b_eval.sh /work/exp18c/pol/$n /work/exp18c/eval/$n > /work/exp18c/logs/eval_$n.log 2>&1
  date -u +"%T done $n $(grep -o 'mean final success [0-9.]*' /work/exp18c/logs/eval_$n.log)" >> /work/exp18c/logs/progress
}
run dynamo noise:2.0 0
run dynamo noise:2.0 1
run dynamo noise:4.0 0
