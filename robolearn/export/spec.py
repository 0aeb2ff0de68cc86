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


def control_hz(meta: dict) -> float:
    """The rate the policy must run at: its task's control rate, or, for a recording without a task
    (a real robot's), the rate it was recorded at."""
    if meta.get("env_id"):
        env = make_env(meta["env_id"], **{**dict(meta.get("env_kwargs") or {}), "render": False})
        try:
            return float(env.unwrapped.control_hz)
        finally:
            env.close()
    fps = (meta.get("dataset") or {}).get("fps")
    if not fps:
        raise RobolearnError(f"{meta.get('data')}: the policy's data names no task and no fps, so the bundle cannot "
                             "say its control rate (import the recording again: LeRobot's info.json has fps)")
    return float(fps)


def _lerobot_names(meta: dict) -> dict:
    """Per observation/action key: the LeRobot feature it came from and its per-dimension names."""
    feats = (meta.get("dataset") or {}).get("features") or {}
    return {k: {kk: vv for kk, vv in v.items() if kk in ("feature", "names")} for k, v in feats.items()}


def build_spec(policy, run_dir: Path, exporter: str, graph_sha: str, hz: float) -> dict:
    meta, head = policy.meta, policy.head
    s = int(meta["image_size"])
    keys = {f"{c}_image": {"shape": [s, s, 3], "dtype": "uint8"} for c in policy.cameras}
    for k in policy.lowdim_keys:
        keys[k] = {"shape": [int(meta["lowdim"][k])], "dtype": "float32"}
    shape = head.noise_shape(1)
    names = _lerobot_names(meta)
    return {
        "spec_version": SPEC_VERSION,
        "robolearn_version": __version__,
        "weights_hash": meta["weights_hash"],
        "head": meta["head"],
        "env_id": meta["env_id"] or "",
        "env_kwargs": dict(meta.get("env_kwargs") or {}),
        "control_hz": hz,
        "observation": {"cameras": list(policy.cameras), "lowdim": list(policy.lowdim_keys), "keys": keys,
                        "features": {k: v for k, v in names.items() if k in keys}},
        "action": {"dim": policy.action_dim, "low": _bound(policy.action_low), "high": _bound(policy.action_high),
                   "dtype": "float32", **names.get("actions", {})},
        "dataset": {k: (meta.get("dataset") or {}).get(k) for k in ("robot_type", "fps", "source")},
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


def _bound(x) -> float | list[float]:
    """One number when every dimension shares it (a task's [-1, 1]), else one per dimension."""
    x = [float(v) for v in x]
    return x[0] if len(set(x)) == 1 else x


def readme(spec: dict, has_plan: bool) -> str:
    cams = spec["observation"]["cameras"]
    keys = spec["observation"]["keys"]
    lowdim = spec["observation"].get("lowdim", ["proprio"] if "proprio" in keys else [])
    t_o, t, t_a = spec["obs_horizon"], spec["pred_horizon"], spec["action_horizon"]
    a, d = spec["action"]["dim"], spec["feature_dim"]
    noise = spec["noise"]
    views = ", ".join(f"obs['{c}_image']" for c in cams)
    act = spec["action"]
    bounds = "in [-1, 1]" if (act["low"], act["high"]) == (-1.0, 1.0) else "within the demonstrations' range"
    feats = spec["observation"].get("features") or {}
    lines = [
        f"robolearn policy bundle (spec_version {spec['spec_version']}, robolearn {spec['robolearn_version']})",
        f"head: {spec['head']}   task: {spec['env_id'] or '(none: a recording)'}   control rate: {spec['control_hz']:g} Hz",
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
        "        action = policy.act(obs)                # float32 (%d,) %s" % (a, bounds),
        "",
        "Observation dict, one step, no batch dimension:",
    ]
    for k, v in keys.items():
        note = "   raw units, as the robot reports them" if k in lowdim else ""
        lines.append(f"    {k:<16} {v['dtype']:<8} {tuple(v['shape'])}{note}")
    if feats:
        ds = spec.get("dataset") or {}
        lines += ["", f"Trained on a LeRobot recording (robot {ds.get('robot_type')}, {ds.get('fps')} fps). `act` also",
                  "takes the observation under LeRobot's names: the feature (e.g. observation.state), or, for",
                  "vectors, one value per name (a LeRobot robot's get_observation()), cameras by name:"]
        for k, v in feats.items():
            lines.append(f"    {k:<16} <- {v.get('feature')}" + (f": {', '.join(v['names'])}" if v.get("names") else ""))
        if act.get("names"):
            lines.append(f"    actions          -> {act.get('feature')}: {', '.join(act['names'])} "
                         "(policy.action_dict(action) names them)")
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
        f"    # actions: float32 (1, {t}, {a}), action units, clipped {bounds}; execute the first {t_a},",
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
