import sys, numpy as np, torch
torch.set_num_threads(1)
from robolearn.data.store import open_store
from robolearn.encoders import load_encoder
from robolearn.probes import ridge_r2
def cv_probe(enc_dir, data, folds=5):
    enc, _ = load_encoder(enc_dir)
    with open_store(data) as s:
        names = s.demo_names(None)
        X = [s.images(d, ["top"]) for d in names]; Y = [s.task_features(d) for d in names]
    with torch.no_grad():
        E = [enc(torch.from_numpy(x)).numpy() for x in X]
    r = []
    for f in range(folds):
        te = [i for i in range(len(names)) if i % folds == f]; tr = [i for i in range(len(names)) if i % folds != f]
        r.append(ridge_r2(np.concatenate([E[i] for i in tr]), np.concatenate([Y[i] for i in tr]),
                          np.concatenate([E[i] for i in te]), np.concatenate([Y[i] for i in te])).mean())
    return float(np.mean(r))
for d in sys.argv[1:]:
    print(d, round(cv_probe(d, "reach32.hdf5"), 3), flush=True)
