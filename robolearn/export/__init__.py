"""`robolearn export`: a policy run folder -> a self-contained bundle for a robot computer.

Roles: `graph` builds the graph and writes ONNX, `spec` the spec and README, `parity` the check;
this module runs them. The bundle is a folder:
  policy.onnx  ONE graph, encoder + head: uint8 frames (and raw low-dim observations) in,
               un-normalized actions out. Image preprocessing, embedding standardization, low-dim
               normalization, the head (for diffusion the DDIM loop, unrolled) and action
               un-normalization are all inside it.
  policy.json  the spec `robolearn.runtime` validates: observation and action specs, horizons,
               control rate, noise, hashes, versions, the env it was trained for.
  README.txt   how to call it with numpy + onnxruntime.
No pickles. The bundle is built in a temporary folder beside `out` and renamed into place only
after the parity check passed: the bundle's actions must equal the torch `Policy`'s, step by step
over whole validation episodes (history, action queue and noise included), within the tolerance.

Graph interface (B is dynamic):
  images   uint8   (B, V, H, W, 3)        this step's camera frames, views in `cameras` order (absent
                                          for a privileged-state policy)
  <key>    float32 (B, d)                 raw, one input per low-dim key the policy reads
                                          (`state`, `proprio`; listed in observation.lowdim)
  history  float32 (B, T_o - 1, D)        the previous steps' `features`; only when T_o > 1
  noise    float32 (B, *noise_shape)      only for generative heads (diffusion: normal; VQ-BeT: uniform)
  plan     bool    ()  default True       only when T_o > 1; False skips the head (a step that
                                          needs this frame's features for the history, not actions)
  -> actions float32 (B, T, A) in action units, clipped to the action bounds; features float32 (B, D)
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from robolearn.checkpoint import save_json
from robolearn.config import ExportConfig
from robolearn.data.store import DemoStore, open_store
from robolearn.errors import RobolearnError
from robolearn.export.graph import BundleGraph, example_inputs, export_onnx
from robolearn.export.parity import check_parity, parity_frames
from robolearn.export.spec import build_spec, control_hz, readme
from robolearn.policies.policy import Policy
from robolearn.runtime import GRAPH_FILE, SPEC_FILE, BundleError, BundlePolicy, sha256_file

__all__ = ["BundleGraph", "build_spec", "check_parity", "example_inputs", "export", "export_onnx", "parity_frames",
           "readme"]


def _is_bundle_or_empty(path: Path) -> bool:
    return path.is_dir() and (not any(path.iterdir()) or (path / SPEC_FILE).is_file())


def export(cfg: ExportConfig) -> Path:
    """Export the policy run `cfg.policy` as a bundle at `cfg.out`; see the module docstring."""
    threads = torch.get_num_threads()
    # Tracing and the parity steps run batch 1 or 2: one thread is as fast and never oversubscribes
    # a machine where other jobs run (several threads there made export minutes slower).
    torch.set_num_threads(1)
    try:
        return _export(cfg)
    finally:
        torch.set_num_threads(threads)


def _export(cfg: ExportConfig) -> Path:
    out, run_dir = Path(cfg.out), Path(cfg.policy)
    _check_request(cfg, out)
    policy = Policy.load(run_dir, device="cpu")
    meta = policy.meta
    data = Path(meta["data"])
    if not data.exists():
        raise RobolearnError(f"{data}: the policy's dataset is needed for the parity check and was not found")
    store = open_store(data)
    hz = control_hz(meta)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    trash = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        spec = _write_bundle(tmp, policy, run_dir, hz)
        spec["parity"] = _parity(cfg, policy, store, data, tmp)
        save_json(tmp / SPEC_FILE, spec)
        _replace(out, tmp, trash)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return out


def _check_request(cfg: ExportConfig, out: Path) -> None:
    """The refusals that need no policy loaded: never replace what is not a bundle."""
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} already exists; pass --overwrite to replace it")
    if out.exists() and not _is_bundle_or_empty(out):
        raise RobolearnError(f"{out} exists and is not a robolearn bundle; refusing to replace it")
    if cfg.parity_frames < 1:
        raise RobolearnError(f"parity_frames must be >= 1, got {cfg.parity_frames}")


def _write_bundle(tmp: Path, policy: Policy, run_dir: Path, hz: float) -> dict:
    """policy.onnx, policy.json (without the parity result yet) and README.txt into `tmp`; returns the spec."""
    graph = BundleGraph(policy).eval()
    with torch.no_grad():
        exporter = export_onnx(graph, example_inputs(policy, graph), tmp / GRAPH_FILE)
    spec = build_spec(policy, run_dir, exporter, sha256_file(tmp / GRAPH_FILE), hz)
    save_json(tmp / SPEC_FILE, spec)
    (tmp / "README.txt").write_text(readme(spec, policy.obs_horizon > 1))
    return spec


def _parity(cfg: ExportConfig, policy: Policy, store: DemoStore, data: Path, tmp: Path) -> dict:
    """Load the bundle in `tmp` as a robot would and run it beside the torch policy; returns the
    spec's `parity` entry, or raises when the actions differ by more than the tolerance."""
    try:
        bundle = BundlePolicy(tmp, seed=0, threads=1)
    except BundleError as e:
        raise RobolearnError(f"the exported bundle does not load: {e}") from None
    demos = store.demo_names("valid") if "valid" in store.splits else []
    split = "valid"
    if not demos:  # a store without a validation split: its training frames still test parity
        demos, split = store.demo_names(None), "all"
    steps = parity_frames(store, demos, policy.cameras, policy.lowdim_keys, cfg.parity_frames)
    result = check_parity(policy, bundle, steps)
    if result["frames"] == 0:
        raise RobolearnError(f"{data}: no frames to check parity on; no bundle written")
    tol = cfg.tolerance if cfg.tolerance is not None else float(getattr(policy.head, "export_tolerance", 1e-4))
    if not result["max_error"] <= tol:
        ep, t = result["worst_at"]
        raise RobolearnError(
            f"parity check failed: bundle actions differ from the torch policy's by up to "
            f"{result['max_error']:.3g} (tolerance {tol:g}, in units of the action's half-range where it "
            f"exceeds 1; {ep} step {t}); no bundle written")
    return {**result, "tolerance": tol, "split": split}


def _replace(out: Path, tmp: Path, trash: Path) -> None:
    """Move the finished bundle `tmp` to `out`; a previous bundle there goes to `trash`, and back on failure."""
    if out.exists():
        os.replace(out, trash)
    try:
        os.replace(tmp, out)
    except OSError:
        if trash.exists():  # put the previous bundle back
            os.replace(trash, out)
        raise
