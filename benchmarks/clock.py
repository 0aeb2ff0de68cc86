"""`Clock`: wall time and this process's CPU time over `with` blocks, for the benchmarks beside it.

On a shared machine wall-clock rates fall with the load; rates per CPU-second (all this process's
threads, llvmpipe's included) do not, so the benchmarks print both."""
from __future__ import annotations

import time


class Clock:
    """Accumulates wall and CPU seconds over every `with` block it is used in."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c
