"""A lighter twin of a MuJoCo model for rendering: its large visual-only meshes decimated.

On a software renderer (llvmpipe, OSMesa) a frame's cost grows with the triangles drawn: robosuite's
Panda and its pedestal hold 168k visual triangles, ~10 ms of CPU per 64 px camera, for shapes a
64 px image shows in a few hundred pixels. The twin is compiled from the same XML with those meshes
reduced to `KEEP` of their faces (quadric decimation, fast-simplification), so it has the same
bodies, geoms, cameras and lights, and is rendered in place of the simulated model: before each
render the simulated state (qpos, mocap poses, body placements, colours) is copied in and its
kinematics recomputed. Meshes that carry a texture, serve as collision geometry, or are named in
`keep_detail` (what a camera sees up close, such as the gripper in the wrist view) keep every face.
"""
from __future__ import annotations

import hashlib

import mujoco
import numpy as np

from robolearn.errors import RobolearnError

KEEP = 0.1
"""Fraction of faces kept (robosuite Lift at 64 px: mean absolute pixel change 0.5 of 255)."""
MIN_FACES = 500
"""Meshes below this many faces stay as they are: they cost little."""


def _decimable(model: mujoco.MjModel, keep_detail: tuple[str, ...]) -> list[int]:
    """Meshes used only by visual geoms (group > 0) without a texture, of MIN_FACES faces or more."""
    users: dict[int, list[int]] = {}
    for g in np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_MESH):
        users.setdefault(int(model.geom_dataid[g]), []).append(int(g))
    out = []
    for mid, geoms in users.items():
        name = model.mesh(mid).name
        textured = any(model.geom_matid[g] >= 0 and (model.mat_texid[model.geom_matid[g]] >= 0).any() for g in geoms)
        visual = all(model.geom_group[g] > 0 and model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0
                     for g in geoms)
        if visual and not textured and model.mesh_facenum[mid] >= MIN_FACES and not any(k in name for k in keep_detail):
            out.append(mid)
    return out


_SIMPLIFIED: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
"""Decimated meshes by content: the envs of one evaluation worker share their meshes, and the
decimation was ~40% of an env's start-up (robosuite Lift: ~0.4 s of CPU)."""


def _simplified(fast_simplification, vert: np.ndarray, face: np.ndarray, keep: float) -> tuple[np.ndarray, np.ndarray]:
    key = hashlib.blake2b(vert.tobytes() + face.tobytes() + repr(keep).encode(), digest_size=16).digest()
    if key not in _SIMPLIFIED:
        _SIMPLIFIED[key] = fast_simplification.simplify(vert.astype(np.float64), face.astype(np.int64),
                                                        target_reduction=1.0 - keep)
    return _SIMPLIFIED[key]


def light_model(model: mujoco.MjModel, spec: mujoco.MjSpec, keep: float = KEEP,
                keep_detail: tuple[str, ...] = ()) -> tuple[mujoco.MjModel, list[int]]:
    """`model` compiled again from `spec` (its source) with its large visual meshes decimated to
    `keep` of their faces; and the ids of the meshes decimated."""
    try:
        import fast_simplification
    except ImportError as e:
        raise RobolearnError(f"rendering the simulator tasks needs fast-simplification ({e}); "
                             f"install it with pip install 'robolearn[sim]'") from None
    meshes = _decimable(model, keep_detail)
    for mid in meshes:
        va, nv = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
        fa, nf = model.mesh_faceadr[mid], model.mesh_facenum[mid]
        points, faces = _simplified(fast_simplification, model.mesh_vert[va:va + nv], model.mesh_face[fa:fa + nf], keep)
        # The compiled vertices sit in the mesh's inertial frame; the XML's geom frame expects the
        # file's, which the compiler then moves to the (new) inertial frame again.
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, model.mesh_quat[mid])
        points = points @ rot.reshape(3, 3).T + model.mesh_pos[mid]
        mesh = spec.mesh(model.mesh(mid).name)
        mesh.file, mesh.scale = "", [1.0, 1.0, 1.0]  # the vertices are scaled already
        mesh.uservert = points.astype(np.float32).ravel().tolist()
        mesh.userface = faces.astype(np.int32).ravel().tolist()
        mesh.usernormal, mesh.usertexcoord = [], []
    light = spec.compile()
    if light.ngeom != model.ngeom or light.ncam != model.ncam or light.nq != model.nq:
        raise RobolearnError("internal: the render model does not match the simulated one")
    light.vis.global_.offwidth, light.vis.global_.offheight = model.vis.global_.offwidth, model.vis.global_.offheight
    light.vis.quality.offsamples = model.vis.quality.offsamples
    return light, meshes


# Fields a task may change at run time (placements, colours, cameras, goal sites), copied before
# each render. A decimated mesh's geom keeps its own pose: the compiler re-centred the new mesh.
_SYNCED = ("body_pos", "body_quat", "geom_rgba", "geom_matid", "site_pos", "site_quat", "site_rgba", "mat_rgba",
           "cam_pos", "cam_quat", "cam_fovy", "light_pos", "light_dir")


class RenderTwin:
    """The light model and its data, kept in step with a simulated (model, data). `spec`: the
    simulated model's source (mujoco.MjSpec.from_string / from_file)."""

    def __init__(self, model: mujoco.MjModel, spec: mujoco.MjSpec, keep: float = KEEP,
                 keep_detail: tuple[str, ...] = ()):
        self.model, meshes = light_model(model, spec, keep, keep_detail)
        self.data = mujoco.MjData(self.model)
        mesh_geom = model.geom_type == mujoco.mjtGeom.mjGEOM_MESH
        self._same_pose = ~(mesh_geom & np.isin(model.geom_dataid, meshes))

    def sync(self, model: mujoco.MjModel, data: mujoco.MjData) -> mujoco.MjData:
        m, d = self.model, self.data
        for name in _SYNCED:
            getattr(m, name)[:] = getattr(model, name)
        keep = self._same_pose
        m.geom_pos[keep], m.geom_quat[keep] = model.geom_pos[keep], model.geom_quat[keep]
        d.qpos[:] = data.qpos
        d.mocap_pos[:], d.mocap_quat[:] = data.mocap_pos, data.mocap_quat
        mujoco.mj_kinematics(m, d)
        mujoco.mj_comPos(m, d)  # cameras that track a body's centre of mass need it
        mujoco.mj_camlight(m, d)
        return d
