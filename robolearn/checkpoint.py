"""Checkpoints: weights in safetensors, everything else in JSON/YAML. No pickles are ever loaded.

Writes are atomic (temporary file, then rename), so an interrupted run never leaves a torn file.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

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


def file_sha256(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]
