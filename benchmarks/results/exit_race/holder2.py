import os, sys, time, threading, gc
import torch, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from robolearn import distributed as rd
def ost(): return [open(f"/proc/self/task/{t}/comm").read().strip() for t in sorted(os.listdir("/proc/self/task"))]
rd.setup("cpu")
r = dist.get_rank()
mode = os.environ.get("MODE")
def run():
    m = torch.nn.Linear(4, 2)
    ddp = DDP(m, static_graph=os.environ.get("STATIC") == "1")
    if mode in ("fwd", "bwd"):
        loss = ddp(torch.randn(3, 4)).pow(2).mean()
        if mode == "bwd":
            loss.backward()
run()
gc.collect()
rd.shutdown()
gc.collect()
print(r, mode, os.environ.get("STATIC"), "after destroy", ost(), flush=True)
