"""Training step rate of the diffusion head alone (random tensors of the suite's shapes), one thread."""
import time, sys, torch
torch.set_num_threads(1)
from robolearn.policies.diffusion import DiffusionHead, DiffusionConfig
for dims, b in [((32,64,128),256), ((32,64,128),64), ((64,128,256),256)]:
    h = DiffusionHead(16, 2, 2, 16, DiffusionConfig(down_dims=dims))
    opt = torch.optim.AdamW(h.net.parameters(), lr=3e-4)
    x = torch.randn(b, 2, 16); y = torch.rand(b, 16, 2)*2-1
    for i in range(25):
        if i == 5: t0 = time.time()
        loss, _ = h.loss(x, y); opt.zero_grad(); loss.backward()
        torch.nn.utils.clip_grad_norm_(h.net.parameters(), 1.0); opt.step(); h.after_step(i+1, 100)
    dt = (time.time()-t0)/20
    print(dims, b, f"{dt*1000:.0f} ms/step, {1/dt:.2f} steps/s, params {sum(p.numel() for p in h.net.parameters())/1e6:.2f}M", flush=True)
