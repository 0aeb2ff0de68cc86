"""Failure types of a diag_roll.py npz, at the end of the episode (last 50 steps), for every episode that is
not a strict success: is the pusher still at a block, or has it lost the blocks, and where is it?
After the last contact: does the policy head back to a block (as all 4 expert modes do) or drive on?

    python analyze2.py X.npz
"""
import sys, collections
import numpy as np

d = np.load(sys.argv[1])
ee, blk, act, exp, succ, entered = d["ee"], d["blk"], d["act"], d["exp"], d["succ"], d["entered"]
zone = d["zone"]
N = act.shape[0]
CONTACT = 0.06
types = collections.Counter(); ex = collections.defaultdict(list)
post = []  # per lost episode: cos(policy action, expert actions) in the 20 steps after losing contact
park = []
for i in range(N):
    L = int((~np.isnan(act[i, :, 0])).sum())
    s = np.nan_to_num(succ[i, :L]).max() >= 1; ne = int(np.nan_to_num(entered[i, :L]).max())
    if s:
        types["strict success"] += 1; continue
    E, B = ee[i, :L + 1], blk[i, :L + 1]
    dist = np.linalg.norm(B - E[:, None], axis=-1).min(1)
    contact = dist < CONTACT
    tail = slice(L - 50, L + 1)
    # blocks not yet in a zone at the end
    zd = np.array([min(np.abs(B[-1, b] - zone[i, j]).max() for j in range(2)) - 0.05 for b in range(2)])
    free = [b for b in range(2) if zd[b] > 0]
    dfree = np.linalg.norm(B[tail][:, free] - E[tail][:, None], axis=-1).min(-1) if free else np.zeros(1)
    tag = f"{ne} entered"
    if contact[tail].any() and (dfree < CONTACT).any():
        kind = "still at a block at the end (pushing, not finished)"
    else:
        ytail = E[tail, 1].mean()
        kind = ("lost the block(s): pusher parked at the zone row (y > 0.1)" if ytail > 0.1 else "lost the block(s): pusher elsewhere")
        park.append(dict(ep=i, ne=ne, y=float(ytail), tail_path=float(np.linalg.norm(np.diff(E[tail], axis=0), axis=-1).sum()),
                         dist=float(dfree.mean())))
        # the run without contact that ends the episode starts at lc + 1
        nz = np.nonzero(contact)[0]
        lc = int(nz.max()) if len(nz) else 0
        seg = slice(lc + 1, min(L, lc + 21))
        A, X = act[i, seg], exp[i, seg]
        if len(A):
            cos = (A[:, None] * X).sum(-1) / (np.linalg.norm(A, axis=-1)[:, None] * np.linalg.norm(X, axis=-1) + 1e-9)
            post.append(dict(ep=i, lc=lc, cos_best=float(cos.max(1).mean()), speed=float(np.linalg.norm(A, axis=-1).mean()),
                             exp_speed=float(np.linalg.norm(X, axis=-1).mean()), dy=float(E[min(L, lc + 20), 1] - E[lc, 1])))
    types[f"{tag}: {kind}"] += 1; ex[f"{tag}: {kind}"].append(i)
print(sys.argv[1], "N", N)
for k, v in sorted(types.items()):
    print(f"  {v:3d}  {k}  eps {ex.get(k, [])[:12]}")
if park:
    print("  lost episodes: pusher y over the last 50 steps mean %.3f; path in the last 50 steps %.1f cm; distance to the nearest free block %.1f cm"
          % (np.mean([p["y"] for p in park]), 100 * np.mean([p["tail_path"] for p in park]), 100 * np.mean([p["dist"] for p in park])))
if post:
    print("  after the last contact (20 steps): best cos(policy action, an expert mode's action) %.2f; policy |a| %.2f vs expert |a| %.2f; "
          "pusher moved dy %.1f cm (+ = up, toward the zones); last contact at step %.0f (median)"
          % (np.mean([p["cos_best"] for p in post]), np.mean([p["speed"] for p in post]), np.mean([p["exp_speed"] for p in post]),
             100 * np.mean([p["dy"] for p in post]), np.median([p["lc"] for p in post])))
