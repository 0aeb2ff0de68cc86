"""One writer per output: every command that writes a run folder or a file holds an exclusive lock on it.

Two jobs given the same `--out` (a requeued job while the first still runs, a command submitted
twice) would both resume from one checkpoint and interleave their writes. The lock is `flock` on a
file beside the output, `.<name>.lock` (beside, not inside: `--overwrite` and the atomic publish of
a bundle replace the folder itself). It records the holder's pid, host and command; a second writer
exits 2 with one line naming them.

The kernel releases a flock when its process dies (kill -9 included), so a lock file left behind by
a killed run is taken over, with a warning. Where flock does not reach (a filesystem without it, or
one that does not share it between hosts) the record still guards: a live pid of this host holds it,
and the holder touches the file every HEARTBEAT_S seconds, so a record from another host is honoured
until it is STALE_S seconds old.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

from robolearn.errors import RobolearnError

HEARTBEAT_S = 30.0
STALE_S = 300.0

_HELD: set[int] = set()
"""File descriptors of the locks this process holds."""


def _close_in_child() -> None:
    # A forked child (a DataLoader worker) would otherwise share the flock and keep it after its
    # parent is killed; closing its copy leaves the parent's lock in place.
    for fd in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def lock_path(target: Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.lock"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _read(fd: int) -> dict:
    try:
        raw = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        return json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
        return {}


def _describe(rec: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(rec["started"])) if "started" in rec else "?"
    return f"pid {rec.get('pid', '?')} on host {rec.get('host', '?')} (`{rec.get('command', '?')}`, since {since})"


# flock refused by the filesystem itself (Lustre mounted without flock, some NFS setups).
_NO_FLOCK = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP}


def _open_locked(path: Path) -> tuple[int, Optional[dict], bool]:
    """Open and flock the lock file. Returns (fd, None, flocked) once ours (flocked False where the
    filesystem has no flock: the record alone guards); (-1, holder's record, True) when another process
    holds it. Retries when the file was replaced between open and flock (a holder finishing)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in _NO_FLOCK:
                return fd, None, False
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            rec = _read(fd)
            for _ in range(20):  # the holder may be between its flock and writing its record
                if rec:
                    break
                time.sleep(0.05)
                rec = _read(fd)
            os.close(fd)
            return -1, rec, True
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, None, True
        os.close(fd)  # we locked a file its holder had just removed: lock the current one


def _take_over(fd: int, path: Path, target: Path, flocked: bool) -> None:
    """The flock is ours (or the filesystem has none). A record left in the file is a dead process's
    (same host), or another host's, or (without flock) possibly a live one's."""
    prev = _read(fd)
    if not prev:
        return
    host = socket.gethostname()
    pid = int(prev.get("pid", 0) or 0)
    if not flocked and prev.get("host") == host and pid != os.getpid() and pid_alive(pid):
        os.close(fd)
        raise RobolearnError(f"{target} is being written by {_describe(prev)}; one writer per output "
                             f"(wait for it, or choose another --out)")
    if prev.get("host") not in (None, host):
        age = time.time() - os.fstat(fd).st_mtime
        if age < STALE_S:
            os.close(fd)
            raise RobolearnError(f"{target} is being written by {_describe(prev)}, updated {age:.0f} s ago "
                                 f"(this filesystem does not share locks between hosts); wait for it, or "
                                 f"remove {path} if that job is gone")
        why = f"not updated for {age:.0f} s"
    else:
        why = "that process is gone" if not pid_alive(pid) else "it no longer holds the lock"
    print(f"warning: {target}: taking over the lock left by {_describe(prev)}: {why} (a killed run)",
          file=sys.stderr)


@contextlib.contextmanager
def exclusive(target: Path, command: str = "") -> Iterator[None]:
    """Hold the one-writer lock of `target` (a run folder or an output file) for the block.

    A second holder gets a RobolearnError naming the first one's pid and host."""
    target = Path(target)
    path = lock_path(target)
    created, p = [], path.parent  # folders made for the lock: removed again if the command leaves them empty
    while not p.exists():
        created.append(p)
        p = p.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, holder, flocked = _open_locked(path)
    if fd < 0:
        raise RobolearnError(f"{target} is being written by {_describe(holder or {})}; "
                             f"one writer per output (wait for it, or choose another --out)")
    _take_over(fd, path, target, flocked)
    rec = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or " ".join(sys.argv[:3]),
           "started": time.time()}
    _HELD.add(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(rec).encode(), 0)
    os.fsync(fd)
    stop = threading.Event()

    def heartbeat():  # the record's mtime tells other hosts this holder is alive
        while not stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(fd)

    beat = threading.Thread(target=heartbeat, name="robolearn-lock", daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()  # no thread of ours left running at interpreter exit
        _HELD.discard(fd)
        # Removed while still locked, then released: a writer that opened the old file sees it
        # replaced and retries (see _open_locked).
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        for d in created:  # innermost first; a folder the command wrote into stays
            try:
                d.rmdir()
            except OSError:
                break


__all__ = ["exclusive", "lock_path", "pid_alive"]
