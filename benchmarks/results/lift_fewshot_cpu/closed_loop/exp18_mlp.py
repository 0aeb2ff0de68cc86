"""exp18: nonlinear few-demo action read-out, the bench head's shape (MLP 4x256 GELU, dropout 0.1, AdamW lr 1e-3,
wd 1e-4, 1500 steps, batch 256) on [embedding standardized with head-demo stats, proprio standardized], trained on
the 20 head demos to the current action; R² per action dim on the 20 pool valid demos (all / pre-grasp frames)."""
import sys, numpy as np, torch, torch.nn as nn
sys.path.insert(0, "/work/exp18")
from exp18_probe import data, ROOT, CACHE, cat, r2
from robolearn.data.store import open_store
torch.set_num_threads(1)
head, pool = open_store(ROOT / "demos.hdf5"), open_store(ROOT / "pretrain_demos.hdf5")
few, train, valid = head.demo_names(None), pool.demo_names("train"), pool.demo_names("valid")
hd, pd = data(head, few), data(pool, train + valid)
vy = cat(pd, valid, "act"); var = np.concatenate([cat(hd, few, "act"), cat(pd, train, "act"), vy]).var(0)
pre = ~cat(pd, valid, "post")
print("| encoder | frames | dx | dy | dz | rx | ry | rz | grip | mean |\n|" + " --- |" * 10)
for lab in sys.argv[1:]:
    z = np.load(next(CACHE.glob(f"*-{lab}.npz")))
    X = lambda p, dd, demos: np.concatenate([np.concatenate([z[p + d] for d in demos]), cat(dd, demos, "proprio")], 1)
    tx, ty, vx = X("h/", hd, few), cat(hd, few, "act"), X("p/", pd, valid)
    m, s = tx.mean(0), tx.std(0) + 1e-6
    tx, vx = [torch.tensor((a - m) / s, dtype=torch.float32) for a in (tx, vx)]
    ty = torch.tensor(ty, dtype=torch.float32)
    rs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        layers, d = [], tx.shape[1]
        for _ in range(4):
            layers += [nn.Linear(d, 256), nn.GELU(), nn.Dropout(0.1)]; d = 256
        net = nn.Sequential(*layers, nn.Linear(d, 7))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
        for step in range(1500):
            idx = torch.randint(0, len(tx), (256,))
            loss = (net(tx[idx]) - ty[idx]).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        net.eval()
        with torch.no_grad():
            p = net(vx).clamp(-1, 1).numpy()
        rs.append((r2(p, vy, var), r2(p[pre], vy[pre], var)))
    for i, fr in enumerate(("all", "pre")):
        r = np.mean([x[i] for x in rs], 0)
        print(f"| {lab} | {fr} | " + " | ".join(f"{x:.2f}" for x in r) + f" | {r.mean():.2f} |", flush=True)
