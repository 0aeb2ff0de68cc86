"""The `robolearn` command. Subcommands are generated from the dataclass configs by tyro.

User errors (RobolearnError, missing files) print one line and exit 2; never a traceback.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import tyro

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before anything imports mujoco)
from robolearn.config import (CollectConfig, EvalConfig, ExportConfig, PretrainConfig, RunConfig,
                              TrainConfig)
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


COMMANDS = {
    "collect": (_collect, CollectConfig, "Run a scripted expert and write demonstrations (HDF5, robomimic layout)."),
    "info": (_info, InfoConfig, "Summarize a demonstration file."),
    "pretrain": (_pretrain, PretrainConfig, "Pretrain a visual encoder (none | idm | dynamo | sirl | ccl)."),
    "train": (_train, TrainConfig, "Train a policy head (mlp | knn | vqbet | diffusion) on a frozen encoder."),
    "eval": (_eval, EvalConfig, "Roll a policy out in MuJoCo; success with a Wilson 95% interval, videos."),
    "export": (_export, ExportConfig, "Export a policy as a self-contained ONNX bundle for a robot."),
    "run": (_run, RunConfig, "collect -> pretrain -> train -> eval -> report, with one config."),
}


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
