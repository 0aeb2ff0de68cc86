"""Per-dimension normalization of actions and low-dimensional observations, saved as data (JSON).

Statistics (min, max, mean, std) come from the train split once. Every key uses diffusion_policy's
"limits" mode: [min, max] -> [-1, 1], i.e. x_norm = x * scale + offset with

    scale = 2 / (max - min),   offset = -1 - min * scale.

A dimension whose range is below RANGE_EPS (a constant joint, an unused action) would give an
infinite scale; like diffusion_policy, it gets range 2 instead (scale 1) and an offset that maps its
min to 0, so it is a finite shift and round-trips exactly.

The same scale/offset arrays (`params`, `as_torch_params`) let the export bake normalization into a
graph: x_norm = x * scale + offset; x = (x_norm - offset) / scale.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import numpy as np

from robolearn.errors import DataError, RobolearnError

RANGE_EPS = 1e-4
FORMAT_VERSION = 1


def _is_tensor(x) -> bool:
    # Checked by module name so numpy-only users (the robot runtime) never import torch.
    return type(x).__module__.startswith("torch") and hasattr(x, "is_floating_point")


class _Stats:
    __slots__ = ("min", "max", "mean", "std", "scale", "offset")

    def __init__(self, mn, mx, mean, std):
        self.min = np.asarray(mn, np.float64).reshape(-1)
        self.max = np.asarray(mx, np.float64).reshape(-1)
        self.mean = np.asarray(mean, np.float64).reshape(-1)
        self.std = np.asarray(std, np.float64).reshape(-1)
        rng = self.max - self.min
        flat = rng < RANGE_EPS
        rng = np.where(flat, 2.0, rng)
        self.scale = 2.0 / rng
        self.offset = np.where(flat, -self.min, -1.0 - self.min * self.scale)


class Normalizer:
    """Limits-mode normalizers for `actions` and each low-dim obs key (e.g. `proprio`)."""

    def __init__(self, stats: dict[str, dict]):
        self._stats = {k: _Stats(v["min"], v["max"], v["mean"], v["std"]) for k, v in stats.items()}
        self._torch_cache: dict = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(cls, arrays: dict[str, list[np.ndarray] | np.ndarray]) -> "Normalizer":
        """Statistics from per-key arrays (N, D) or lists of them (one per demo)."""
        stats = {}
        for key, xs in arrays.items():
            xs = [xs] if isinstance(xs, np.ndarray) else list(xs)
            x = np.concatenate([np.asarray(a, np.float64).reshape(len(a), -1) for a in xs])
            if len(x) == 0:
                raise DataError(f"no data to compute '{key}' statistics from")
            stats[key] = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
        return cls(stats)

    @classmethod
    def from_store(cls, store, split: Optional[str] = "train") -> "Normalizer":
        """Statistics of actions and every low-dim obs key over a split's demos (all demos when the
        split is empty, e.g. a file with no train mask entries)."""
        demos = store.demo_names(split) or store.demo_names(None)
        arrays: dict[str, list] = {"actions": [store.actions(d) for d in demos]}
        for key in store.lowdim_keys:
            arrays[key] = [store.obs(demo, key) for demo in demos]
        return cls.from_arrays(arrays)

    def subset(self, keys: list[str]) -> "Normalizer":
        """A normalizer for these keys only (the rest pass through consumers that check `in`)."""
        return Normalizer({k: self.stats(k) for k in keys})

    # ------------------------------------------------------------------ access
    @property
    def keys(self) -> list[str]:
        return list(self._stats)

    def __contains__(self, key: str) -> bool:
        return key in self._stats

    def _get(self, key: str) -> _Stats:
        if key not in self._stats:
            raise RobolearnError(f"normalizer has no key '{key}' (keys: {', '.join(self._stats)})")
        return self._stats[key]

    def stats(self, key: str) -> dict[str, np.ndarray]:
        s = self._get(key)
        return {"min": s.min.copy(), "max": s.max.copy(), "mean": s.mean.copy(), "std": s.std.copy()}

    def dim(self, key: str) -> int:
        return len(self._get(key).scale)

    def params(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """float32 (scale, offset) with x_norm = x * scale + offset."""
        s = self._get(key)
        return s.scale.astype(np.float32), s.offset.astype(np.float32)

    def as_torch_params(self, device=None) -> dict[str, dict]:
        """{key: {"scale": tensor, "offset": tensor}} float32, for baking into an exported graph."""
        import torch  # lazy: numpy callers (collect, importers) never load torch for this

        return {k: {"scale": torch.as_tensor(self.params(k)[0], device=device),
                    "offset": torch.as_tensor(self.params(k)[1], device=device)} for k in self._stats}

    # ------------------------------------------------------------------ transforms
    def _coeffs(self, key: str, x):
        """scale/offset in x's array type, dtype and device (torch tensors are cached per device)."""
        s = self._get(key)
        if isinstance(x, np.ndarray):
            return s.scale.astype(x.dtype), s.offset.astype(x.dtype)
        import torch  # lazy: numpy callers (collect, importers) never load torch for this

        dt = x.dtype
        ck = (key, x.device, dt)
        if ck not in self._torch_cache:
            self._torch_cache[ck] = (torch.as_tensor(s.scale, dtype=dt, device=x.device),
                                     torch.as_tensor(s.offset, dtype=dt, device=x.device))
        return self._torch_cache[ck]

    def _prep(self, key: str, x):
        """x as a float array/tensor, with scale/offset matching it; checks the last dim."""
        if not isinstance(x, np.ndarray) and not _is_tensor(x):
            x = np.asarray(x, np.float32)
        if isinstance(x, np.ndarray) and not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        elif _is_tensor(x) and not x.is_floating_point():
            x = x.float()
        scale, offset = self._coeffs(key, x)
        if x.ndim == 0 or x.shape[-1] != scale.shape[0]:
            raise RobolearnError(f"'{key}' has shape {tuple(x.shape)}, the normalizer expects (..., {scale.shape[0]})")
        return x, scale, offset

    def normalize(self, key: str, x):
        """x (..., D) -> x * scale + offset. numpy in, numpy out (float32 unless x is float64);
        torch in, torch out, on x's device and dtype."""
        x, scale, offset = self._prep(key, x)
        return x * scale + offset

    def unnormalize(self, key: str, x):
        """Inverse of `normalize`."""
        x, scale, offset = self._prep(key, x)
        return (x - offset) / scale

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "mode": "limits",
            "range_eps": RANGE_EPS,
            "keys": {k: {"min": s.min.tolist(), "max": s.max.tolist(), "mean": s.mean.tolist(),
                         "std": s.std.tolist(), "scale": s.scale.tolist(), "offset": s.offset.tolist()}
                     for k, s in self._stats.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        try:
            keys = d["keys"]
            return cls({k: {f: v[f] for f in ("min", "max", "mean", "std")} for k, v in keys.items()})
        except (KeyError, TypeError) as e:
            raise DataError(f"not a normalizer description (missing {e})") from None

    def save(self, path) -> Path:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "Normalizer":
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        try:
            d = json.loads(path.read_text())
        except ValueError:
            raise DataError(f"{path}: not valid JSON") from None
        try:
            return cls.from_dict(d)
        except DataError as e:
            raise DataError(f"{path}: {e}") from None

    def __repr__(self) -> str:
        return f"Normalizer({', '.join(f'{k}[{self.dim(k)}]' for k in self._stats)})"
