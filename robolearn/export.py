"""`robolearn export`: a policy run folder -> a self-contained bundle for a robot computer.

The bundle is a folder:
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

import contextlib
import io
import logging
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn as nn

from robolearn import __version__
from robolearn.checkpoint import save_json
from robolearn.config import ExportConfig
from robolearn.errors import RobolearnError
from robolearn.runtime import GRAPH_FILE, SPEC_FILE, SPEC_VERSION, BundleError, BundlePolicy, sha256_file

OPSET = 18
EXAMPLE_BATCH = 2
"""Batch of the example inputs: exporters specialize a dimension of size 1, so 2 keeps B dynamic
(and the parity check, at batch 1, then also tests that the batch axis really is dynamic)."""
NOISE_DISTRIBUTIONS = {"diffusion": "normal", "vqbet": "uniform"}
"""How each generative head draws its noise (its `sample_noise`: torch.randn / torch.rand)."""


# ----------------------------------------------------------------------------- the graph
class DdimSampler(nn.Module):
    """The diffusion head's DDIM inference (eta = 0, epsilon prediction, clipped x0), unrolled.

    diffusers' `DDIMScheduler.step` branches in Python on tensor values: torch.export refuses it and
    TorchScript tracing would bake the branches in unseen. This is the same arithmetic from
    `ddim_constants()` with every per-step coefficient a float32 constant, around the head's EMA
    denoiser; the export's parity check verifies it against the head's own `predict_from_noise`."""

    def __init__(self, head):
        super().__init__()
        self.net = head.denoiser()
        c = head.ddim_constants()
        if c.get("prediction_type", "epsilon") != "epsilon" or float(c.get("eta", 0.0)) != 0.0:
            raise RobolearnError(f"export supports DDIM with epsilon prediction and eta = 0, "
                                 f"got {c.get('prediction_type')}, eta {c.get('eta')}")
        a = np.asarray(c["alphas_cumprod"], np.float32)
        one, ratio, final = np.float32(1.0), int(c["step_ratio"]), np.float32(c["final_alpha_cumprod"])
        self.clip = float(c["clip_range"])
        self.steps = []
        for t in c["timesteps"]:
            t = int(t)
            at = a[t]
            ap = a[t - ratio] if t - ratio >= 0 else final
            # The same float32 operations diffusers performs: sqrt(1 - a_t), sqrt(a_t), sqrt(a'), sqrt(1 - a').
            self.steps.append((t, float(np.sqrt(one - at)), float(np.sqrt(at)), float(np.sqrt(ap)), float(np.sqrt(one - ap))))

    def forward(self, emb: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        cond = emb.flatten(1)
        x = noise.to(cond.dtype)
        for t, s1, sa, sp, s1p in self.steps:
            eps = self.net(x, torch.full((1,), t, dtype=torch.long, device=x.device), cond)
            x0 = ((x - s1 * eps) / sa).clamp(-self.clip, self.clip)
            x = sp * x0 + s1p * eps
        return x.clamp(-1.0, 1.0)


class BundleGraph(nn.Module):
    """step features + head + action un-normalization, with the bundle's inputs (named in
    `input_names`, in order): `images` when the policy sees cameras, then each low-dim key."""

    def __init__(self, policy):
        super().__init__()
        self.features_net, self.head = policy.features, policy.head
        self.t_o, self.t, self.a = policy.obs_horizon, policy.pred_horizon, policy.action_dim
        self.has_images = bool(policy.cameras)
        self.lowdim_keys = list(policy.lowdim_keys)
        self.use_proprio = "proprio" in self.lowdim_keys
        self.generative = policy.head.noise_shape(1) is not None
        scale, offset = policy.normalizer.params("actions")
        self.register_buffer("a_scale", torch.from_numpy(scale))
        self.register_buffer("a_offset", torch.from_numpy(offset))
        self.sampler = DdimSampler(policy.head) if hasattr(policy.head, "ddim_constants") else None
        self.input_names = (["images"] if self.has_images else []) + self.lowdim_keys \
            + (["history"] if self.t_o > 1 else []) + (["noise"] if self.generative else [])

    def features(self, x: dict):
        return self.features_net(x.get("images"), {k: x[k] for k in self.lowdim_keys}).float()

    def actions(self, feats, history, noise):
        emb = feats[:, None] if history is None else torch.cat([history, feats[:, None]], 1)
        if self.sampler is not None:
            norm = self.sampler(emb, noise)
        else:
            norm = self.head.predict_from_noise(emb, noise)
        # Un-normalize exactly as the Normalizer does ((x - offset) / scale), then the env's bounds.
        return ((norm.float() - self.a_offset) / self.a_scale).clamp(-1.0, 1.0)

    def forward(self, *inputs):
        x = dict(zip(self.input_names, inputs))
        feats = self.features(x)
        return self.actions(feats, x.get("history"), x.get("noise")), feats


def example_inputs(policy, graph: BundleGraph, batch: int = EXAMPLE_BATCH, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ex = {}
    if graph.has_images:
        s = int(policy.meta["image_size"])
        ex["images"] = torch.randint(0, 256, (batch, len(policy.cameras), s, s, 3), dtype=torch.uint8, generator=g)
    for k in graph.lowdim_keys:
        ex[k] = torch.randn(batch, int(policy.meta["lowdim"][k]), generator=g)
    d = int(policy.meta["emb_dim"])
    if graph.t_o > 1:
        ex["history"] = torch.randn(batch, graph.t_o - 1, d, generator=g)
    if graph.generative:
        ex["noise"] = policy.head.sample_noise(batch, g)
    return ex


# ----------------------------------------------------------------------------- ONNX
@contextlib.contextmanager
def _quiet():
    """torch.onnx prints progress and warnings (e.g. about torchvision ops); a CLI shows one line."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "torch.fx")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0][:200] if text else ''}"


def export_onnx(graph: BundleGraph, example: dict[str, torch.Tensor], path: Path) -> str:
    """Write `graph` to `path` (opset 18, one file, dynamic batch). Returns the exporter used.

    The TorchScript exporter first: on these graphs it is about ten times faster than torch.export
    (the diffusion graph unrolls ten UNet evaluations: ~10 s against 4 minutes on a busy 2-core
    CPU), and what it writes is checked for parity like anything else. torch.export (dynamo) is the fallback
    for an op the TorchScript exporter lacks. Either way `add_plan_switch` then puts the head
    behind the `plan` input when T_o > 1."""
    import onnx

    names = list(graph.input_names)
    args = tuple(example[n] for n in names)
    outputs = ["actions", "features"]
    errors, exporter = [], None
    with _quiet():
        try:
            torch.onnx.export(graph, args, str(path), input_names=names, output_names=outputs,
                              opset_version=OPSET, dynamo=False, do_constant_folding=True,
                              dynamic_axes={n: {0: "batch"} for n in names + outputs})
            exporter = "torch.onnx (torchscript)"
        except Exception as e:  # any exporter failure: try the other one, report both if it fails too
            errors.append(f"torchscript: {_first_line(e)}")
        if exporter is None:
            batch = torch.export.Dim("batch", min=1, max=1 << 16)
            try:
                torch.onnx.export(graph, args, str(path), input_names=names, output_names=outputs,
                                  opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
                                  dynamic_shapes=(tuple({0: batch} for _ in names),))
                exporter = "torch.onnx (dynamo)"
            except Exception as e:
                errors.append(f"dynamo: {_first_line(e)}")
                raise RobolearnError(f"ONNX export failed ({'; '.join(errors)})") from None

    model = onnx.load(str(path))
    if graph.t_o > 1:
        add_plan_switch(model, graph.t, graph.a)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return exporter


def add_plan_switch(model, t: int, a: int) -> None:
    """Move every node that only `actions` needs into the `then` branch of an If on a new bool
    input `plan` (default True: an initializer of the same name); `else` gives zeros (B, T, A).

    With T_o > 1 the runtime needs each step's features for the history, but the head only every
    T_a steps; onnxruntime always runs the whole graph whatever outputs are asked for, so without
    this switch a diffusion policy would run its ten denoiser steps on every control step."""
    from onnx import AttributeProto, TensorProto, helper, numpy_helper

    g = model.graph
    producer = {out: i for i, n in enumerate(g.node) for out in n.output}
    keep, stack = set(), ["features"]
    while stack:  # the ancestors of `features`: they stay in the main graph
        i = producer.get(stack.pop())
        if i is not None and i not in keep:
            keep.add(i)
            stack.extend(g.node[i].input)
            for attr in g.node[i].attribute:  # outer-scope names a subgraph reads
                if attr.type == AttributeProto.GRAPH:
                    stack.extend(_outer_names(attr.g))
    main = [n for i, n in enumerate(g.node) if i in keep]
    head = [n for i, n in enumerate(g.node) if i not in keep]
    inner = "actions_planned"
    for n in head:
        for k, name in enumerate(n.output):
            if name == "actions":
                n.output[k] = inner
    head_outputs = {o for n in head for o in n.output}
    then_graph = helper.make_graph(
        head, "plan_true", [], [helper.make_tensor_value_info(inner, TensorProto.FLOAT, ["batch", t, a])],
        value_info=[v for v in g.value_info if v.name in head_outputs])
    else_graph = helper.make_graph([
        helper.make_node("Shape", ["images"], ["plan_images_shape"], start=0, end=1),
        helper.make_node("Constant", [], ["plan_chunk_shape"], value=numpy_helper.from_array(np.array([t, a], np.int64))),
        helper.make_node("Concat", ["plan_images_shape", "plan_chunk_shape"], ["plan_zeros_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["plan_zeros_shape"], ["plan_zeros"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
    ], "plan_false", [], [helper.make_tensor_value_info("plan_zeros", TensorProto.FLOAT, ["batch", t, a])])
    switch = helper.make_node("If", ["plan"], ["actions"], name="plan_switch",
                              then_branch=then_graph, else_branch=else_graph)
    kept_info = [v for v in g.value_info if v.name not in head_outputs]
    del g.node[:]
    g.node.extend(main + [switch])
    del g.value_info[:]
    g.value_info.extend(kept_info)
    g.input.append(helper.make_tensor_value_info("plan", TensorProto.BOOL, []))
    g.initializer.append(numpy_helper.from_array(np.array(True), "plan"))


def _outer_names(sub) -> list[str]:
    """Names a subgraph's nodes read that it does not define itself."""
    local = {i.name for i in sub.input} | {i.name for i in sub.initializer} | {o for n in sub.node for o in n.output}
    return [x for n in sub.node for x in n.input if x and x not in local]


# ----------------------------------------------------------------------------- spec + README
def noise_distribution(head) -> Optional[str]:
    if head.noise_shape(1) is None:
        return None
    dist = getattr(head, "noise_distribution", None) or NOISE_DISTRIBUTIONS.get(head.name)
    if dist not in ("normal", "uniform"):
        raise RobolearnError(f"head '{head.name}' is generative but export does not know its noise distribution")
    return dist


def control_hz(env_id: str, env_kwargs: dict) -> float:
    from robolearn.envs import make_env

    env = make_env(env_id, **{**env_kwargs, "render": False})
    try:
        return float(env.unwrapped.control_hz)
    finally:
        env.close()


def build_spec(policy, run_dir: Path, exporter: str, graph_sha: str, hz: float) -> dict:
    meta, head = policy.meta, policy.head
    s = int(meta["image_size"])
    keys = {f"{c}_image": {"shape": [s, s, 3], "dtype": "uint8"} for c in policy.cameras}
    for k in policy.lowdim_keys:
        keys[k] = {"shape": [int(meta["lowdim"][k])], "dtype": "float32"}
    shape = head.noise_shape(1)
    return {
        "spec_version": SPEC_VERSION,
        "robolearn_version": __version__,
        "weights_hash": meta["weights_hash"],
        "head": meta["head"],
        "env_id": meta["env_id"],
        "env_kwargs": dict(meta.get("env_kwargs") or {}),
        "control_hz": hz,
        "observation": {"cameras": list(policy.cameras), "lowdim": list(policy.lowdim_keys), "keys": keys},
        "action": {"dim": policy.action_dim, "low": -1.0, "high": 1.0, "dtype": "float32"},
        "obs_horizon": policy.obs_horizon,
        "pred_horizon": policy.pred_horizon,
        "action_horizon": policy.action_horizon,
        "feature_dim": int(meta["emb_dim"]),
        "noise": None if shape is None else {"shape": list(shape[1:]), "distribution": noise_distribution(head)},
        "graph": {"file": GRAPH_FILE, "sha256": graph_sha, "opset": OPSET, "exporter": exporter,
                  "inputs": (["images"] if policy.cameras else []) + list(policy.lowdim_keys)
                  + (["history"] if policy.obs_horizon > 1 else []) + (["noise"] if shape is not None else []),
                  "outputs": ["actions", "features"],
                  # bool, default True: False skips the head on steps that only need features.
                  "plan_input": policy.obs_horizon > 1},
        "source": {"policy_run": str(run_dir), "encoder": meta.get("encoder"), "objective": meta.get("objective"),
                   "features": meta.get("features"), "standardized": meta.get("standardized"),
                   "data_hash": meta.get("data_hash")},
    }


def readme(spec: dict, has_plan: bool) -> str:
    cams = spec["observation"]["cameras"]
    keys = spec["observation"]["keys"]
    lowdim = spec["observation"].get("lowdim", ["proprio"] if "proprio" in keys else [])
    t_o, t, t_a = spec["obs_horizon"], spec["pred_horizon"], spec["action_horizon"]
    a, d = spec["action"]["dim"], spec["feature_dim"]
    noise = spec["noise"]
    views = ", ".join(f"obs['{c}_image']" for c in cams)
    lines = [
        f"robolearn policy bundle (spec_version {spec['spec_version']}, robolearn {spec['robolearn_version']})",
        f"head: {spec['head']}   task: {spec['env_id']}   control rate: {spec['control_hz']:g} Hz",
        f"weights hash: {spec['weights_hash']}",
        "",
        "Files",
        "  policy.onnx  one ONNX graph (opset %d): camera frames in, actions out. Image preprocessing," % spec["graph"]["opset"],
        "               low-dim normalization and action un-normalization are inside the graph.",
        "  policy.json  the full spec (observation/action specs, horizons, noise, hashes).",
        "",
        "Easiest: the runtime (needs numpy + onnxruntime only; copy robolearn/runtime.py if robolearn",
        "is not installed). It keeps the observation history and the action queue for you:",
        "",
        "    from robolearn.runtime import BundlePolicy",
        "    policy = BundlePolicy('path/to/bundle', seed=0)",
        "    policy.reset()                              # at the start of every episode",
        "    while running:                              # at %g Hz" % spec["control_hz"],
        "        action = policy.act(obs)                # float32 (%d,) in [-1, 1]" % a,
        "",
        "Observation dict, one step, no batch dimension:",
    ]
    for k, v in keys.items():
        note = "   raw units, as the robot reports them" if k in lowdim else ""
        lines.append(f"    {k:<16} {v['dtype']:<8} {tuple(v['shape'])}{note}")
    lines += [
        "",
        "Calling the graph yourself (numpy + onnxruntime):",
        "",
        "    import numpy as np, onnxruntime as ort",
        "    sess = ort.InferenceSession('policy.onnx', providers=['CPUExecutionProvider'])",
    ]
    feeds = []
    if cams:
        h, w, _ = keys[f"{cams[0]}_image"]["shape"]
        lines.append(f"    images = np.stack([{views}])[None]   # uint8 (1, {len(cams)}, {h}, {w}, 3), views in this order")
        feeds.append("'images': images")
    for k in lowdim:
        lines.append(f"    {k} = np.asarray(obs['{k}'], np.float32)[None]           # (1, {keys[k]['shape'][0]})")
        feeds.append(f"'{k}': {k}")
    if t_o > 1:
        lines.append(f"    # history: float32 (1, {t_o - 1}, {d}), the `features` outputs of the previous {t_o - 1} step(s),")
        lines.append("    # oldest first; at an episode's first step, this step's own features repeated")
        feeds.append("'history': history")
    if noise:
        fn = "rng.standard_normal" if noise["distribution"] == "normal" else "rng.random"
        lines.append(f"    noise = {fn}((1, {', '.join(map(str, noise['shape']))}), dtype=np.float32)   # fresh every call")
        feeds.append("'noise': noise")
    lines += [
        f"    actions, features = sess.run(['actions', 'features'], {{{', '.join(feeds)}}})",
        f"    # actions: float32 (1, {t}, {a}), action units, clipped to [-1, 1]; execute the first {t_a},",
        f"    # then call again. features: float32 (1, {d}), this step's features (for `history`).",
        "",
        "The batch dimension is dynamic: stack several robots' observations to run them in one call.",
    ]
    if has_plan:
        lines += [
            "The graph has an optional bool input `plan` (default True). Pass np.array(False) and ask only",
            "for ['features'] on steps that execute a queued action: the head is skipped, only the encoder",
            "runs (onnxruntime logs a warning at load about this defaulted input; it is expected).",
        ]
    lines += [
        "",
        "Check a bundle with:  python -c \"from robolearn.runtime import BundlePolicy; print(BundlePolicy('bundle'))\"",
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- parity
def parity_frames(store, demos: list[str], cameras: list[str], lowdim_keys: list[str], frames: int):
    """(demo, step, obs) for whole episodes in order, truncated to `frames` steps in all."""
    left = frames
    for demo in demos:
        if left <= 0:
            return
        n = min(store.length(demo), left)
        left -= n
        imgs = {c: store.obs(demo, f"{c}_image", slice(0, n)) for c in cameras}
        low = {k: store.obs(demo, k, slice(0, n)) for k in lowdim_keys}
        for t in range(n):
            obs = {f"{c}_image": imgs[c][t] for c in cameras}
            obs.update({k: np.asarray(v[t], np.float32) for k, v in low.items()})
            yield demo, t, obs


def check_parity(policy, bundle: BundlePolicy, steps, seed: int = 0) -> dict:
    """Step the torch Policy and the bundle through the same observations with the same noise.

    `steps` yields (episode, step, obs); each new episode resets both. Returns the worst absolute
    action difference and where it happened."""
    rng = np.random.default_rng(seed)
    worst, where, n, episode = -1.0, None, 0, None
    for ep, t, obs in steps:
        if ep != episode:
            policy.reset()
            bundle.reset()
            episode = ep
        noise = None
        if bundle.noise_shape is not None:  # the same draw for both; used only where a step plans a chunk
            draw = rng.standard_normal if bundle.noise_distribution == "normal" else rng.random
            noise = draw(bundle.noise_shape, dtype=np.float32)
        a_torch = policy.select_action(obs, noise=None if noise is None else torch.from_numpy(noise))
        a_bundle = bundle.act(obs, noise=noise)
        err = float(np.abs(np.asarray(a_torch, np.float64) - a_bundle).max())
        err = err if math.isfinite(err) else math.inf
        if err > worst:
            worst, where = err, (ep, t)
        n += 1
    return {"frames": n, "max_abs_error": max(worst, 0.0), "worst_at": list(where) if where else None}


# ----------------------------------------------------------------------------- export
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
    from robolearn.data.store import open_store
    from robolearn.policies.policy import Policy

    out, run_dir = Path(cfg.out), Path(cfg.policy)
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} already exists; pass --overwrite to replace it")
    if out.exists() and not _is_bundle_or_empty(out):
        raise RobolearnError(f"{out} exists and is not a robolearn bundle; refusing to replace it")
    if cfg.parity_frames < 1:
        raise RobolearnError(f"parity_frames must be >= 1, got {cfg.parity_frames}")
    policy = Policy.load(run_dir, device="cpu")
    meta = policy.meta
    data = Path(meta["data"])
    if not data.exists():
        raise RobolearnError(f"{data}: the policy's dataset is needed for the parity check and was not found")
    store = open_store(data)
    hz = control_hz(meta["env_id"], dict(meta.get("env_kwargs") or {}))

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    trash = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        graph = BundleGraph(policy).eval()
        with torch.no_grad():
            exporter = export_onnx(graph, example_inputs(policy, graph), tmp / GRAPH_FILE)
        spec = build_spec(policy, run_dir, exporter, sha256_file(tmp / GRAPH_FILE), hz)
        save_json(tmp / SPEC_FILE, spec)
        (tmp / "README.txt").write_text(readme(spec, policy.obs_horizon > 1))

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
        if not result["max_abs_error"] <= tol:
            ep, t = result["worst_at"]
            raise RobolearnError(
                f"parity check failed: bundle actions differ from the torch policy's by up to "
                f"{result['max_abs_error']:.3g} (tolerance {tol:g}; {ep} step {t}); no bundle written")
        spec["parity"] = {**result, "tolerance": tol, "split": split}
        save_json(tmp / SPEC_FILE, spec)

        if out.exists():
            os.replace(out, trash)
        try:
            os.replace(tmp, out)
        except OSError:
            if trash.exists():  # put the previous bundle back
                os.replace(trash, out)
            raise
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
    return out
