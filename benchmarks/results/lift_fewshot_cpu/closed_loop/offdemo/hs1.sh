#!/bin/bash
# exp18b: head-seed check: the bench's dynamo and idm heads retrained with head seed 1 on the SAME seed-0 encoders, 50 rollouts each.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
cd /work/main
while kill -0 32511 2>/dev/null; do sleep 5; done
for e in dynamo idm; do HEADSEED=1 .venv/bin/python /work/exp18b/exp18b_trainfix.py $e bench /work/exp18b/pol_hs1/$e > /work/exp18b/train_hs1_$e.log 2>&1; done
for e in dynamo idm; do bash /work/exp18b/exp18b_eval.sh /work/exp18b/pol_hs1/$e /work/exp18b/eval/$e-headseed1 > /work/exp18b/eval_hs1_$e.log 2>&1; done
