"""The `robolearn` command. Subcommands are generated from the dataclass configs by tyro.

User errors (RobolearnError, missing files) print one line and exit 2; never a traceback. Each
command imports its own stage when it runs (the function-local imports below): a command loads
only what it uses (`info` needs neither MuJoCo nor onnx).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

import torch
import tyro

import robolearn.rendering  # noqa: F401  (MUJOCO_GL before anything imports mujoco)
from robolearn import config
from robolearn.config import (BenchConfig, CollectConfig, EvalConfig, EvalOfflineConfig, ExportConfig,
                              PretrainConfig, RunConfig, TrainConfig, WandbMode)
from robolearn.distributed import exit_process, is_main, shutdown
from robolearn.errors import RobolearnError
from robolearn.locking import exclusive
from robolearn.policies import HEADS
from robolearn.pretraining import OBJECTIVES


# The file or folder a data command reads is a positional argument; the configs themselves stay
# free of tyro (robolearn.settings), so the annotation is added here, where the CLI is built.
@dataclass
class ImportRobomimicConfig(config.ImportRobomimicConfig):
    __doc__ = config.ImportRobomimicConfig.__doc__
    path: tyro.conf.Positional[Path]


@dataclass
class ImportLerobotConfig(config.ImportLerobotConfig):
    __doc__ = config.ImportLerobotConfig.__doc__
    path: tyro.conf.Positional[Path]


@dataclass
class ExportLerobotConfig(config.ExportLerobotConfig):
    __doc__ = config.ExportLerobotConfig.__doc__
    path: tyro.conf.Positional[Path]


@dataclass
class InfoConfig:
    """Summarize a demonstration file: episodes, steps, keys with shapes and dtypes, modes, success."""

    path: tyro.conf.Positional[Path]
    """The HDF5 demonstration file."""


@dataclass
class ImportCommand:
    """Import demonstrations from another format into a robolearn store."""

    source: Annotated[Union[
        Annotated[ImportRobomimicConfig, tyro.conf.subcommand("robomimic", description=ImportRobomimicConfig.__doc__)],
        Annotated[ImportLerobotConfig, tyro.conf.subcommand("lerobot", description=ImportLerobotConfig.__doc__)],
    ], tyro.conf.arg(name="")]


@dataclass
class ExportDataCommand:
    """Export a robolearn store to another format."""

    format: tyro.conf.Positional[Literal["lerobot"]]
    """Target format (a positional word, as in `export-data lerobot`; one format so far)."""
    target: Annotated[ExportLerobotConfig, tyro.conf.arg(name="")]


def _import(cmd: ImportCommand):
    from robolearn.data.store import summary

    if isinstance(cmd.source, ImportRobomimicConfig):
        from robolearn.data.robomimic_io import import_robomimic as run
    else:
        from robolearn.data.lerobot_import import import_lerobot as run
    print(summary(run(cmd.source)))


def _export_data(cmd: ExportDataCommand):
    from robolearn.data.lerobot_export import export_lerobot

    print(f"LeRobot v3.0 dataset written to {export_lerobot(cmd.target)}")


@dataclass
class EvalMergeConfig:
    """Join `robolearn eval --shard K/N` results (K = 0 .. N-1) into the unsharded evaluation's result."""

    shards: tyro.conf.Positional[list[Path]]
    """The shards' --out folders (or their results.json files)."""
    out: Path = Path("runs/eval")
    """Folder for the merged results.json."""
    wandb: WandbMode = "offline"
    """wandb mode for the merged metrics (as for `eval`)."""
    project: str = "robolearn"
    overwrite: bool = False


def _collect(cfg: CollectConfig):
    from robolearn.data.collect import collect
    from robolearn.data.store import summary

    path = collect(cfg)
    print(summary(path))


def _info(cfg: InfoConfig):
    from robolearn.data.store import summary

    print(summary(cfg.path))


def _main_rank() -> bool:
    """False on the ranks other than 0 of a torchrun job (they write and print nothing)."""
    return is_main()


def _pretrain(cfg: PretrainConfig):
    from robolearn.pretrain import pretrain

    out = pretrain(cfg)
    if _main_rank():
        print(f"encoder written to {out}")


def _train(cfg: TrainConfig):
    from robolearn.train import train

    out = train(cfg)
    if _main_rank():
        print(f"policy written to {out}")


def _eval(cfg: EvalConfig):
    from robolearn.evaluate import evaluate, format_results

    print(format_results(evaluate(cfg)))


def _eval_offline(cfg: EvalOfflineConfig):
    from robolearn.evaluation.offline import evaluate_offline, format_offline

    print(format_offline(evaluate_offline(cfg)))


def _eval_merge(cfg: EvalMergeConfig):
    from robolearn.evaluate import format_results, merge_results

    print(format_results(merge_results(cfg.shards, cfg.out, cfg.overwrite, cfg.wandb, cfg.project)))


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
    "pretrain": (_pretrain, PretrainConfig, f"Pretrain a visual encoder ({' | '.join(OBJECTIVES)})."),
    "train": (_train, TrainConfig, f"Train a policy head ({' | '.join(HEADS)}): frozen encoder, `state` ceiling, or end to end."),
    "eval": (_eval, EvalConfig, "Roll a policy out in MuJoCo; success with a Wilson 95% interval, videos."),
    "eval-offline": (_eval_offline, EvalOfflineConfig, "Open-loop action error on recorded held-out episodes, beside "
                     "the training-mean and repeat-previous-action baselines (no simulator needed)."),
    "eval-merge": (_eval_merge, EvalMergeConfig, "Join the results of `eval --shard K/N` runs into one."),
    "export": (_export, ExportConfig, "Export a policy as a self-contained ONNX bundle for a robot."),
    "run": (_run, RunConfig, "collect -> pretrain -> train -> eval -> report on one task, with one config."),
    "bench": (_bench, BenchConfig, "Suites of tasks x encoders x heads x seeds, beside the state ceiling and baselines."),
    "import": (_import, ImportCommand, "Import demonstrations: robomimic HDF5 or LeRobot v3.0 (parquet + mp4)."),
    "export-data": (_export_data, ExportDataCommand, "Export demonstrations as a LeRobot v3.0 dataset."),
}


def output_of(cfg) -> Path | None:
    """The folder (or file) a command writes: it holds that output's one-writer lock while it runs.
    None for the commands that write nothing, and on the ranks other than 0 of a torchrun job (rank 0
    writes for all of them)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    if isinstance(cfg, RunConfig):
        return cfg.folder()
    if isinstance(cfg, BenchConfig):
        return None if cfg.dry_run else cfg.folder()
    if isinstance(cfg, ImportCommand):
        return Path(cfg.source.out)
    if isinstance(cfg, ExportDataCommand):
        return Path(cfg.target.out)
    out = getattr(cfg, "out", None)  # collect, pretrain, train, eval, eval-merge, export
    return None if out is None else Path(out)


def set_threads(threads: int | None) -> None:
    """torch's CPU threads: the flag, else half the cores. torch's default (all cores) made a
    3,000-step head fit take over 10 minutes on a busy 2-core machine, against 20 s with one."""
    n = threads if threads is not None else max(1, (os.cpu_count() or 2) // 2)
    if n < 1:
        raise SystemExit("error: --threads must be >= 1")
    torch.set_num_threads(int(n))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    union = Union[tuple(
        Annotated[cls, tyro.conf.subcommand(name, description=desc)] for name, (_, cls, desc) in COMMANDS.items()
    )]
    try:
        cfg = tyro.cli(union, args=argv, prog="robolearn",
                       description="robolearn: demonstrations in, robot policies out.",
                       config=(tyro.conf.OmitSubcommandPrefixes,))
    except RobolearnError as e:  # a config's own check (__post_init__), before anything is written
        print(f"error: {e}", file=sys.stderr)
        return 2
    fn = next(f for f, cls, _ in COMMANDS.values() if type(cfg) is cls)
    set_threads(getattr(cfg, "threads", None))
    target = output_of(cfg)
    finished = False
    # SIGTERM (a scheduler, `kill`, `timeout`) ends a command as Ctrl-C does: one line, its cleanup run,
    # its job and env processes stopped, instead of dying at once and leaving them to run on.
    previous = _on_sigterm_interrupt()
    try:
        with exclusive(target, f"robolearn {argv[0]}") if target is not None else contextlib.nullcontext():
            fn(cfg)
        finished = True
    except RobolearnError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"error: {e.strerror or e}: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        # Under torchrun: a rank that finished waits for the others (rank 0 writes after the last
        # step) before leaving the process group; see distributed.shutdown.
        shutdown(finished)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _on_sigterm_interrupt():
    """SIGTERM raises KeyboardInterrupt from here on (main thread only); returns the handler it
    replaced, or None where none could be set."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def run() -> None:
    """The `robolearn` command and `python -m robolearn.cli`: main's exit code, as sys.exit gives it, except
    that a torchrun rank on CPU leaves without interpreter finalization (`distributed.exit_process`)."""
    exit_process(main())


if __name__ == "__main__":
    run()
