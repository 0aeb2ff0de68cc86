"""The bundle's spec (policy.json, validated by `robolearn.runtime`) and its README."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from robolearn import __version__
from robolearn.envs import make_env
from robolearn.errors import RobolearnError
from robolearn.export.graph import OPSET
from robolearn.runtime import GRAPH_FILE, NOISE_DISTRIBUTIONS, SPEC_VERSION


def noise_distribution(head) -> Optional[str]:
    if head.noise_shape(1) is None:
        return None
    dist = head.noise_distribution
    if dist not in NOISE_DISTRIBUTIONS:
        raise RobolearnError(f"head '{head.name}' is generative but export does not know its noise distribution")
    return dist


def control_hz(env_id: str, env_kwargs: dict) -> float:
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
