#!/bin/bash
# exp19c: BlockPush state diffusion (the suite's x0, 2/8/1, 6,000 steps) at lr 1e-3: more head seeds, and T_o 3.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source "$(dirname "$0")/lr1e-3_job.sh"  # run NAME SEED T_O STEPS
cd /work/exp19c   # a scratch folder holding the suite's demos.hdf5 (../diffusion_sweep.md): edit first
run lr1e-3_s1 1 2 6000
run lr1e-3_to3_s0 0 3 6000
run lr1e-3_s2 2 2 6000
