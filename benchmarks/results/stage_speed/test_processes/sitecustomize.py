# Test-suite accounting (not part of the repo's code): every Python process logs its start and, when it
# exits normally, its own CPU time.
import atexit, os, sys
_LOG = os.environ.get("PCOUNT_LOG")
if _LOG:
    with open(_LOG, "a") as f:
        f.write(f"start\t{os.getpid()}\t{os.getppid()}\t{' '.join(sys.argv)[:160]!r}\n")
    def _w():
        t = os.times()
        with open(_LOG, "a") as f:
            f.write(f"exit\t{os.getpid()}\t{t.user + t.system:.2f}\t{int('torch' in sys.modules)}\t{' '.join(sys.argv)[:160]!r}\n")
    atexit.register(_w)
