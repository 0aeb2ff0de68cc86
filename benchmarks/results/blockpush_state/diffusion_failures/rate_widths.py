"""Training-step CPU time of the state diffusion head (the suite's x0, T_o 2, T 8) at two UNet widths, random tensors,
batch 256, one thread: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/results/blockpush_state/diffusion_failures/rate_widths.py`."""
import time, torch
torch.set_num_threads(1)
from robolearn.policies.diffusion import DiffusionHead, DiffusionConfig
for dims in [(32,64,128), (16,32,64)]:
    h = DiffusionHead(16, 2, 2, 8, DiffusionConfig(down_dims=dims, prediction_type="sample"))
    opt = torch.optim.AdamW(h.net.parameters(), lr=3e-4)
    x = torch.randn(256, 2, 16); y = torch.rand(256, 8, 2)*2-1
    for i in range(25):
        if i == 5: t0 = time.process_time()
        loss, _ = h.loss(x, y); opt.zero_grad(); loss.backward(); opt.step()
    dt = (time.process_time()-t0)/20
    print(dims, f"{dt*1000:.0f} ms/step CPU, params {sum(p.numel() for p in h.net.parameters())/1e6:.2f}M", flush=True)
