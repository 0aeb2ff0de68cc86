#!/bin/bash
# One GPU session of the `device` tool (an H200 with 16 cores, Python 3.12 + CUDA torch, no network):
# carried wheels and GL libraries, the DynaMo throughput figure, then `robolearn bench --suite gpu`.
# Prepare here first (once): .whl/ with the cp312 wheels of mujoco, glfw, pyopengl, gymnasium,
# farama-notifications, tyro, docstring-parser, typeguard, diffusers, importlib_metadata; .gl/ with the
# Debian GL packages (see the device tool's README). Run as:
#   run(command="bash benchmarks/gpu_session.sh", carry=[".whl", ".gl"], timeout_s=600)
# Prints a short table last; results come back in $OUT (bench.tgz, throughput.txt).
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
BENCH_S=${BENCH_S:-420}
T0=$(date +%s)
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
# robolearn itself, laid out as installed (envs/, policies/, data/ under the robolearn package).
# (python -m puts the working directory first on sys.path, so the links go into this copy's package.)
for d in envs policies data; do [ -e "robolearn/$d" ] || ln -s "../$d" "robolearn/$d"; done
export PYTHONPATH=/tmp/site MUJOCO_GL=egl PYOPENGL_PLATFORM=egl WANDB_MODE=disabled TQDM_DISABLE=1 PYTHONUNBUFFERED=1
python3 - <<'PY' || { export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json; echo "retrying EGL with the NVIDIA vendor file"; }
from robolearn.envs import make_env
env = make_env("robolearn/BlockPush-v0", image_size=64)
obs, _ = env.reset(seed=0)
assert obs["overview_image"].std() > 1, "blank frame"
print("render ok", obs["overview_image"].shape)
PY
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
echo "setup $(( $(date +%s) - T0 )) s"
# The DynaMo step (issue 12): ResNet-18, 224 px, window 5, batch 64; compiled, then eager.
[ -z "${SKIP_TP:-}" ] && timeout 150 python3 benchmarks/pretrain_throughput.py --encoder resnet18 --image-size 224 --steps 20 --warmup 5 2>&1 | tail -8 | tee "$OUT/throughput.txt"
[ -n "${EAGER:-}" ] && timeout 60 python3 benchmarks/pretrain_throughput.py --encoder resnet18 --image-size 224 --steps 20 --warmup 3 --no-compile 2>&1 | tail -4 | tee -a "$OUT/throughput.txt"
echo "throughput done $(( $(date +%s) - T0 )) s"
timeout "$BENCH_S" python3 -m robolearn.cli bench --suite gpu --out /tmp/bench --jobs 12 --threads 1 --videos 0 > "$OUT/bench.log" 2>&1
echo "bench exit $? after $(( $(date +%s) - T0 )) s"
python3 -m robolearn.cli bench --suite gpu --out /tmp/bench --report-only --videos 0 >/dev/null 2>&1
tar czf "$OUT/bench.tgz" -C /tmp/bench --exclude='*.hdf5' --exclude='*.safetensors' --exclude='embeddings' --exclude='checkpoint' . 2>/dev/null
tail -5 "$OUT/bench.log"
python3 - <<'PY'
import json
rows = json.load(open("/tmp/bench/results.json"))["rows"]
print(f"{'task':10} {'encoder':8} {'head':6} {'solved':>9} {'rate':>5}  95% CI")
for r in rows:
    print(f"{r['task']:10} {r['encoder']:8} {r['head']:6} {r['successes']:>4}/{r['episodes']:<4} {r['success']:.2f}  [{r['ci_low']:.2f}, {r['ci_high']:.2f}]")
PY
