#!/bin/bash
# run_variants_4th.sh NAME CMD...: train with CMD (robolearn train, or python noise_train.py, with its flags) the
# suite's state diffusion (x0, T_o ${TO:-2}, T ${PRED:-8}, T_a 1) at lr 1e-3, 6,000 steps, head seed ${SEED:-0};
# then 50 rollouts from seed 100000. Runs in a scratch folder holding the suite's demos.hdf5
# (../diffusion_sweep.md): edit the cd first.
export OMP_NUM_THREADS=1 TQDM_DISABLE=1 MUJOCO_GL=egl
source "$(dirname "$0")/lr1e-3_job.sh"  # run NAME SEED T_O STEPS [CMD...]
cd /work/exp19d   # edit
NAME=$1; shift
run "$NAME" "${SEED:-0}" "${TO:-2}" 6000 "$@"
