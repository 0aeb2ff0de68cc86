"""The processes of a session, for tests that start a command in its own session and check that
nothing it started is left running."""
from __future__ import annotations

import os

import psutil


def session_pids(sid: int) -> list[int]:
    """Every process whose session id is `sid` (the session leader included while it lives)."""
    out = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid:
                out.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return out
