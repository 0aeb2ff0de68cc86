"""exp18b: do a policy's failures sit at start states the 20 head demos cover poorly? For evaluation seeds
100000..100049: the cube's start x, y, yaw (mod 90 deg); distance to the nearest head-train demo's start (cm, with
yaw at 1 cm per 10 deg); success per policy from eval folders.   python exp18b_starts.py LABEL=EVAL_DIR ...
"""
import robolearn.rendering  # noqa
import sys, json, numpy as np
from robolearn.evaluation.workers import make_eval_env
from robolearn.envs import get_task
from robolearn.data.store import open_store
store = open_store("/work/exp18b/bench/lift-fewshot/demos.hdf5")
tr = np.stack([store.task_features(d)[0] for d in store.demo_names("train")])  # cube xyz, yaw, eef xyz at t=0
env = make_eval_env("robosuite/Lift-v0", dict(image_size=32, cameras=["agentview", "robot0_eye_in_hand"], render=False), False)
task = get_task("robosuite/Lift-v0")
starts = []
for e in range(50):
    env.reset(seed=100000 + e); starts.append(task.task_features(env))
starts = np.stack(starts)
key = lambda f: np.concatenate([f[:, :2] * 100, np.degrees(f[:, 3:4]) / 10], 1)
nn = np.array([np.sqrt(((key(tr) - k) ** 2).sum(1)).min() for k in key(starts)])
print(f"head-train demo starts: cube x {tr[:,0].min()*100:.1f}..{tr[:,0].max()*100:.1f} cm, y {tr[:,1].min()*100:.1f}..{tr[:,1].max()*100:.1f}, yaw {np.degrees(tr[:,3]).min():.0f}..{np.degrees(tr[:,3]).max():.0f} deg")
for arg in sys.argv[1:]:
    lab, d = arg.split("=", 1)
    ok = np.array([p["success"] for p in json.load(open(f"{d}/results.json"))["per_episode"]])
    print(f"{lab}: {ok.sum()}/50; nn-to-demo-start (cm-equiv) success {nn[ok].mean():.2f} vs fail {nn[~ok].mean():.2f}; "
          f"|yaw| deg success {np.degrees(np.abs(starts[ok,3])).mean():.0f} vs fail {np.degrees(np.abs(starts[~ok,3])).mean():.0f}; "
          f"cube x cm success {starts[ok,0].mean()*100:.1f} vs fail {starts[~ok,0].mean()*100:.1f}; failed eps {np.nonzero(~ok)[0].tolist()}")
np.savez("/work/exp18b/starts.npz", starts=starts, nn=nn)
