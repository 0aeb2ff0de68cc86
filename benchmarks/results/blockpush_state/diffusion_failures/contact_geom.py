"""Where the pusher meets the block: lateral offset from the block->zone line and position along it, over the
first 10 contact steps (policy rollouts vs expert-driven), by episode outcome. python contact_geom.py X.npz [...]"""
import sys, numpy as np
CONTACT = 0.06
for f in sys.argv[1:]:
    d = np.load(f); out = {}
    for i in range(d["act"].shape[0]):
        L = int((~np.isnan(d["act"][i, :, 0])).sum())
        s = np.nan_to_num(d["succ"][i, :L]).max() >= 1
        E, B, Z = d["ee"][i, :L + 1], d["blk"][i, :L + 1], d["zone"][i]
        lost = (not s) and d["ee"][i, L - 50:L, 1].mean() > 0.1 and (np.linalg.norm(B[L - 50:] - E[L - 50:, None], axis=-1).min() > CONTACT)
        key = "success" if s else ("lost (parked at zones)" if lost else "other failure")
        lats, alongs = [], []
        for t in range(L + 1):
            dist = np.linalg.norm(B[t] - E[t], axis=-1)
            b = int(dist.argmin())
            if dist[b] >= CONTACT:
                continue
            best = None
            for z in Z:
                u = (z - B[t, b]) / np.linalg.norm(z - B[t, b]); n = np.array([-u[1], u[0]])
                r = E[t] - B[t, b]
                if best is None or abs(r @ n) < abs(best[0]):
                    best = (r @ n, r @ u)
            lats.append(abs(best[0])); alongs.append(best[1])
            if len(lats) == 10:
                break
        if lats:
            out.setdefault(key, []).append((np.median(lats), np.mean(np.array(alongs) > -0.035)))
    print(f)
    for k, v in out.items():
        v = np.array(v)
        print(f"  {k:24s} n {len(v):2d}: first 10 contact steps: median |lateral offset| {100 * np.median(v[:, 0]):.1f} cm "
              f"(episodes with > 2.5 cm: {int((v[:, 0] > 0.025).sum())}); share of contact steps beside/ahead of the block (not behind it): {v[:, 1].mean():.2f}")
