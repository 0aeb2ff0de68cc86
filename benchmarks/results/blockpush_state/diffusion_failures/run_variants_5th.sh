#!/bin/bash
# usage: PRED=4 [STEPS=6000] run_variants_5th.sh NAME SEED [extra train flags], e.g.
#   PRED=4 run_variants_5th.sh mlp256_s0 0 --diffusion.cond-mlp 256 256
# The suite's state diffusion (x0, T_o 2, T_a 1) at lr 1e-3 and STEPS steps (default 6,000), trained with the extra flags,
# then 50 rollouts from seed 100000 (the shared job, lr1e-3_job.sh). SCRATCH: a folder holding the suite's
# demos.hdf5 and a logs/ folder.
cd "${SCRATCH:-/work/exp19e}"
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source /work/main/benchmarks/results/blockpush_state/diffusion_failures/lr1e-3_job.sh
name=$1 seed=$2; shift 2
run $name $seed 2 ${STEPS:-6000} $RL train "$@"
