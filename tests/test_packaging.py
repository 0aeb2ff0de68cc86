"""The package installs as users install it: a wheel (not the editable install CI uses) holds every
subpackage of the source tree, and a non-editable install runs collect -> train -> eval."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Source folder -> the package it installs as (pyproject/setup.py's package-dir mapping).
ROOTS = {"robolearn": "robolearn", "envs": "robolearn.envs", "policies": "robolearn.policies", "data": "robolearn.data"}


def _source_packages() -> set[str]:
    found = set()
    for folder, name in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *rel)))
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source (the build writes build/ and *.egg-info beside it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    for folder in ROOTS:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the venv's setuptools builds it (no network, about 2 s).
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(out), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    (whl,) = out.glob("robolearn-*.whl")
    return whl


def test_wheel_holds_every_subpackage_and_the_assets(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {os.path.dirname(n).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    expected = _source_packages()
    assert {"robolearn.evaluation", "robolearn.export", "robolearn.pretraining"} <= expected
    assert expected - in_wheel == set(), "subpackages missing from the wheel"
    # Nothing generic at the top level of site-packages: only robolearn and its dist-info.
    assert {n.split("/")[0] for n in names} - {"robolearn"} == {f"{wheel.name.split('-py3')[0]}.dist-info"}
    assert {f"robolearn/envs/assets/{p.name}" for p in (REPO / "envs" / "assets").glob("*.xml")} <= set(names)


@pytest.mark.slow
def test_non_editable_install_runs_collect_train_eval(wheel, tmp_path):
    """The wheel alone (installed with --target, imported ahead of the editable checkout, run from
    a folder outside the repo) runs the commands a user runs first."""
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    env = dict(os.environ, PYTHONPATH=str(site), TQDM_DISABLE="1", WANDB_MODE="disabled")
    work = tmp_path / "work"
    work.mkdir()

    # One interpreter for the whole check (each start costs seconds): where the packages come from,
    # then the commands a user runs first, through the installed console entry point's main().
    script = """
import sys, robolearn.envs, robolearn.evaluation, robolearn.export
from robolearn.cli import main
print(robolearn.envs.__file__); print(robolearn.export.__file__)
try:
    main(["--help"])
except SystemExit as e:
    assert e.code == 0
for argv in (["collect", "--env", "robolearn/PointMass-v0", "--episodes", "4", "--out", "d.hdf5", "--image-size", "32",
              "--workers", "1"],
             ["train", "--data", "d.hdf5", "--encoder", "state", "--out", "pol", "--optim.steps", "20",
              "--optim.batch-size", "16", "--wandb", "disabled"],
             ["eval", "--policy", "pol", "--episodes", "2", "--workers", "1", "--out", "ev", "--wandb", "disabled"]):
    assert main(argv) == 0, argv
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    where = [line for line in done.stdout.splitlines() if line.endswith("__init__.py")]
    assert len(where) == 2 and all(line.startswith(str(site)) for line in where), done.stdout
    assert "collect" in done.stdout and "success" in done.stdout and (work / "ev" / "results.json").exists()
    entry = (site / "bin" / "robolearn").read_text()  # the console script the wheel installs
    assert "from robolearn.cli import run" in entry  # main, leaving as torchrun ranks must (cli.run)
