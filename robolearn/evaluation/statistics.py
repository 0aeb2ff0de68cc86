"""Statistics of an evaluation: the Wilson interval, the summary of episode records, shards."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from robolearn.errors import RobolearnError


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% for z=1.96).

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n,
    which is exactly where small evaluation runs land. n=0 gives the uninformative (0, 1).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At 0/n and n/n the bound is exactly 0 or 1; float round-off would give 0.9999999999999999.
    lo = 0.0 if successes == 0 else max(0.0, center - half)
    hi = 1.0 if successes == n else min(1.0, center + half)
    return lo, hi


def aggregate(records: list[dict]) -> dict:
    """The summary statistics of a list of episode records."""
    n = len(records)
    k = sum(r["success"] for r in records)
    lo, hi = wilson_interval(k, n)
    return {
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "success_ci95": [lo, hi],
        "mean_length": float(np.mean([r["length"] for r in records])),
        "mean_final_success": float(np.mean([r["final_success"] for r in records])),
    }


def parse_shard(spec: Optional[str], episodes: int) -> tuple[int, int]:
    """'K/N' -> (K, N), 0 <= K < N <= episodes; None -> (0, 1)."""
    if spec is None:
        return 0, 1
    try:
        k, n = (int(x) for x in str(spec).split("/"))
    except ValueError:
        raise RobolearnError(f"--shard must look like K/N (e.g. 0/4, shards numbered from 0), got {spec!r}") from None
    if not 0 <= k < n:
        raise RobolearnError(f"--shard {spec}: need 0 <= K < N (shards are numbered 0 .. N-1)")
    if n > episodes:
        raise RobolearnError(f"--shard {spec}: {n} shards of {episodes} episodes would leave some empty")
    return k, n


def shard_episodes(episodes: int, k: int, n: int) -> range:
    """Episode indices of shard k of n: contiguous, sizes differing by at most one."""
    return range(k * episodes // n, (k + 1) * episodes // n)
