"""The report of a `robolearn run`: a results table, training curves and a success bar chart."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.tracking import read_metrics


def plot_curves(runs: dict[str, Path], path: Path, key: str = "train/loss", title: str = "") -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    drawn = False
    for label, run_dir in runs.items():
        rows = [r for r in read_metrics(run_dir) if r.get(key) is not None and "step" in r]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=label)
            drawn = True
    if drawn:
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.set_yscale("log")
        ax.set_title(title or key)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def plot_success(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['objective']}\n{r['head']}" for r in rows]
    rate = np.array([r["success"] for r in rows])
    lo = np.array([r["ci_low"] for r in rows])
    hi = np.array([r["ci_high"] for r in rows])
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4))
    ax.bar(range(len(rows)), rate, yerr=[rate - lo, hi - rate], capsize=4, color="#4C72B0")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (Wilson 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(path: Path, title: str, setup: list[str], rows: list[dict], figures: dict[str, str],
                 videos: list[str], notes: list[str]) -> Path:
    lines = [f"# {title}", "", *[f"- {s}" for s in setup], "", "## Results", "",
             "| encoder (objective) | head | success | 95% CI | episodes | per-seed | final success | mean length | probe R² | first block in a zone (0 / 1) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        per_seed = ", ".join(f"{s:.2f}" for s in r["per_seed"])
        r2 = "—" if r.get("probe_r2") is None else f"{r['probe_r2']:.3f}"
        modes = r.get("first_block") or "—"
        lines.append(
            f"| {r['objective']} | {r['head']} | {r['success']:.2f} | [{r['ci_low']:.2f}, {r['ci_high']:.2f}] | "
            f"{r['episodes']} | {per_seed} | {r.get('final_success', 0.0):.2f} | {r['mean_length']:.1f} | {r2} | {modes} |"
        )
    lines += ["", "success: episodes solved (Wilson 95% interval over all seeds' episodes); final success: mean "
              "task progress at the episode's end (BlockPush: fraction of zones holding a block); first block: "
              "how many episodes had block 0 or block 1 reach a zone first (the mode the policy chose).",
              "", *notes, ""]
    for caption, fig in figures.items():
        lines += [f"## {caption}", "", f"![{caption}]({fig})", ""]
    if videos:
        lines += ["## Videos", "", *[f"- {v}" for v in videos], ""]
    Path(path).write_text("\n".join(lines))
    return Path(path)
