# Rank 1 leaves while its gloo worker still holds the last reference to a Python-made tensor (the peer,
# rank 0, joins the collective late): the worker then takes the GIL during interpreter finalization.
import os, sys, time
import torch, torch.distributed as dist
from robolearn import distributed as rd
rd.setup("cpu")
r = dist.get_rank()
if r == 0:
    time.sleep(float(os.environ.get("DELAY", "2")))
t = torch.ones(10)
work = dist.all_reduce(t, async_op=True)
if r == 1:
    del t, work
    if os.environ.get("DESTROY"):
        rd.shutdown()
else:
    work.wait()
    time.sleep(1)
print(f"rank {r} exiting", flush=True)
