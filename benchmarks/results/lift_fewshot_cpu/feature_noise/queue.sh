# The job both queues (run.sh, run2.sh) ran, sourced by them: train one head with exp18b_trainfix.py, then
# 50 rollouts with exp18b_eval.sh (both in ../closed_loop/offdemo/). Skips a job whose evaluation exists.
run() {  # ENC FIX HEADSEED
  n=$1-${2/:/}-hs$3
  [ -f /work/exp18c/eval/$n/results.json ] && return
  date -u +"%T start $n" >> /work/exp18c/logs/progress
  HEADSEED=$3 .venv/bin/python /work/exp18b/exp18b_trainfix.py $1 $2 /work/exp18c/pol/$n > /work/exp18c/logs/train_$n.log 2>&1
  bash /work/exp18b/exp18b_eval.sh /work/exp18c/pol/$n /work/exp18c/eval/$n > /work/exp18c/logs/eval_$n.log 2>&1
  date -u +"%T done $n $(grep -o 'mean final success [0-9.]*' /work/exp18c/logs/eval_$n.log)" >> /work/exp18c/logs/progress
}
