"""Counter-current learning vs. backpropagation on scikit-learn's digits (1,797 real 8x8 images).

The same MLP (64 -> 256 -> 256 -> 10, ELU), the same data split (75/25, stratified, fixed), the
same optimizer settings (AdamW lr 1e-3, batch 64, gradient clip 1 per network), the same epochs:
once trained end to end by backpropagation, once by CCL (`robolearn.pretraining.ccl`: local
layer-pair losses against a feedback net fed the one-hot label, cross-entropy on the output layer
only). Prints test accuracy per seed and mean ± std over seeds. No assertions; tests/test_ccl.py
checks one seed.

    python benchmarks/ccl_digits.py [--seeds 0 1 2] [--epochs 40]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from robolearn.pretraining.ccl import CounterCurrentNet

WIDTHS = [64, 256, 256, 10]
SPLIT_SEED = 0


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_test, y_test); pixels standardized with train statistics."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = d.data.astype(np.float32) / 16.0
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.25, random_state=SPLIT_SEED, stratify=d.target)
    mu, sd = xtr.mean(0), xtr.std(0) + 0.01  # corner pixels are (almost) always 0
    f = lambda a: torch.from_numpy(((a - mu) / sd).astype(np.float32))  # noqa: E731
    return f(xtr), torch.from_numpy(ytr).long(), f(xte), torch.from_numpy(yte).long()


def train_mlp(method: str, seed: int, data=None, epochs: int = 40, batch: int = 64, lr: float = 1e-3,
              decorrelation: float = 0.5) -> float:
    """Test accuracy (%) of the digits MLP trained by `method` ('bp' or 'ccl')."""
    xtr, ytr, xte, yte = data if data is not None else digits_split()
    torch.manual_seed(seed)
    net = CounterCurrentNet(WIDTHS, feedback_to_input=False)
    fwd = torch.optim.AdamW(net.forward_layers.parameters(), lr=lr, weight_decay=1e-4)
    fb = torch.optim.AdamW(net.feedback_layers.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            if len(idx) < 2:
                continue
            x, y = xtr[idx], ytr[idx]
            if method == "bp":
                loss = F.cross_entropy(net.predict(x), y)
            elif method == "ccl":
                logits, local = net.counter_current(x, F.one_hot(y, WIDTHS[-1]).float(), decorrelation=decorrelation)
                loss = F.cross_entropy(logits, y) + sum(local.values())
            else:
                raise ValueError(method)
            fwd.zero_grad(set_to_none=True)
            fb.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.forward_layers.parameters(), 1.0)
            torch.nn.utils.clip_grad_norm_(net.feedback_layers.parameters(), 1.0)
            fwd.step()
            if method == "ccl":
                fb.step()
    with torch.no_grad():
        return 100.0 * (net.predict(xte).argmax(1) == yte).float().mean().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    # 64x256 matrices: extra threads only add synchronization (and stall badly on a busy machine).
    torch.set_num_threads(1)
    data = digits_split()
    print(f"digits: {len(data[0])} train / {len(data[2])} test images; MLP {WIDTHS}; {args.epochs} epochs")
    results = {}
    for method in ("bp", "ccl"):
        accs = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            accs.append(train_mlp(method, seed, data, epochs=args.epochs))
            print(f"  {method:3s} seed {seed}: test accuracy {accs[-1]:.2f}%  ({time.perf_counter() - t0:.1f} s)")
        results[method] = np.array(accs)
    for method, accs in results.items():
        std = accs.std(ddof=1) if len(accs) > 1 else 0.0  # sample std over seeds
        print(f"{method.upper():3s} test accuracy: {accs.mean():.2f} ± {std:.2f}% over seeds {args.seeds}")
    print(f"CCL - BP: {results['ccl'].mean() - results['bp'].mean():+.2f} points")


if __name__ == "__main__":
    main()
