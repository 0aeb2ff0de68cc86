import os, sys, time, threading, weakref
import torch, torch.distributed as dist
from robolearn import distributed as rd
rd.setup("cpu")
r = dist.get_rank()
main = threading.get_ident()
def freed(tag):
    print(f"rank {r}: {tag} freed on {'main' if threading.get_ident() == main else 'another'} thread ({threading.current_thread().name})", flush=True)
for k in range(5):
    t = torch.ones(int(os.environ.get("N", "10")))
    weakref.finalize(t, freed, f"sync all_reduce tensor {k}")
    dist.all_reduce(t)
    del t
    time.sleep(0.2)
t = torch.ones(10_000_000)
weakref.finalize(t, freed, "async big tensor")
w = dist.all_reduce(t, async_op=True); del t, w
time.sleep(2)
rd.shutdown()
