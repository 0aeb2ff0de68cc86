"""The report of a `robolearn run`: a results table, training curves and a success bar chart."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robolearn.tracking import read_metrics


def plot_curves(runs: dict[str, Path], path: Path, key: str = "train/loss", title: str = "") -> bool:
    import matplotlib  # lazy: slow to import, and only reports plot

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


def plot_success(rows: list[dict], path: Path, title: str = "") -> None:
    """Success per row with its Wilson 95% interval; baselines grey, the state ceiling dark."""
    import matplotlib  # lazy: slow to import, and only reports plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['encoder']}\n{r['head']}" for r in rows]
    rate = np.array([r["success"] for r in rows])
    lo = np.array([r["ci_low"] for r in rows])
    hi = np.array([r["ci_high"] for r in rows])
    colours = ["#333333" if r["encoder"] == "state" else "#999999" if r["encoder"] in ("none", "scratch")
               else "#4C72B0" for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4))
    ax.bar(range(len(rows)), rate, yerr=[rate - lo, hi - rate], capsize=4, color=colours)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (Wilson 95% CI)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt_faults(r: dict) -> str:
    """Simulator faults (crashes, diverged physics) counted apart from failures, with the saved traceback."""
    if r.get("sim_faults") is None:
        return "—"  # a row written before faults were reported
    n = int(r["sim_faults"])
    return f"{n} ([traceback]({r['fault_traceback']}))" if n and r.get("fault_traceback") else str(n)


def encoder_table(rows: list[dict]) -> list[str]:
    """One line per pretrained encoder: its probe beside its collapse indicators at the end of
    pretraining (mean over its pretraining seeds) and the optimizer preset it was trained with."""
    seen, lines = set(), []
    for r in rows:
        stats = r.get("collapse") or {}
        if r["encoder"] in seen or not stats:
            continue
        seen.add(r["encoder"])
        cell = lambda k, f: "—" if stats.get(k) is None else format(stats[k], f)  # noqa: E731
        r2 = "—" if r.get("probe_r2") is None else f"{r['probe_r2']:.2f}"
        lines.append(f"| {r['encoder']} | {r.get('pretrain_preset') or '—'} | {r2} | {cell('mean_cosine', '.3f')} | "
                     f"{cell('effective_rank', '.1f')} | {cell('emb_std', '.3f')} | {cell('within_episode_share', '.2f')} |")
    if not lines:
        return []
    return ["", "Encoders at the end of pretraining (validation frames; `none` is the random initialization):", "",
            "| encoder | preset | probe R² | mean cosine | effective rank | per-dim std | within-episode share |",
            "| --- | --- | --- | --- | --- | --- | --- |", *lines, ""]


def _fmt_wall(w: dict) -> str:
    return " / ".join(f"{w[k]:.0f}" if k in w else "—" for k in ("pretrain", "train", "eval"))


def task_columns(rows: list[dict]) -> dict[str, str]:
    """The task's own columns (key -> header) its rows carry. Rows written before tasks named their
    columns have BlockPush's `modes` alone."""
    out: dict[str, str] = {}
    for r in rows:
        out.update(r.get("task_columns") or ({"modes": "modes executed"} if r.get("modes") is not None else {}))
    return out


def _fmt_cell(v) -> str:
    if isinstance(v, dict):
        return " / ".join(f"{k}: {x}" for k, x in v.items()) or "—"
    return "—" if v is None else str(v)


def _head_steps(t) -> str:
    per_head = getattr(t, "head_steps", None) or {}
    return ", ".join(f"{h} {per_head.get(h, t.train_steps)}" for h in t.heads) if per_head else str(t.train_steps)


def write_suite_report(root: Path, title: str, tasks, rows: list[dict]) -> Path:
    """report.md: per task its setup, the table (state ceiling and baselines first), a success plot,
    training curves and videos."""
    root = Path(root)
    lines = [f"# {title}", "",
             "Success: episodes solved at the final checkpoint, pooled over seeds, with the Wilson 95% interval; "
             "evaluation seeds are disjoint from the demonstrations'. `state` is the privileged-state ceiling, "
             "`scratch` end-to-end training from a random encoder, `none` the frozen random encoder; "
             "`ft-<objective>` fine-tunes that encoder end to end. Frozen embeddings are standardized with "
             "training-split statistics. Sim faults: episodes ended by a simulator fault (an exception or diverged physics), counted as failures "
             "and shown apart. Wall time: seconds summed over seeds (pretrain / train / eval).", ""]
    for t in tasks:
        trows = [r for r in rows if r["task"] == t.name]
        pre = f"pretraining on the same demos ({t.pretrain_steps} steps)"
        if t.pretrain_envs:
            pool = ", ".join(f"`{e}`" for e in t.pretrain_envs)
            pre = (f"pretraining on {t.pretrain_demos} demos of {pool} ({t.pretrain_steps} steps)" if len(t.pretrain_envs) == 1
                   else f"pretraining on {t.pretrain_demos} demos of each of {len(t.pretrain_envs)} envs "
                        f"({t.pretrain_steps} steps): {pool}")
            if t.pretrain_group:
                pre += f"; encoders shared by every task of group `{t.pretrain_group}` (pretrain wall time counted in each)"
        lines += [f"## {t.name}", "",
                  f"- `{t.env}`: {t.demos} demonstrations, {t.image_size} px, cameras "
                  f"{', '.join(t.cameras) if t.cameras else 'the task default'}; image rows "
                  f"{'with' if t.use_proprio else 'without'} proprio",
                  f"- {pre}; heads {_head_steps(t)} steps, end to end {t.e2e_steps} steps (batch {t.e2e_batch}); "
                  f"{t.eval_episodes} evaluation episodes per seed"
                  + (f" of at most {t.horizon} steps" if t.horizon else "") + f", seeds {t.seeds}"
                  + (f" (encoders pretrained with seeds {t.pretrain_seeds})" if t.pretrain_seeds else "")]
        if t.note:
            lines.append(f"- {t.note}")
        privileged = sorted({r["encoder"] for r in trows if r.get("privileged_labels")})
        if privileged:
            lines.append(f"- {', '.join(privileged)}: trained on privileged labels (e.g. SIRL's simulated user "
                         f"answering similarity queries from task features).")
        columns = task_columns(trows)
        lines += ["", "| encoder | head | success | 95% CI | solved / episodes | per seed | final success | "
                  "mean length | probe R² |" + "".join(f" {h} |" for h in columns.values()) + " sim faults | wall s |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |" + " --- |" * len(columns) + " --- | --- |"]
        for r in trows:
            per_seed = ", ".join(f"{x:.2f}" for x in r["per_seed"])
            r2 = "—" if r.get("probe_r2") is None else f"{r['probe_r2']:.2f}"
            cells = "".join(f" {_fmt_cell(r.get(k))} |" for k in columns)
            lines.append(f"| {r['encoder']} | {r['head']} | {r['success']:.2f} | [{r['ci_low']:.2f}, {r['ci_high']:.2f}] | "
                         f"{r['successes']} / {r['episodes']} | {per_seed} | {r['final_success']:.2f} | "
                         f"{r['mean_length']:.1f} | {r2} |{cells} {_fmt_faults(r)} | {_fmt_wall(r.get('wall_s', {}))} |")
        lines += encoder_table(trows)
        if trows:
            plot_success(trows, root / f"{t.name}_success.png", title=t.name)
            lines += ["", f"![{t.name} success]({t.name}_success.png)", ""]
        runs = {p.name: p for p in sorted((root / t.name / "pol").glob("*")) if p.is_dir()}
        if runs and plot_curves(runs, root / f"{t.name}_train_curves.png", title=f"{t.name}: head / end-to-end loss"):
            lines += [f"![{t.name} training curves]({t.name}_train_curves.png)", ""]
        vids = [v for r in trows for v in r.get("videos", [])[:1]]
        if vids:
            lines += ["Videos (first evaluation episode of seed 0): " + ", ".join(f"[{Path(v).parts[-3]}]({v})" for v in vids), ""]
    path = root / "report.md"
    path.write_text("\n".join(lines))
    return path
