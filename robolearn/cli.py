"""The `robolearn` command. Subcommands are generated from the dataclass configs by tyro.

User errors (RobolearnError, missing files) print one line and exit 2; never a traceback.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before anything imports mujoco)
from robolearn.config import (BenchConfig, CollectConfig, EvalConfig, ExportConfig, PretrainConfig,
                              RunConfig, TrainConfig)
from robolearn.errors import RobolearnError


@dataclass
class InfoConfig:
    """Summarize a demonstration file: episodes, steps, keys with shapes and dtypes, modes, success."""

    path: tyro.conf.Positional[Path]
    """The HDF5 demonstration file."""


def _collect(cfg: CollectConfig):
    from robolearn.data.collect import collect
    from robolearn.data.store import summary

    path = collect(cfg)
    print(summary(path))


def _info(cfg: InfoConfig):
    from robolearn.data.store import summary

    print(summary(cfg.path))


def _pretrain(cfg: PretrainConfig):
    from robolearn.pretrain import pretrain

    out = pretrain(cfg)
    print(f"encoder written to {out}")


def _train(cfg: TrainConfig):
    from robolearn.train import train

    out = train(cfg)
    print(f"policy written to {out}")


def _eval(cfg: EvalConfig):
    from robolearn.evaluate import evaluate, format_results

    print(format_results(evaluate(cfg)))


def _export(cfg: ExportConfig):
    from robolearn.export import export

    out = export(cfg)
    print(f"bundle written to {out}")


def _run(cfg: RunConfig):
    from robolearn.pipeline import run

    report = run(cfg)
    print(f"report written to {report}")


def _bench(cfg: BenchConfig):
    from robolearn.bench import bench

    report = bench(cfg)
    if not cfg.dry_run:
        print(f"report written to {report} (results: {report.parent / 'results.json'})")


COMMANDS = {
    "collect": (_collect, CollectConfig, "Run a scripted expert and write demonstrations (HDF5, robomimic layout)."),
    "info": (_info, InfoConfig, "Summarize a demonstration file."),
    "pretrain": (_pretrain, PretrainConfig, "Pretrain a visual encoder (none | idm | dynamo | sirl | ccl)."),
    "train": (_train, TrainConfig, "Train a policy head (mlp | knn | vqbet | diffusion) on a frozen encoder."),
    "eval": (_eval, EvalConfig, "Roll a policy out in MuJoCo; success with a Wilson 95% interval, videos."),
    "export": (_export, ExportConfig, "Export a policy as a self-contained ONNX bundle for a robot."),
    "run": (_run, RunConfig, "collect -> pretrain -> train -> eval -> report on one task, with one config."),
    "bench": (_bench, BenchConfig, "Suites of tasks x encoders x heads x seeds, beside the state ceiling and baselines."),
}


def set_threads(threads: int | None) -> None:
    """torch's CPU threads: the flag, else half the cores. torch's default (all cores) made a
    3,000-step head fit take over 10 minutes on a busy 2-core machine, against 20 s with one."""
    import os

    n = threads if threads is not None else max(1, (os.cpu_count() or 2) // 2)
    if n < 1:
        raise SystemExit("error: --threads must be >= 1")
    import torch

    torch.set_num_threads(int(n))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from typing import Annotated, Union

    union = Union[tuple(
        Annotated[cls, tyro.conf.subcommand(name, description=desc)] for name, (_, cls, desc) in COMMANDS.items()
    )]
    cfg = tyro.cli(union, args=argv, prog="robolearn",
                   description="robolearn: demonstrations in, robot policies out.",
                   config=(tyro.conf.OmitSubcommandPrefixes,))
    fn = next(f for f, cls, _ in COMMANDS.values() if type(cfg) is cls)
    set_threads(getattr(cfg, "threads", None))
    try:
        fn(cfg)
    except RobolearnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"error: {e.strerror or e}: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
