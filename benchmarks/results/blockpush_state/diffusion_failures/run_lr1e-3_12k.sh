#!/bin/bash
# BlockPush state diffusion (the suite's x0, 2/8/1) at lr 1e-3, 12,000 steps (2x the suite), head seed 0.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source "$(dirname "$0")/lr1e-3_job.sh"  # run NAME SEED T_O STEPS
cd /work/exp19c   # a scratch folder holding the suite's demos.hdf5 (../diffusion_sweep.md): edit first
run lr1e-3_12k_s0 0 2 12000
