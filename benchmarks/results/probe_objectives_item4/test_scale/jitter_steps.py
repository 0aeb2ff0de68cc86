"""Does the jitter test's assertion (shift with the default jitter < 0.6 x the shift without) hold at 100 steps?
Usage: MUJOCO_GL=egl TQDM_DISABLE=1 python jitter_steps.py 100,200 0,1,2   (steps, seeds; output: jitter_steps_log.txt)"""
import sys, time, pathlib, tempfile, torch
torch.set_num_threads(1)
ROOT = pathlib.Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "tests")); sys.path.insert(0, str(ROOT))
import robolearn.rendering  # noqa
from robolearn.config import CollectConfig
from robolearn.data.collect import collect
from robolearn.pretraining.dynamo import DynamoConfig
from test_dynamo import jitter_shifts

def main():
    tmp = pathlib.Path(tempfile.mkdtemp())
    data = collect(CollectConfig(env="robolearn/Reach-v0", episodes=20, image_size=32, seed=0, workers=1, out=tmp / "r.hdf5"))
    default = DynamoConfig().jitter
    for steps in map(int, sys.argv[1].split(",")):
        for seed in map(int, sys.argv[2].split(",")):
            t = time.time()
            s = jitter_shifts(data, tmp, steps, seed)
            print(f"steps {steps} seed {seed}: no jitter {s[0.0]:.3f}, default {s[default]:.3f}, "
                  f"ratio {s[default]/s[0.0]:.2f} ({time.time()-t:.0f} s)", flush=True)

if __name__ == "__main__":
    main()
