"""exp18: how precisely the cube-gripper offset reads out of [embedding, proprio] where it matters (pre-grasp frames
within 3 cm of the cube in xy, i.e. the final approach/descent): RMSE in mm of rel_x, rel_y, rel_z, and
cube_yaw (deg), ridge fit on the 20 head demos (few) or 180 pool demos (many), scored on the 20 pool valid demos.
Uses the embedding cache written by exp18_probe.py.    python exp18_precision.py LABEL [LABEL ...]"""
import sys, numpy as np
from pathlib import Path
sys.path.insert(0, "/work/exp18")
from exp18_probe import ridge_pred, data, ROOT, CACHE, cat
from robolearn.data.store import open_store

head, pool = open_store(ROOT / "demos.hdf5"), open_store(ROOT / "pretrain_demos.hdf5")
few, train, valid = head.demo_names(None), pool.demo_names("train"), pool.demo_names("valid")
hd, pd = data(head, few), data(pool, train + valid)
fv = cat(pd, valid, "feats"); post = cat(pd, valid, "post")
near = (~post) & (np.linalg.norm(fv[:, 7:9], axis=1) < 0.03)
far = (~post) & ~near
print(f"{near.sum()} near-approach frames, {far.sum()} far pre-grasp frames in valid\n")
print("| encoder | fit | rel_x mm near | rel_y mm near | rel_z mm near | yaw deg near | rel_x mm far | rel_y mm far |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for lab in sys.argv[1:]:
    if lab == "proprio":
        eh = {d: np.zeros((len(hd[d]["act"]), 1)) for d in few}; ep = {d: np.zeros((len(pd[d]["act"]), 1)) for d in train + valid}
    else:
        z = np.load(next(CACHE.glob(f"*-{lab}.npz")))
        eh = {d: z["h/" + d] for d in few}; ep = {d: z["p/" + d] for d in train + valid}
    X = lambda e, dd, demos: np.concatenate([np.concatenate([e[d] for d in demos]), cat(dd, demos, "proprio")], 1)
    for src, e_, dd, demos in [("few", eh, hd, few), ("many", ep, pd, train)]:
        p = ridge_pred(X(e_, dd, demos), cat(dd, demos, "feats"), X(ep, pd, valid))
        err = p - fv
        rm = lambda m, j, s=1000: np.sqrt((err[m, j] ** 2).mean()) * s
        print(f"| {lab} | {src} | {rm(near,7):.1f} | {rm(near,8):.1f} | {rm(near,9):.1f} | {rm(near,3,57.3):.1f} | "
              f"{rm(far,7):.1f} | {rm(far,8):.1f} |")
