"""A policy trained on a robomimic-format file, evaluated in the env its env_args name.

robolearn cannot download robomimic's datasets here, so the file is written the way robomimic's own
are: robosuite Lift demonstrations (our scripted expert) with robomimic's obs keys
(`agentview_image`, `robot0_eye_in_hand_image`, `robot0_eef_pos`, `robot0_eef_quat`,
`robot0_gripper_qpos`, `object`), a `next_obs` group, `states`, filter keys (train, valid,
20_percent) and env_args of robosuite type 1 (`Lift`, Panda, OSC_POSE). Then, through the CLI a user
runs:

    robolearn import robomimic lift.hdf5 --out demos.hdf5    # env: robomimic's Lift -> robosuite/Lift-v0
    robolearn train --data demos.hdf5 --encoder state        # the privileged-state policy (robomimic's low_dim)
    robolearn eval --policy runs/pol                         # builds robosuite/Lift-v0 from the import

    .venv/bin/python benchmarks/robomimic_lift.py --demos 100 --eval-episodes 50
    .venv/bin/python benchmarks/robomimic_lift.py --demos 4 --steps 30 --eval-episodes 2 --horizon 10  # seconds-scale check
"""
from __future__ import annotations

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before mujoco)

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import h5py
import numpy as np
import tyro

from robolearn.cli import main as robolearn_main
from robolearn.data.store import demo_sort

ROBOMIMIC_ENV_ARGS = {
    "env_name": "Lift", "type": 1,
    "env_kwargs": {"robots": ["Panda"], "has_renderer": False, "has_offscreen_renderer": True,
                   "use_camera_obs": True, "use_object_obs": True, "reward_shaping": False, "control_freq": 20,
                   "ignore_done": True, "camera_depths": False,
                   "controller_configs": {"type": "BASIC", "body_parts": {"right": {"type": "OSC_POSE"}}}},
}
# robolearn's adapter proprio is these three robomimic keys, concatenated in this order.
PROPRIO_SPLIT = {"robot0_eef_pos": slice(0, 3), "robot0_eef_quat": slice(3, 7), "robot0_gripper_qpos": slice(7, 9)}


@dataclass
class Args:
    demos: int = 100
    """Lift demonstrations in the robomimic file."""
    image_size: int = 32
    steps: int = 3000
    """Training steps of the state policy."""
    eval_episodes: int = 50
    horizon: Optional[int] = None
    """Evaluation step limit (default: the adapter's, 200)."""
    workers: int = 2
    out: Path = Path("runs/robomimic_lift")


def to_robomimic(store_path: Path, out: Path, image_size: int) -> None:
    """Rewrite a robolearn store of robosuite/Lift-v0 with robomimic's keys, next_obs and env_args."""
    with h5py.File(store_path, "r") as src, h5py.File(out, "w") as dst:
        names = demo_sort(src["data"].keys())
        data = dst.create_group("data")
        env_args = json.loads(json.dumps(ROBOMIMIC_ENV_ARGS))
        env_args["env_kwargs"].update(camera_names=["agentview", "robot0_eye_in_hand"],
                                      camera_heights=image_size, camera_widths=image_size)
        data.attrs["env_args"] = json.dumps(env_args)
        total = 0
        for i, name in enumerate(names):
            g, n = src["data"][name], len(src["data"][name]["actions"])
            out_g = data.create_group(f"demo_{i}")
            for k in ("actions", "rewards", "dones", "states"):
                if k in g:
                    out_g.create_dataset(k, data=g[k][()])
            out_g.attrs["num_samples"] = n
            obs = {k: g["obs"][k][()] for k in g["obs"] if k.endswith("_image")}
            proprio = g["obs"]["proprio"][()].astype(np.float64)
            obs.update({k: proprio[:, s] for k, s in PROPRIO_SPLIT.items()})
            obs["object"] = g["obs"]["state"][()].astype(np.float64)
            for grp in ("obs", "next_obs"):
                og = out_g.create_group(grp)
                for k, v in obs.items():  # next_obs: the last step repeats, as robomimic's do at a done
                    og.create_dataset(k, data=v if grp == "obs" else np.concatenate([v[1:], v[-1:]]))
            total += n
        data.attrs["total"] = total
        ids = np.arange(len(names))
        n_valid = max(1, len(names) // 10)
        for key, sel in {"train": ids[n_valid:], "valid": ids[:n_valid], "20_percent": ids[: max(1, len(ids) // 5)]}.items():
            dst.create_dataset(f"mask/{key}", data=np.array([f"demo_{i}".encode() for i in sel]))


def cli(*args) -> None:
    rc = robolearn_main([str(a) for a in args])
    if rc != 0:
        raise SystemExit(f"robolearn {args[0]} failed with exit code {rc}")


def main(a: Args) -> dict:
    if a.out.exists():
        shutil.rmtree(a.out)
    a.out.mkdir(parents=True)
    store, rm_file, imported, pol, ev = (a.out / n for n in ("collected.hdf5", "lift_robomimic.hdf5", "demos.hdf5",
                                                             "pol", "eval"))
    cli("collect", "--env", "robosuite/Lift-v0", "--episodes", a.demos, "--image-size", a.image_size,
        "--workers", a.workers, "--out", store)
    to_robomimic(store, rm_file, a.image_size)
    t0 = time.perf_counter()
    cli("import", "robomimic", rm_file, "--out", imported)
    import_s = time.perf_counter() - t0
    with h5py.File(imported, "r") as f:
        env_args = json.loads(f["data"].attrs["env_args"])
    cli("train", "--data", imported, "--encoder", "state", "--out", pol, "--optim.steps", a.steps, "--wandb", "disabled")
    eval_args = ["eval", "--policy", pol, "--episodes", a.eval_episodes, "--workers", a.workers, "--videos", 0,
                 "--out", ev, "--wandb", "disabled"]
    if a.horizon is not None:
        eval_args += ["--horizon", a.horizon]
    cli(*eval_args)
    res = json.loads((ev / "results.json").read_text())
    row = {"env_args": env_args["env_name"], "eval_env": res["env"], "demos": a.demos, "import_s": round(import_s, 2),
           "success": res["success_rate"], "ci95": res.get("success_ci95"), "episodes": res["episodes"]}
    print(json.dumps(row))
    return row


if __name__ == "__main__":
    main(tyro.cli(Args))
