import os, sys, time
import robolearn.rendering
import numpy as np
from robolearn.envs import expert_rng, get_task, make_env
env_id = sys.argv[1]; eps = int(sys.argv[2])
env = make_env(env_id, image_size=64, horizon=50); task = get_task(env_id)
env.reset(seed=0)
c0 = time.process_time(); n = 0
for i in range(eps):
    obs, _ = env.reset(seed=100000 + i); ex = task.expert(env, expert_rng(100000 + i))
    while True:
        obs, _, te, tr, _ = env.step(ex.act(obs)); n += 1
        if te or tr: break
c = time.process_time() - c0
w = time.perf_counter()
print(f"{env_id} LP_NUM_THREADS={os.environ.get('LP_NUM_THREADS')}: {1e3*c/n:.3f} cpu ms/step ({n} steps), threads {len(os.listdir('/proc/self/task'))}")
