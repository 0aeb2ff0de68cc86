"""The real-recording path at the size of a public SO-101 recording (4 episodes, 1,492 frames, 6 joints,
two AV1 cameras at 480x640, 30 fps, to_timestamp = (n-1)/fps), on a synthetic folder written by
tests/recordings.py: wall time of each step of import -> train (proprio; camera + proprio) ->
eval-offline -> export. It prints figures; it asserts nothing.

    python benchmarks/recording_path.py /tmp/recording_path [--steps 500] [--reuse]

--reuse keeps what an earlier run of the same folder finished (the recording, the store, policies).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def step(label: str, args: list[str], done: Path | None = None) -> None:
    if done is not None and done.exists():
        print(f"{label:<34}  (reused {done})", flush=True)
        return
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "robolearn.cli", *map(str, args)], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    print(f"{label:<34} {dt:7.1f} s  rc {r.returncode}  {tail[:100]}", flush=True)
    if r.returncode:
        print(r.stderr[-2000:])
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--image-size", type=int, default=96)
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args()
    from recordings import write_recording

    rec, store = a.work / "so101", a.work / "so101.hdf5"
    if not a.reuse:
        shutil.rmtree(a.work, ignore_errors=True)
    if not rec.exists():
        shutil.rmtree(a.work, ignore_errors=True)
        a.work.mkdir(parents=True)
        t0 = time.perf_counter()
        write_recording(rec, lengths=(373, 373, 373, 373), cameras={"front": "libsvtav1", "wrist": "libsvtav1"},
                        short_to=True)
        print(f"{'write synthetic recording (AV1)':<34} {time.perf_counter() - t0:7.1f} s", flush=True)
    quick = ["--optim.steps", a.steps, "--wandb", "disabled", "--threads", "1"]
    step(f"import --image-size {a.image_size}", ["import", "lerobot", rec, "--out", store, "--image-size", a.image_size],
         store)
    step(f"train --encoder state ({a.steps} steps)", ["train", "--data", store, "--encoder", "state",
                                                      "--out", a.work / "joints", *quick], a.work / "joints/policy.json")
    step(f"train --encoder scratch ({a.steps} steps)", ["train", "--data", store, "--encoder", "scratch",
                                                        "--out", a.work / "cams", "--optim.batch-size", 64, *quick],
         a.work / "cams/policy.json")
    for pol in ("joints", "cams"):
        step(f"eval-offline {pol}", ["eval-offline", "--policy", a.work / pol, "--out", a.work / f"{pol}_offline",
                                     "--overwrite"])
        step(f"export {pol}", ["export", "--policy", a.work / pol, "--out", a.work / f"{pol}_bundle", "--overwrite"])
    for pol in ("joints", "cams"):
        print(f"--- eval-offline {pol}")
        r = subprocess.run([sys.executable, "-m", "robolearn.cli", "eval-offline", "--policy", a.work / pol,
                            "--out", a.work / f"{pol}_offline", "--overwrite"], capture_output=True, text=True)
        print(r.stdout)


if __name__ == "__main__":
    main()
