"""Inference latency of the policy heads at batch 1, the way a robot runs them (one CPU thread).

Per head: `predict` in torch (eager, what evaluation runs), and where `--onnx` (default) the
exported path: the head's deterministic `predict_from_noise` as one onnxruntime graph (VQ-BeT, and
any other head), or, for diffusion, the denoiser graph alone inside the numpy DDIM loop
(`ddim_sample_numpy`), which is what `denoiser()` and `ddim_constants()` are for. Plus the conv
encoder on one 2-view 64 px frame: the Policy encodes one frame per step and keeps the history.

Embeddings are 2 views x 64-d conv features + 4-d proprio = 132-d. Weights are random (latency does
not depend on them); VQ-BeT's tokenizer is fitted briefly on random chunks so it can predict.

Targets (one thread): VQ-BeT <= 8 ms per action (T_a = 1: one predict per action), diffusion
<= 25 ms per chunk (10 DDIM steps), for the head. Per action (+enc/act) = encoder + predict / T_a
(amortized); a step that plans pays encoder + predict.

    .venv/bin/python benchmarks/head_latency.py [--heads vqbet diffusion mlp knn] [--no-onnx]
    .venv/bin/python benchmarks/head_latency.py --heads diffusion --diffusion.down-dims 64 128 256
"""
from __future__ import annotations

import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import tyro

from robolearn.config import EncoderConfig
from robolearn.policies.diffusion import DiffusionConfig
from robolearn.policies.knn import KnnConfig
from robolearn.policies.mlp import MlpConfig
from robolearn.policies.vqbet import VqbetConfig
from robolearn.encoders import make_encoder
from robolearn.policies import get_head

TARGETS_MS = {"vqbet": ("per action", 8.0), "diffusion": ("per chunk", 25.0)}


@dataclass
class Args:
    heads: list[str] = field(default_factory=lambda: ["vqbet", "diffusion"])
    calls: int = 200
    """Timed calls per measurement (p50 and p99 over these)."""
    warmup: int = 20
    threads: int = 1
    onnx: bool = True
    """Also time the exported path with onnxruntime."""
    views: int = 2
    image_size: int = 64
    proprio_dim: int = 4
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    vqbet: VqbetConfig = field(default_factory=lambda: VqbetConfig(vq_steps=50))
    """Head configs; vq_steps is cut to 50 here: fitting quality does not change latency."""
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    mlp: MlpConfig = field(default_factory=MlpConfig)
    knn: KnnConfig = field(default_factory=KnnConfig)
    knn_size: int = 20_000
    """Training frames the kNN head searches."""


def timed(fn, calls: int, warmup: int) -> tuple[float, float, float]:
    """(wall p50, wall p99, CPU p50) milliseconds of fn(). The CPU time is this thread's (torch and
    onnxruntime run single-threaded in the caller here): on a shared machine it leaves out the time
    other processes held the core, which the wall time includes."""
    for _ in range(warmup):
        fn()
    wall, cpu = np.empty(calls), np.empty(calls)
    for i in range(calls):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        wall[i], cpu[i] = time.perf_counter() - t0, time.thread_time() - c0
    return float(np.percentile(wall, 50) * 1e3), float(np.percentile(wall, 99) * 1e3), float(np.percentile(cpu, 50) * 1e3)


def ort_session(module: torch.nn.Module, args: tuple, names: list[str], threads: int):
    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(prefix="head_latency_"), "m.onnx")
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=names, dynamo=True, verbose=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


class FromNoise(torch.nn.Module):
    """A head's deterministic inference as a module: (emb, noise) -> actions."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, emb, noise=None):
        return self.head.predict_from_noise(emb, noise)


def main(a: Args) -> None:
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    enc = make_encoder(a.encoder, num_views=a.views, image_size=a.image_size).eval()
    d = enc.embed_dim + a.proprio_dim
    frame = torch.randint(0, 256, (1, a.views, a.image_size, a.image_size, 3), dtype=torch.uint8)
    rows = []
    with torch.inference_mode():
        enc_p50, enc_p99, enc_cpu = timed(lambda: enc(frame), a.calls, a.warmup)
    rows.append(("encoder (1 frame)", f"{a.views}x{a.image_size}px", enc_p50, enc_p99, enc_cpu, "", ""))
    print(f"threads {a.threads}, emb {d}-d ({a.views} views x {enc.view_dim} + proprio {a.proprio_dim}), "
          f"{a.calls} calls, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs", flush=True)

    for name in a.heads:
        cls = get_head(name)
        cfg = getattr(a, name)
        t_o, t, t_a = cls.default_obs_horizon, cls.default_pred_horizon, min(cls.default_action_horizon, cls.default_pred_horizon)
        head = cls(d, 2, t_o, t, cfg)
        n = a.knn_size if name == "knn" else 1024
        head.prepare(torch.randn(n, t_o, d), torch.rand(n, t, 2) * 2 - 1, torch.zeros(n, t, dtype=torch.bool))
        head.eval()
        emb = torch.randn(1, t_o, d)
        g = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            p50, p99, cpu = timed(lambda: head.predict(emb, g), a.calls, a.warmup)
        params = sum(p.numel() for p in head.parameters()) - (
            sum(p.numel() for p in head.ema.parameters()) if hasattr(head, "ema") else 0)
        shape = f"T_o {t_o} T {t} T_a {t_a}"
        rows.append((f"{name} predict (torch)", shape, p50, p99, cpu, enc_cpu + cpu / t_a, params))

        if a.onnx:
            noise = head.sample_noise(1, g)
            if name == "diffusion":
                sess = ort_session(head.denoiser(), (torch.randn(1, t, 2), torch.zeros(1), emb.flatten(1)),
                                   ["x", "t", "cond"], a.threads)
                const = head.ddim_constants()
                cond = emb.flatten(1).numpy()
                x0 = noise.numpy()

                def run():
                    from robolearn.policies.diffusion import ddim_sample_numpy

                    return ddim_sample_numpy(lambda x, ts: sess.run(None, {"x": x, "t": ts, "cond": cond})[0], x0, const)

                with torch.inference_mode():
                    ref = head.predict_from_noise(emb, noise).numpy()
                label = f"{name} ORT denoiser + numpy DDIM"
            else:
                inputs = (emb,) if noise is None else (emb, noise)
                names = ["emb"] if noise is None else ["emb", "noise"]
                sess = ort_session(FromNoise(head), inputs, names, a.threads)
                feed = {k: v.numpy() for k, v in zip(names, inputs)}

                def run():
                    return sess.run(None, feed)[0]

                with torch.inference_mode():
                    ref = head.predict_from_noise(emb, noise).numpy()
                label = f"{name} ORT graph"
            err = float(np.abs(run() - ref).max())
            p50o, p99o, cpuo = timed(run, a.calls, a.warmup)
            rows.append((label, f"max|diff| {err:.1e}", p50o, p99o, cpuo, enc_cpu + cpuo / t_a, params))

    print(f"{'what':<36} {'shape':<20} {'p50 ms':>8} {'p99 ms':>8} {'cpu p50':>8} {'+enc/act':>9} {'params':>10}")
    for what, shape, p50, p99, cpu, per_action, params in rows:
        pa = f"{per_action:.2f}" if per_action != "" else ""
        print(f"{what:<36} {shape:<20} {p50:>8.2f} {p99:>8.2f} {cpu:>8.2f} {pa:>9} {params!s:>10}")
    print("p50/p99: wall time per call; cpu p50: this thread's CPU time per call; +enc/act: encoder +\n"
          "predict / T_a in CPU ms, the amortized cost of one action (a step that plans pays both in full).")
    for name, (unit, ms) in TARGETS_MS.items():
        if name in a.heads:
            print(f"target {name}: <= {ms:g} ms {unit}")


if __name__ == "__main__":
    main(tyro.cli(Args))
