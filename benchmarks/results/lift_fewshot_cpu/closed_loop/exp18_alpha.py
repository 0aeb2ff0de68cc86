"""exp18: few-demo (20 head demos) action read-out from [embedding, proprio] vs ridge alpha; R² per action dim on pool valid."""
import sys, numpy as np
sys.path.insert(0, "/work/exp18")
from exp18_probe import ridge_pred, data, ROOT, CACHE, cat, r2
from robolearn.data.store import open_store
head, pool = open_store(ROOT / "demos.hdf5"), open_store(ROOT / "pretrain_demos.hdf5")
few, train, valid = head.demo_names(None), pool.demo_names("train"), pool.demo_names("valid")
hd, pd = data(head, few), data(pool, train + valid)
vy = cat(pd, valid, "act"); var = np.concatenate([cat(hd, few, "act"), cat(pd, train, "act"), vy]).var(0)
print("| encoder | alpha | dx | dy | dz | rx | ry | rz | grip | mean |\n|" + " --- |" * 10)
for lab in sys.argv[1:]:
    z = np.load(next(CACHE.glob(f"*-{lab}.npz")))
    X = lambda pre, dd, demos: np.concatenate([np.concatenate([z[pre + d] for d in demos]), cat(dd, demos, "proprio")], 1)
    for a in (0.01, 0.1, 1.0, 10.0):
        r = r2(ridge_pred(X("h/", hd, few), cat(hd, few, "act"), X("p/", pd, valid), alpha=a), vy, var)
        print(f"| {lab} | {a} | " + " | ".join(f"{x:.2f}" for x in r) + f" | {r.mean():.2f} |")
