"""Diagnostic rollouts (issue 19, helper exp19b): batched rollouts of a policy on BlockPush, recording
the physics each step (pusher, blocks, yaws, zones), the executed action, the 4 expert-mode actions at
the same state (the expert is memoryless given the mode), and every `--spread-every` steps K extra
first-action samples of the policy at the same history (a separate generator, so the rollout itself is
unchanged). `--driver expert`: the scripted expert (random mode per episode, DART noise 0.2) drives
the env and the policy is only queried (its samples at on-distribution states).

    OMP_NUM_THREADS=1 MUJOCO_GL=egl python diag_roll.py POL --out X.npz [--ta 1] [--n 50]
"""
import argparse, json, time
import numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy
from robolearn.envs import make_env
from robolearn.envs.blockpush import BlockPushExpert

p = argparse.ArgumentParser()
p.add_argument("pol"); p.add_argument("--n", type=int, default=50); p.add_argument("--ta", type=int, default=None)
p.add_argument("--isteps", type=int, default=None); p.add_argument("--seed", type=int, default=100000)
p.add_argument("--horizon", type=int, default=200); p.add_argument("--k", type=int, default=16)
p.add_argument("--spread-every", type=int, default=5); p.add_argument("--driver", default="policy")
p.add_argument("--gen-seed", type=int, default=0); p.add_argument("--out", required=True)
p.add_argument("--noise-scale", type=float, default=1.0, help="diagnostic: scale of the initial DDIM noise (1 = the method)")
p.add_argument("--fixed-noise", action="store_true", help="diagnostic: one initial noise per episode, reused every step")
a = p.parse_args()
pol = Policy.load(a.pol)
if a.ta: pol.action_horizon = a.ta
if a.isteps: pol.head.set_inference_steps(a.isteps)
envs = [make_env(pol.env_id, **pol.env_kwargs) for _ in range(a.n)]
obs = [e.reset(seed=a.seed + i)[0] for i, e in enumerate(envs)]
U = [e.unwrapped for e in envs]
experts = [[BlockPushExpert(e, np.random.default_rng(0), mode=m) for m in range(4)] for e in envs]
drv_rng = np.random.default_rng(12345)
drive_mode = drv_rng.integers(0, 4, a.n)
for u in U:
    u.set_plan(-1, -1)
keys = pol.lowdim_keys
if a.noise_scale != 1.0 or a.fixed_noise:
    _orig = pol.head.sample_noise
    _fixed = {}
    def _noise(batch_size, generator=None, device=None):
        if a.fixed_noise and batch_size == a.n:
            if "z" not in _fixed:
                _fixed["z"] = _orig(batch_size, generator=generator, device=device)
            return _fixed["z"] * a.noise_scale
        return _orig(batch_size, generator=generator, device=device) * a.noise_scale
    pol.head.sample_noise = _noise
N, H, K = a.n, a.horizon, a.k
nan = lambda *s: np.full(s, np.nan, np.float32)  # noqa: E731
rec = dict(ee=nan(N, H + 1, 2), vel=nan(N, H + 1, 2), blk=nan(N, H + 1, 2, 2), yaw=nan(N, H + 1, 2), hgt=nan(N, H + 1, 2),
           zone=nan(N, 2, 2), act=nan(N, H, 2), exp=nan(N, H, 4, 2), samp=nan(N, H, K, 2), succ=nan(N, H),
           entered=nan(N, H), first=nan(N, H), mode=nan(N, H), sw=nan(N, H))


def snap(i, t):
    u = U[i]
    rec["ee"][i, t] = u.ee_pos; rec["vel"][i, t] = u._proprio()[2:]
    for b in range(2):
        rec["blk"][i, t, b] = u.block_pos(b); rec["yaw"][i, t, b] = u.block_yaw(b); rec["hgt"][i, t, b] = u.block_height(b)


for i in range(N):
    snap(i, 0); rec["zone"][i] = [U[i].target_pos(0), U[i].target_pos(1)]
done = np.zeros(N, bool)
g = torch.Generator().manual_seed(a.gen_seed); g2 = torch.Generator().manual_seed(777)
noise_rng = np.random.default_rng(999)
t0 = time.time()
for t in range(H):
    for i in range(N):
        if not done[i]:
            plan = U[i].plan.copy()
            rec["exp"][i, t] = [experts[i][m].act() for m in range(4)]
            U[i].plan = plan
    batch = {k: np.stack([o[k] for o in obs]) for k in keys}
    act = pol.select_action(batch, generator=g)
    if K and t % a.spread_every == 0:
        live = np.nonzero(~done)[0]
        if len(live):
            with torch.no_grad():
                emb = pol._hist[torch.as_tensor(live)].repeat_interleave(K, 0)
                ch = pol.head.predict(emb, generator=g2)
            first = pol.normalizer.unnormalize("actions", ch.float().numpy())[:, 0]
            rec["samp"][live, t] = np.clip(first, -1, 1).reshape(len(live), K, 2)
    if a.driver == "expert":
        act = np.stack([np.clip(rec["exp"][i, t, drive_mode[i]] + noise_rng.normal(0, 0.2, 2), -1, 1)
                        if not done[i] else np.zeros(2) for i in range(N)]).astype(np.float32)
    for i, e in enumerate(envs):
        if done[i]:
            continue
        o, r, term, trunc, info = e.step(act[i]); obs[i] = o
        rec["act"][i, t] = act[i]; snap(i, t + 1)
        rec["succ"][i, t] = info["success"]; rec["entered"][i, t] = info["blocks_entered"]
        rec["first"][i, t] = info["first_block"]; rec["mode"][i, t] = info["mode_executed"]; rec["sw"][i, t] = info["block_switches"]
        if term or trunc:
            done[i] = True
    if done.all():
        break
np.savez_compressed(a.out, drive_mode=drive_mode, **rec)
succ = np.nan_to_num(rec["succ"]).max(1) >= 1
ent = np.nan_to_num(rec["entered"]).max(1)
print(json.dumps({"pol": a.pol, "ta": pol.action_horizon, "driver": a.driver, "n": N, "strict": int(succ.sum()),
                  "entered1": int((ent >= 1).sum()), "entered2": int((ent >= 2).sum()), "s": round(time.time() - t0)}))
