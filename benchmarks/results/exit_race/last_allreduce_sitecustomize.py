import atexit, os, sys, time
_last = [None, None]
def _install():
    import torch.distributed as d
    orig = d.all_reduce
    def all_reduce(*a, **k):
        out = orig(*a, **k)
        _last[0] = time.monotonic()
        return out
    d.all_reduce = all_reduce
    import torch.distributed.distributed_c10d as c
    c.all_reduce = all_reduce
def _report():
    if "RANK" in os.environ and _last[0]:
        print(f"[rank {os.environ['RANK']}] last all_reduce -> atexit: {1000*(time.monotonic()-_last[0]):.1f} ms", file=sys.stderr, flush=True)
if "RANK" in os.environ:
    try:
        _install()
    except Exception as e:
        print("install failed", e, file=sys.stderr)
    atexit.register(_report)
