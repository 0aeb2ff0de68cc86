"""Scratch experiment: train a diffusion head on the first N train demos' state windows, then measure
(a) eps loss, (b) sampled-action error on train windows, (c) rollouts. Not committed."""
import argparse, json, time, copy, math
import numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy
from robolearn.policies.diffusion import DiffusionHead, DiffusionConfig
from robolearn.data.store import open_store
from robolearn.train import demo_features, feature_windows
from robolearn.trainer import lr_lambda
from robolearn.envs import make_env
p = argparse.ArgumentParser()
p.add_argument("--base", default="/tmp/i19/bench_state_10/blockpush/pol/state-diffusion-s0")
p.add_argument("--demos", type=int, default=20); p.add_argument("--steps", type=int, default=2000)
p.add_argument("--lr", type=float, default=3e-4); p.add_argument("--batch", type=int, default=256)
p.add_argument("--dims", default="32,64,128"); p.add_argument("--to", type=int, default=2)
p.add_argument("--tp", type=int, default=16); p.add_argument("--tas", default="8,1")
p.add_argument("--episodes", type=int, default=20); p.add_argument("--isteps", type=int, default=10)
p.add_argument("--clip", type=float, default=1.0); p.add_argument("--warmup", type=int, default=50)
p.add_argument("--step-embed", type=int, default=128); p.add_argument("--save", default=None); p.add_argument("--obs-hidden", type=int, default=0)
a = p.parse_args(); torch.manual_seed(0)
base = Policy.load(a.base)
store = open_store(base.meta["data"])
demos = store.demo_names("train")[: a.demos]
feats = demo_features(base.features, store, demos, [])
acts = {d: base.normalizer.normalize("actions", store.actions(d)) for d in demos}
x, y, pad = feature_windows(feats, acts, demos, a.to, a.tp)
cfg = DiffusionConfig(down_dims=tuple(int(v) for v in a.dims.split(",")), inference_steps=a.isteps, step_embed=a.step_embed)
head = DiffusionHead(x.shape[-1], 2, a.to, a.tp, cfg)
opt = torch.optim.AdamW(head.param_groups()[0]["params"], lr=a.lr, betas=(0.95, 0.999), weight_decay=1e-6)
sch = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(a.warmup, a.steps))
g = torch.Generator().manual_seed(0); n = len(x); t0 = time.time(); losses = []
head.train()
for step in range(a.steps):
    idx = torch.randint(0, n, (a.batch,), generator=g)
    loss, _ = head.loss(x[idx], y[idx], pad[idx])
    opt.zero_grad(); loss.backward()
    if a.clip > 0: torch.nn.utils.clip_grad_norm_(head.parameters(), a.clip)
    opt.step(); sch.step(); head.after_step(step + 1, a.steps); losses.append(float(loss))
train_s = time.time() - t0
head.eval()
sub = torch.randperm(n, generator=g)[:1500]
with torch.no_grad():
    preds = torch.stack([head.predict(x[sub], generator=g) for _ in range(4)])
ys, ps = y[sub], pad[sub]; w = (~ps).float()[..., None]
err = (((preds - ys[None]) ** 2) * w).sum((2, 3)) / (w.sum((1, 2)) * 2)[None]
out = {"demos": a.demos, "windows": n, "steps": a.steps, "epochs": round(a.steps * a.batch / n, 1), "lr": a.lr,
       "dims": a.dims, "to": a.to, "tp": a.tp, "train_s": round(train_s), "loss_last200": round(float(np.mean(losses[-200:])), 4),
       "chunk_mse": round(float(err[0].mean()), 4), "chunk_mse_best4": round(float(err.min(0).values.mean()), 4),
       "first_l1": round(float((preds[0, :, 0] - ys[:, 0]).abs().mean()), 4), "first_spread": round(float(preds[:, :, 0].std(0).mean()), 4)}
meta = dict(base.meta, obs_horizon=a.to, pred_horizon=a.tp)
for ta in [int(v) for v in a.tas.split(",") if v]:
    pol = Policy(base.features, head, base.normalizer, dict(meta, action_horizon=ta))
    envs = [make_env(pol.env_id, **pol.env_kwargs) for _ in range(a.episodes)]
    obs = [e.reset(seed=100000 + i)[0] for i, e in enumerate(envs)]
    done = np.zeros(len(envs), bool); infos = [{}] * len(envs); succ = np.zeros(len(envs)); rg = torch.Generator().manual_seed(1)
    for t in range(200):
        act = pol.select_action({k: np.stack([o[k] for o in obs]) for k in pol.lowdim_keys}, generator=rg)
        for i, e in enumerate(envs):
            if done[i]: continue
            o, r, term, trunc, info = e.step(act[i]); obs[i] = o; infos[i] = info
            succ[i] = max(succ[i], float(info.get("success", 0)) >= 1.0); done[i] = term
        if done.all(): break
    ent = [int(i.get("blocks_entered", 0)) for i in infos]; modes = [int(i.get("mode_executed", -1)) for i in infos]
    out[f"ta{ta}"] = f"{int(succ.sum())}/{len(envs)} e1 {sum(e >= 1 for e in ent)} e2 {sum(e >= 2 for e in ent)} modes {[modes.count(m) for m in range(4)]}"
print(json.dumps(out))
if a.save: torch.save(head.state_dict(), a.save)
