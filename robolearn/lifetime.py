"""Child processes that must not outlive the process that started them, not even one killed with SIGKILL.

A spawned child spends its first seconds importing (robolearn.cli, torch, MuJoCo: ~9 s on a slow host,
over 20 s while tests run beside it) before any code of ours can watch its parent. A parent killed in
that window left its children importing and then rolling out with nobody to read the result (seen in
CI). So the parent marks the children it spawns (`children_exit_with_me`), and the child binds its life
to the parent's on its first `import robolearn` (`bind_to_parent`, called from robolearn/__init__.py),
before anything heavy is imported.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

ENV = "ROBOLEARN_EXIT_WITH_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@contextmanager
def children_exit_with_me() -> Iterator[None]:
    """Processes spawned inside this block exit when this process dies. The mark travels in the
    environment, which a spawned child inherits; only the children's first `import robolearn` reads it.
    On Linux the kernel's signal follows the spawning *thread*: spawn from one that outlives the
    children (`run_loops` waits for its loops)."""
    old = os.environ.get(ENV)
    os.environ[ENV] = str(os.getpid())
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = old


def _kernel_kills_me_with_parent() -> bool:
    """Linux: the kernel sends SIGKILL when the parent dies (no thread of ours needs to run, so it
    works even while an import holds the GIL)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _poll_parent(pid: int) -> None:
    while os.getppid() == pid:
        time.sleep(0.5)
    os._exit(1)


def bind_to_parent() -> None:
    """In a child marked by `children_exit_with_me`: exit when the parent dies. The mark is removed so
    that this child's own children are not bound to the wrong process."""
    mark = os.environ.pop(ENV, None)
    if mark is None:
        return
    parent = int(mark)
    if not _kernel_kills_me_with_parent():
        threading.Thread(target=_poll_parent, args=(parent,), name="parent-poll", daemon=True).start()
    # The parent died before the binding: it is already too late for the kernel to tell us.
    if os.getppid() != parent:
        os._exit(1)
