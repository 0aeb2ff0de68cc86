"""Evaluation loops die with the process that spawned them, even when it is killed with SIGKILL while
they are still importing (the case CI hit: a loop spends ~10-20 s importing torch on a loaded host)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

PARENT = textwrap.dedent("""
    import multiprocessing as mp, sys, time

    def child(delay):
        time.sleep(delay)  # a child still starting up: robolearn not imported yet
        import robolearn
        print("bound", flush=True)
        time.sleep(120)

    if __name__ == "__main__":
        from robolearn.lifetime import ENV, children_exit_with_me
        with children_exit_with_me():
            p = mp.get_context("spawn").Process(target=child, args=(float(sys.argv[1]),))
            p.start()
        assert ENV not in __import__("os").environ  # the mark is only for the children spawned inside
        print(p.pid, flush=True)
        time.sleep(120)
""")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # dead, waiting for its new parent to reap it
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("when", ["running", "starting up"])
def test_child_exits_when_its_parent_is_killed(tmp_path, when):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    delay = 0.0 if when == "running" else 3.0
    proc = subprocess.Popen([sys.executable, str(script), str(delay)], stdout=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=dict(os.environ, PYTHONPATH=os.getcwd()))
    child = None
    try:
        child = int(proc.stdout.readline())
        if when == "running":
            assert proc.stdout.readline().strip() == "bound"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while not _gone(child) and time.time() < deadline:
            time.sleep(0.1)
        assert _gone(child), f"child {child} outlived its parent ({when})"
    finally:
        proc.kill()
        proc.wait()
        if child is not None:
            try:
                psutil.Process(child).kill()
            except psutil.NoSuchProcess:
                pass


def test_plain_import_is_not_bound():
    """Without the mark, importing robolearn starts nothing and exits nothing."""
    out = subprocess.run([sys.executable, "-c", "import robolearn, threading; print(threading.active_count())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
