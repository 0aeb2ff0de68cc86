"""Checkpoints and run folders: weights in safetensors, everything else in JSON/YAML. No pickles are
ever loaded. The one module that writes, finds, verifies and resumes training checkpoints.

Writes are atomic (temporary file, then rename), so an interrupted run never leaves a torn file.
Training checkpoints also carry each file's size and sha256, checked before a resume: a truncated or
corrupt one is refused, with the reason, and the one before it is used.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from robolearn import distributed as dist
from robolearn.errors import RobolearnError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2))


def load_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RobolearnError(f"{path}: file not found")
    except json.JSONDecodeError as e:
        raise RobolearnError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})")


def _flat_state(modules: dict[str, torch.nn.Module | dict]) -> dict[str, torch.Tensor]:
    out = {}
    for prefix, m in modules.items():
        sd = m.state_dict() if hasattr(m, "state_dict") else m
        for k, v in sd.items():
            if isinstance(v, torch.Tensor):
                # safetensors refuses tensors that share storage; clone makes each independent.
                out[f"{prefix}.{k}"] = v.detach().to("cpu").contiguous().clone()
    return out


def save_weights(path: Path, modules: dict, metadata: dict | None = None) -> None:
    """Save several modules' state dicts, prefixed by name, to one safetensors file, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(_flat_state(modules), str(tmp), metadata={k: str(v) for k, v in (metadata or {}).items()})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_weights(path: Path, prefix: str | None = None) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise RobolearnError(f"{path}: weights file not found")
    try:
        sd = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise RobolearnError(f"{path}: not a readable safetensors file ({type(e).__name__})")
    if prefix is None:
        return sd
    p = prefix + "."
    return {k[len(p):]: v for k, v in sd.items() if k.startswith(p)}


def load_module(module: torch.nn.Module, path: Path, prefix: str) -> None:
    sd = load_weights(path, prefix)
    if not sd:
        raise RobolearnError(f"{path}: no weights for '{prefix}'")
    missing, unexpected = module.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise RobolearnError(
            f"{path}: weights for '{prefix}' do not fit the model "
            f"(missing {len(missing)}, e.g. {missing[:2]}; unexpected {len(unexpected)}, e.g. {unexpected[:2]})"
        )


def file_sha256(path: Path, limit: int | None = None, full: bool = False) -> str:
    """sha256 of a file: its first 16 hex digits (an id), or all 64 with `full` (an integrity check)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() if full else h.hexdigest()[:16]


# ----------------------------------------------------------------------------- training checkpoints
# run_dir/checkpoint/step-00000500/{model,optim}.safetensors + manifest.json (step, optimizer
# settings, each file's size and sha256). A new one is written into a temporary folder and renamed
# into place complete; the newest KEEP are kept. run_dir/checkpoint/trainer.json repeats the newest
# manifest (its step, for people and scripts); loading never trusts it, only the step folders.
CHECKPOINT_DIR = "checkpoint"
KEEP = 2
_MODEL, _OPTIM, _MANIFEST = "model.safetensors", "optim.safetensors", "manifest.json"


class CheckpointError(RobolearnError):
    """A checkpoint that is incomplete, truncated or corrupt."""


def _fsync_write(path: Path, write) -> None:
    write(path)
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _optim_to_flat(opts) -> tuple[dict[str, torch.Tensor], list]:
    tensors, meta = {}, []
    for i, opt in enumerate(opts):
        sd = opt.state_dict()
        for pid, st in sd["state"].items():
            for name, v in st.items():
                t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
                tensors[f"opt{i}.{pid}.{name}"] = t.detach().cpu().contiguous().clone()
        meta.append(sd["param_groups"])
    return tensors, meta


def _optim_from_flat(opts, tensors: dict, meta: list) -> None:
    if len(meta) != len(opts):
        raise CheckpointError(f"holds {len(meta)} optimizer(s), the model has {len(opts)}")
    for i, opt in enumerate(opts):
        state: dict = {}
        prefix = f"opt{i}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, name = k[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": meta[i]})


def _rng_state() -> dict[str, torch.Tensor]:
    """torch's global random streams (dropout, augmentation): a resumed run draws what an
    uninterrupted one would have (checkpoints without them resume with the caller's streams)."""
    state = {"rng.torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state.update({f"rng.cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def _set_rng_state(tensors: dict) -> None:
    if "rng.torch_cpu" in tensors:
        torch.set_rng_state(tensors["rng.torch_cpu"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda")), key=lambda k: int(k[8:]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(run_dir: Path, model, opts, step: int, info: dict | None = None, keep: int = KEEP) -> Path:
    """Write the step's checkpoint atomically (temporary folder, then rename); keep the newest `keep`."""
    root = Path(run_dir) / CHECKPOINT_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    opt_t, opt_meta = _optim_to_flat(opts)
    opt_t.update(_rng_state())
    files = {}
    for name, payload in ((_MODEL, weights), (_OPTIM, opt_t)):
        _fsync_write(tmp / name, lambda p, t=payload: save_file(t, str(p)))
        files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": file_sha256(tmp / name, full=True)}
    manifest = {"step": int(step), "optim": opt_meta, "files": files, **(info or {})}
    _fsync_write(tmp / _MANIFEST, lambda p: p.write_text(json.dumps(manifest)))
    if final.exists():  # the same step again (a resumed run that saved before dying): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    atomic_write_text(root / "trainer.json", json.dumps({**manifest, "dir": final.name}))
    for old in _step_dirs(root)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step-*"):  # left by a process killed mid-write
        if not stale.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(stale, ignore_errors=True)
    return final


def _step_dirs(root: Path) -> list[Path]:
    """Step folders, newest first."""
    dirs = [p for p in root.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
    return sorted(dirs, key=lambda p: int(p.name[5:]), reverse=True)


def checkpoint_candidates(run_dir: Path) -> list[Path]:
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = _step_dirs(root)
    if (root / _MODEL).exists():  # the single-folder layout of earlier versions
        found.append(root)
    return found


def metrics_mark(run_dir: Path) -> int | None:
    """How much of `metrics.jsonl` (bytes) the run had logged when it wrote the checkpoint it will
    resume from: rows after it are a killed attempt's, logged again by the rerun. 0 without a
    checkpoint; None for checkpoints written before the mark was recorded (keep every row)."""
    for c in checkpoint_candidates(run_dir):
        try:
            manifest = json.loads((c / _MANIFEST).read_text())
        except (OSError, ValueError):
            continue  # an interrupted write: resume skips it too
        mark = manifest.get("metrics_bytes")
        return None if mark is None else int(mark)
    return 0


def has_checkpoint(run_dir: Path) -> bool:
    return bool(checkpoint_candidates(run_dir))


def verify_checkpoint(ckpt: Path) -> dict:
    """The manifest of a complete, intact checkpoint folder; CheckpointError saying what is wrong."""
    ckpt = Path(ckpt)
    legacy = not (ckpt / _MANIFEST).exists() and (ckpt / "trainer.json").exists()
    mpath = ckpt / ("trainer.json" if legacy else _MANIFEST)
    if not mpath.exists():
        raise CheckpointError("no manifest (an interrupted write)")
    try:
        manifest = json.loads(mpath.read_text())
        step = int(manifest["step"])
        manifest["optim"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"unreadable {mpath.name} ({type(e).__name__})")
    if step < 0:
        raise CheckpointError(f"{mpath.name} gives step {step}")
    for name in (_MODEL, _OPTIM):
        path = ckpt / name
        if not path.exists():
            raise CheckpointError(f"{name} is missing")
        want = manifest.get("files", {}).get(name)
        if want is not None:
            size = path.stat().st_size
            if size != want["bytes"]:
                raise CheckpointError(f"{name} is truncated or altered ({size} bytes, written with {want['bytes']})")
            if file_sha256(path, full=True) != want["sha256"]:
                raise CheckpointError(f"{name} is corrupt (its sha256 differs from the one written)")
        else:  # legacy: no hashes; at least the safetensors header and sizes must parse
            try:
                with safe_open(str(path), "pt") as f:
                    list(f.keys())
            except Exception as e:
                raise CheckpointError(f"{name} is not a readable safetensors file ({type(e).__name__})")
    return manifest


def find_checkpoint(run_dir: Path, log=print) -> tuple[Path, dict] | None:
    """The newest intact checkpoint of a run, or None when there is none. A damaged one is refused
    with its reason (through `log`) and the one before it is used; if every one is damaged, that is
    a RobolearnError (the run cannot resume, and starting over silently would discard it)."""
    reasons = []
    for c in checkpoint_candidates(run_dir):
        try:
            manifest = verify_checkpoint(c)
        except CheckpointError as e:
            reasons.append(f"{c.name}: {e}")
            log(f"checkpoint {c} refused: {e}; trying the previous one")
            continue
        return c, manifest
    if reasons:
        raise RobolearnError(f"{Path(run_dir) / CHECKPOINT_DIR}: no usable checkpoint ({'; '.join(reasons)}); "
                             f"pass --overwrite to start over")
    return None


def load_checkpoint(ckpt: Path, model, opts, manifest: dict | None = None) -> int:
    """Load weights and optimizer state from a verified checkpoint folder; returns its step."""
    ckpt = Path(ckpt)
    manifest = manifest if manifest is not None else verify_checkpoint(ckpt)
    try:
        weights = load_file(str(ckpt / _MODEL))
        if weights and all(k.startswith("head.") for k in weights) and not any(k.startswith("head.") for k in model.state_dict()):
            # Written before heads trained as themselves (through an adapter holding `head`).
            weights = {k[len("head."):]: v for k, v in weights.items()}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"weights do not fit the model (missing {missing[:2]}, unexpected {unexpected[:2]})")
        optim = load_file(str(ckpt / _OPTIM))
        _optim_from_flat(opts, optim, manifest["optim"])
        _set_rng_state(optim)
    except CheckpointError as e:
        raise CheckpointError(f"{ckpt}: {e}") from None
    except (ValueError, RuntimeError, KeyError) as e:  # shapes or optimizer groups of another model
        raise CheckpointError(f"{ckpt}: does not fit this model and optimizer ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}); pass --overwrite to start over") from None
    return int(manifest["step"])


def resume(run_dir: Path, model, opts, scheds, log=print) -> tuple[int, dict | None]:
    """Load the newest intact checkpoint of `run_dir` into model, optimizers and LR schedulers.
    Returns (the step to continue from, its manifest), (0, None) when there is none. Under torchrun
    rank 0 picks (and verifies) the checkpoint and every rank loads that one."""
    found = find_checkpoint(run_dir, log=log) if dist.is_main() else None
    found = dist.broadcast_object(None if found is None else (str(found[0]), found[1]))
    if found is None:
        return 0, None
    start = load_checkpoint(Path(found[0]), model, opts, found[1])
    for s in scheds:
        s.last_epoch = start - 1
        with warnings.catch_warnings():  # "scheduler before optimizer step": intended, it catches up
            warnings.simplefilter("ignore", UserWarning)
            s.step()
    return start, {**found[1], "dir": found[0]}


def prepare_run_dir(out: Path, overwrite: bool, done_file: str) -> bool:
    """Create the run folder (rank 0; the other ranks wait). Returns True when an interrupted run is
    there to resume. After an elastic restart (torchrun --max-restarts) --overwrite no longer
    applies: the restarted job resumes the checkpoints its first attempt wrote."""
    out = Path(out)
    if dist.is_main():
        if out.exists() and overwrite and dist.restart_count() == 0:
            shutil.rmtree(out)
    dist.barrier()
    if (out / done_file).exists():
        raise RobolearnError(f"{out} already holds a finished run; pass --overwrite to replace it")
    resumable = has_checkpoint(out)
    if dist.is_main():
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    return resumable


@contextmanager
def run_dir_setup(out: Path, overwrite: bool, done_file: str):
    """prepare_run_dir, for the block that sets a run up (config, normalizer, models, caches). Yields
    whether there is a run to resume. If the block fails and the folder started empty, what it wrote
    goes again, and the folder too unless it was there before this run: a run that stops at a bad
    option or bad data leaves no folder that looks like a run (a config and no checkpoint)."""
    out = Path(out)
    existed = out.exists() and not overwrite
    resumable = prepare_run_dir(out, overwrite, done_file)
    fresh = not any(out.iterdir())  # a resumable run has its checkpoints there
    try:
        yield resumable
    except BaseException:
        if fresh and dist.is_main():
            shutil.rmtree(out, ignore_errors=True)
            if existed:
                out.mkdir()
        raise
