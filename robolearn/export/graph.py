"""The bundle's graph: the Policy's step features, head and action un-normalization as one module
(`BundleGraph`), written to ONNX (`export_onnx`) with the head behind a `plan` switch when T_o > 1.
The graph interface is described in `robolearn.export`."""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from robolearn.errors import RobolearnError

OPSET = 18
EXAMPLE_BATCH = 2
"""Batch of the example inputs: exporters specialize a dimension of size 1, so 2 keeps B dynamic
(and the parity check, at batch 1, then also tests that the batch axis really is dynamic)."""


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
        self.register_buffer("a_low", torch.from_numpy(policy.action_low.astype(np.float32)))
        self.register_buffer("a_high", torch.from_numpy(policy.action_high.astype(np.float32)))
        # The head's own exportable inference where its torch path cannot be traced (diffusion's DDIM).
        self.sampler = policy.head.export_module()
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
        # Un-normalize exactly as the Normalizer does ((x - offset) / scale), then the policy's bounds.
        return torch.minimum(torch.maximum((norm.float() - self.a_offset) / self.a_scale, self.a_low), self.a_high)

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
