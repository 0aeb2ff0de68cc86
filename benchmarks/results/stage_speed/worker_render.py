import robolearn.rendering  # noqa
import time, torch
torch.set_num_threads(1)
from robolearn.evaluation.rollouts import EnvRunner
def main():
  for render in (False, True):
    for w, k in ((1, 1), (1, 8), (2, 1), (2, 8)):
        r = EnvRunner("robolearn/PointMass-v0", {"image_size": 32, "render": render}, range(128), 0, workers=w,
                      expert=True, envs_per_worker=k).run()
        n = r["env_steps"]
        print(f"render={render} {w}x{k}: wall {n / r['rollout_seconds']:.0f} steps/s, main {1e3 * r['main_cpu_seconds'] / n:.3f} "
              f"+ workers {1e3 * r['worker_cpu_seconds'] / n:.3f} cpu ms/step", flush=True)

if __name__ == '__main__':
    main()
