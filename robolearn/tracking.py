"""Run tracking: wandb (offline without an API key, or disabled) plus a local metrics.jsonl.

Every metric logged goes to `metrics.jsonl` in the run folder first, so reading results never
needs wandb. The wandb run id is saved in `wandb_id.txt` so a resumed run continues the same run.
Under torchrun only rank 0 tracks; on the other ranks a Tracker records nothing.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import string
from pathlib import Path
from typing import Optional

from robolearn.distributed import is_main
from robolearn.settings import to_dict


def _clean(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _new_run_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Tracker:
    def __init__(self, run_dir: Path, config, job: str, mode: str = "offline", project: str = "robolearn",
                 rewind_to: Optional[int] = None):
        """rewind_to: cut metrics.jsonl to this many bytes first (robolearn.checkpoint.metrics_mark: what
        was logged up to the checkpoint a resumed run continues from), so each step is logged once."""
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.run = None
        self.mode = mode
        self.active = is_main()
        if not self.active:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if rewind_to is not None and self.metrics_path.exists() and self.metrics_path.stat().st_size > rewind_to:
            os.truncate(self.metrics_path, rewind_to)
        if mode != "disabled":
            self.run = self._start_wandb(config, job, mode, project)

    def _start_wandb(self, config, job, mode, project):
        import wandb  # lazy: slow to import, and not needed with --wandb disabled

        # Offline unless the user has credentials and asked for online: results never depend on a service.
        if mode == "online" and not (os.environ.get("WANDB_API_KEY") or Path("~/.netrc").expanduser().exists()):
            mode = "offline"
        id_file = self.run_dir / "wandb_id.txt"
        run_id = id_file.read_text().strip() if id_file.exists() else _new_run_id()
        id_file.write_text(run_id)
        os.environ.setdefault("WANDB_SILENT", "true")
        return wandb.init(
            project=project, dir=str(self.run_dir), id=run_id, resume="allow", mode=mode,
            job_type=job, name=f"{self.run_dir.name}-{job}", config=to_dict(config) if config is not None else None,
            settings=wandb.Settings(console="off", x_disable_stats=True) if hasattr(wandb, "Settings") else None,
        )

    def log(self, metrics: dict, step: Optional[int] = None) -> None:
        if not self.active:
            return
        row = {k: _clean(v) for k, v in metrics.items()}
        if step is not None:
            row["step"] = int(step)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.run is not None:
            self.run.log({k: v for k, v in row.items() if k != "step" and v is not None},
                         step=None if step is None else int(step))

    def logged_bytes(self) -> int:
        """The size of metrics.jsonl now (a checkpoint records it: see `rewind_to`)."""
        return self.metrics_path.stat().st_size if self.metrics_path.exists() else 0

    def log_video(self, key: str, path: Path, fps: int = 10) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Video(str(path), format="mp4")})

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        if self.run is None:
            return
        import wandb

        art = wandb.Artifact(name.replace("/", "-"), type=kind)
        for p in paths:
            if Path(p).exists():
                art.add_file(str(p))
        self.run.log_artifact(art)

    def summary(self, values: dict) -> None:
        if self.run is not None:
            for k, v in values.items():
                self.run.summary[k] = _clean(v)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def read_metrics(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
