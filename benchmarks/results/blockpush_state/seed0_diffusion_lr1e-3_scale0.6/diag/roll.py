"""Scratch: rollouts of a policy with overrides (action_horizon, inference steps). Not committed."""
import sys, json, time, argparse
import numpy as np, torch
torch.set_num_threads(1)
from robolearn.policies.policy import Policy
from robolearn.envs import make_env
p = argparse.ArgumentParser()
p.add_argument("pol"); p.add_argument("--n", type=int, default=20); p.add_argument("--ta", type=int, default=None)
p.add_argument("--isteps", type=int, default=None); p.add_argument("--seed", type=int, default=100000)
p.add_argument("--horizon", type=int, default=200)
a = p.parse_args()
pol = Policy.load(a.pol)
if a.ta: pol.action_horizon = a.ta
if a.isteps: pol.head.set_inference_steps(a.isteps)
envs = [make_env(pol.env_id, **pol.env_kwargs) for _ in range(a.n)]
obs = [e.reset(seed=a.seed + i)[0] for i, e in enumerate(envs)]
keys = pol.lowdim_keys
done = np.zeros(a.n, bool); infos = [None] * a.n; succ = np.zeros(a.n)
g = torch.Generator().manual_seed(0); t0 = time.time()
for t in range(a.horizon):
    batch = {k: np.stack([o[k] for o in obs]) for k in keys}
    act = pol.select_action(batch, generator=g)
    for i, e in enumerate(envs):
        if done[i]: continue
        o, r, term, trunc, info = e.step(act[i]); obs[i] = o; infos[i] = info
        succ[i] = max(succ[i], float(info.get("success", 0)) >= 1.0)
        if term: done[i] = True
    if done.all(): break
ent = [int(i.get("blocks_entered", 0)) for i in infos]; modes = [int(i.get("mode_executed", -1)) for i in infos]
print(json.dumps({"pol": a.pol, "ta": pol.action_horizon, "strict": int(succ.sum()), "n": a.n,
  "entered1": sum(e >= 1 for e in ent), "entered2": sum(e >= 2 for e in ent),
  "modes": {m: modes.count(m) for m in sorted(set(modes))}, "sw": float(np.mean([i.get("block_switches", 0) for i in infos])),
  "s": round(time.time() - t0)}))
