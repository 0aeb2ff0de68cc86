"""exp18: per-dimension probes of frozen Lift encoders (state features, cube-relative position, actions),
overall and split by phase (before the expert first closes the gripper vs after).

    python exp18_probe.py ENC_DIR [ENC_DIR ...]      (labels = folder names)
Root: /work/exp18/bench/lift-fewshot (demos.hdf5 = 20 head demos, pretrain_demos.hdf5 = pool).
"""
import robolearn.rendering  # noqa
import os, sys, json
from pathlib import Path
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np, torch
from robolearn.data.store import open_store
from robolearn.data.windows import resolve_cameras
from robolearn.embeddings import embed_demos
from robolearn.encoders import load_encoder

ROOT = Path("/work/exp18/bench/lift-fewshot")
CACHE = Path("/work/exp18/emb_cache"); CACHE.mkdir(exist_ok=True)
ALPHA = 1e-2


def ridge_pred(tx, ty, vx, alpha=ALPHA):
    tx, ty, vx = (np.asarray(a, np.float64) for a in (tx, ty, vx))
    mx, sx = tx.mean(0), tx.std(0) + 1e-8
    my = ty.mean(0)
    a = np.concatenate([(tx - mx) / sx, np.ones((len(tx), 1))], 1)
    b = np.concatenate([(vx - mx) / sx, np.ones((len(vx), 1))], 1)
    reg = alpha * len(a) * np.eye(a.shape[1]); reg[-1, -1] = 0
    w = np.linalg.solve(a.T @ a + reg, a.T @ (ty - my))
    return b @ w + my


def r2(pred, y, var):
    return 1 - ((y - pred) ** 2).mean(0) / np.maximum(var, 1e-12)


def data(store, demos):
    out = {}
    for d in demos:
        tf = store.task_features(d)                 # cube xyz, yaw, eef xyz
        pr = store.obs(d, "proprio")
        act = store.actions(d)
        closed = np.cumsum(act[:, 6] > 0) > 0      # from the expert's first close command on
        feats = np.concatenate([tf, tf[:, :3] - tf[:, 4:7], pr[:, 7:8] - pr[:, 8:9]], 1)
        out[d] = dict(feats=feats, proprio=pr, act=act, post=closed)
    return out


FEAT = ["cube_x", "cube_y", "cube_z", "cube_yaw", "eef_x", "eef_y", "eef_z", "rel_x", "rel_y", "rel_z", "finger"]
ACT = ["dx", "dy", "dz", "rx", "ry", "rz", "grip"]


def cat(dd, demos, k):
    return np.concatenate([dd[d][k] for d in demos])


def main():
    torch.set_num_threads(1)
    head, pool = open_store(ROOT / "demos.hdf5"), open_store(ROOT / "pretrain_demos.hdf5")
    cams = resolve_cameras(head, None)
    few, train, valid = head.demo_names(None), pool.demo_names("train"), pool.demo_names("valid")
    hd, pd = data(head, few), data(pool, train + valid)
    res = {}
    encs = [Path(p) for p in sys.argv[1:]]
    for enc_dir in [None] + encs:  # None: proprio only
        label = "proprio-only" if enc_dir is None else enc_dir.name
        if enc_dir is None:
            eh = {d: hd[d]["proprio"] for d in few}; ep = {d: pd[d]["proprio"] for d in train + valid}
        else:
            cf = CACHE / f"{enc_dir.parent.parent.name}-{label}.npz"
            if cf.exists():
                z = np.load(cf); eh = {d: z["h/" + d] for d in few}; ep = {d: z["p/" + d] for d in train + valid}
            else:
                enc = load_encoder(enc_dir); enc = enc[0] if isinstance(enc, tuple) else enc
                eh = embed_demos(enc, head, cams, few, progress=False)
                ep = embed_demos(enc, pool, cams, train + valid, progress=False)
                np.savez(cf, **{"h/" + d: v for d, v in eh.items()}, **{"p/" + d: v for d, v in ep.items()})
        X = lambda e, dd, demos, prop: np.concatenate([cat({d: {"e": e[d]} for d in demos}, demos, "e")] +
                                                       ([cat(dd, demos, "proprio")] if prop else []), 1)
        post_v = cat(pd, valid, "post"); post_t = cat(pd, train, "post")
        r = {}
        # state features: fit on pool train, score on pool valid (all / pre / post)
        if enc_dir is not None:
            ty, vy = cat(pd, train, "feats"), cat(pd, valid, "feats")
            p = ridge_pred(X(ep, pd, train, False), ty, X(ep, pd, valid, False))
            allv = np.concatenate([ty, vy])
            r["feat_all"] = r2(p, vy, allv.var(0)).tolist()
            for name, m_v, m_t in [("feat_pre", ~post_v, ~post_t), ("feat_post", post_v, post_t)]:
                r[name] = r2(p[m_v], vy[m_v], allv.var(0)).tolist()  # phase MSE / overall variance
        # actions: fit on 20 head demos / 180 pool demos, with and without proprio, score on pool valid
        ty_all = np.concatenate([cat(hd, few, "act"), cat(pd, train, "act"), cat(pd, valid, "act")])
        vy = cat(pd, valid, "act")
        for prop in ([False, True] if enc_dir is not None else [True]):
            for src, e_, dd, demos in [("few", eh, hd, few), ("many", ep, pd, train)]:
                p = ridge_pred(X(e_, dd, demos, prop), cat(dd, demos, "act"), X(ep, pd, valid, prop))
                key = f"act_{src}{'_prop' if prop else ''}"
                r[key] = r2(p, vy, ty_all.var(0)).tolist()
                for ph, m in [("pre", ~post_v), ("post", post_v)]:
                    r[key + "_" + ph] = r2(p[m], vy[m], ty_all.var(0)).tolist()
        res[label] = r
        print(label, json.dumps({k: [round(x, 2) for x in v] for k, v in r.items()}), flush=True)
    out = Path("/work/exp18") / ("probe_" + "_".join(e.name for e in encs) + ".json")
    out.write_text(json.dumps({"FEAT": FEAT, "ACT": ACT, "res": res}, indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
