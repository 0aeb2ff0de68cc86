"""Suite rows and the report: task-specific columns come from the task module, not the pipeline."""
from __future__ import annotations

import json

from robolearn.pipeline import TaskSpec, collect_rows
from robolearn.report import write_suite_report


def _eval_result(path, firsts: list[int]) -> None:
    path.mkdir(parents=True)
    eps = [{"episode": i, "success": i == 0, "length": 10, "final_success": 0.5,
            "final_info": {"first_block": f}} for i, f in enumerate(firsts)]
    path.joinpath("results.json").write_text(json.dumps(dict(
        successes=1, episodes=len(eps), success_rate=1 / len(eps), mean_length=10.0, mean_final_success=0.5,
        per_episode=eps)))


def test_blockpush_rows_count_the_modes_executed_and_pointmass_rows_have_no_such_column(tmp_path):
    bp = TaskSpec(name="bp", env="robolearn/BlockPush-v0", demos=1, encoders=["state"], heads=["mlp"], seeds=[0, 1])
    pm = TaskSpec(name="pm", env="robolearn/PointMass-v0", demos=1, encoders=["state"], heads=["mlp"], seeds=[0])
    _eval_result(tmp_path / "bp" / "eval" / "state-mlp-s0", [0, 1, -1])
    _eval_result(tmp_path / "bp" / "eval" / "state-mlp-s1", [1, 1])
    _eval_result(tmp_path / "pm" / "eval" / "state-mlp-s0", [0])
    rows = {r["task"]: r for r in collect_rows([bp, pm], tmp_path, {})}
    assert rows["bp"]["modes"] == {"0": 1, "1": 3}  # -1: no block reached a zone
    assert rows["bp"]["episodes"] == 5 and "modes" not in rows["pm"]
    report = write_suite_report(tmp_path, "t", [bp, pm], list(rows.values())).read_text()
    bp_part, pm_part = report.split("## pm")
    assert "modes executed |" in bp_part and "| 0: 1 / 1: 3 |" in bp_part
    assert "modes executed" not in pm_part


def test_a_report_of_rows_written_before_tasks_named_their_columns(tmp_path):
    """Older results.json rows carry `modes` (BlockPush) or `modes: None`, without `task_columns`."""
    bp = TaskSpec(name="bp", env="robolearn/BlockPush-v0", demos=1, encoders=["state"], heads=["mlp"])
    row = dict(task="bp", encoder="state", head="mlp", success=0.5, ci_low=0.1, ci_high=0.9, successes=1, episodes=2,
               per_seed=[0.5], mean_length=3.0, final_success=0.5, probe_r2=None, modes={"2": 1}, wall_s={},
               videos=[])
    report = write_suite_report(tmp_path, "t", [bp], [row]).read_text()
    assert "modes executed |" in report and "| 2: 1 |" in report
    report = write_suite_report(tmp_path, "t", [bp], [dict(row, modes=None)]).read_text()
    assert "modes executed" not in report


def test_blockpush_rows_carry_the_papers_metric_and_block_switches(tmp_path):
    """Blocks ever entered (>= 1, 2) as shares of the row's episodes, and switches per episode."""
    bp = TaskSpec(name="bp", env="robolearn/BlockPush-v0", demos=1, encoders=["state"], heads=["vqbet"], seeds=[0])
    path = tmp_path / "bp" / "eval" / "state-vqbet-s0"
    path.mkdir(parents=True)
    infos = [(3, 2, 1), (0, 1, 3), (-1, 0, 0), (2, 2, 2)]  # mode_executed, blocks_entered, block_switches
    eps = [{"episode": i, "success": e == 2, "length": 10, "final_success": e / 2,
            "final_info": {"first_block": m // 2 if m >= 0 else -1, "mode_executed": m, "blocks_entered": e,
                           "block_switches": s}} for i, (m, e, s) in enumerate(infos)]
    path.joinpath("results.json").write_text(json.dumps(dict(
        successes=2, episodes=4, success_rate=0.5, mean_length=10.0, mean_final_success=0.625, per_episode=eps)))
    row = collect_rows([bp], tmp_path, {})[0]
    assert (row["entered_1"], row["entered_2"], row["switches"]) == (0.75, 0.5, 1.5)
    report = write_suite_report(tmp_path, "t", [bp], [row]).read_text()
    assert "≥ 1 block entered | 2 blocks entered | block switches / ep |" in report
    assert row["modes"] == {"0": 1, "2": 1, "3": 1}  # the 4 modes, not the first block alone
    assert "| 0: 1 / 2: 1 / 3: 1 | 0.75 | 0.5 | 1.5 |" in report
