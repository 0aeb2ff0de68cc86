"""How precisely must a head know the blocks' positions? The state diffusion policy (suite_diffusion_12k
seed 0, 42/50 clean) evaluated with Gaussian noise on the blocks' x, y in its state observation, each step
independently, at the residual a linear probe of R² r leaves: sigma = sqrt(1 - r) * std(coordinate)."""
import os, sys, json
os.environ.setdefault("MUJOCO_GL", "egl")
import numpy as np, torch, gymnasium as gym
torch.set_num_threads(1)
import robolearn.envs  # noqa: F401
from robolearn.data.store import open_store
from policies.policy import Policy

POL = sys.argv[1]; DEMOS = sys.argv[2]; R2 = [float(x) for x in sys.argv[3:]]
BLOCK_XY = [0, 1, 4, 5]
with open_store(DEMOS) as st:
    s = np.concatenate([st.obs(d, "state") for d in st.demo_names("train")])
std = s[:, BLOCK_XY].std(0)
policy = Policy.load(POL)
N, B = 50, 10
for r2 in R2:
    sigma = np.sqrt(1 - r2) * std
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    solved, entered = 0, 0
    for start in range(0, N, B):
        envs = [gym.make(policy.env_id, render=False) for _ in range(B)]  # the state policy reads no images
        obs = [e.reset(seed=100000 + start + i)[0] for i, e in enumerate(envs)]
        policy.reset()
        done = [False] * B; ok = [False] * B; ent = [0] * B
        for t in range(200):
            batch = {k: np.stack([o[k] for o in obs]) for k in ("state", "proprio") if k in obs[0]}
            batch["state"] = batch["state"].copy()
            batch["state"][:, BLOCK_XY] += rng.normal(0, 1, (B, 4)) * sigma
            act = policy.select_action(batch, generator=gen)
            for i, e in enumerate(envs):
                if done[i]:
                    continue
                o, rew, term, trunc, info = e.step(act[i])
                obs[i] = o
                ent[i] = max(ent[i], int(info.get("blocks_entered", 0)))
                if info.get("success", 0) >= 1.0:
                    ok[i] = True
                if term or trunc:
                    done[i] = True
            if all(done):
                break
        solved += sum(ok); entered += sum(x >= 1 for x in ent)
        for e in envs:
            e.close()
    print(json.dumps({"probe_r2": r2, "sigma_m": [round(float(x), 4) for x in sigma], "solved": solved,
                      "episodes": N, "entered_1": entered}), flush=True)
