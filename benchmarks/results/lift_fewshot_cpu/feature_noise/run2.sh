#!/bin/bash
# exp18c, second queue: noise:2.0 on the DynaMo seed-0 encoder, head seeds 0 and 1 (after run.sh's noise:1.0 hs2)
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source "$(dirname "$0")/queue.sh"  # run(): one head, trained then evaluated
cd /work/main
while [ ! -f /work/exp18c/eval/dynamo-noise1.0-hs2/results.json ]; do sleep 5; done
pkill -f /work/exp18c/run.sh
run dynamo noise:2.0 0
run dynamo noise:2.0 1
run dynamo noise:4.0 0
