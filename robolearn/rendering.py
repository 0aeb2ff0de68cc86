"""Choose the headless OpenGL backend once, before anything imports mujoco.

MuJoCo reads MUJOCO_GL when it is first imported, so every module that touches mujoco imports this
module first. The user's own MUJOCO_GL wins; otherwise EGL (GPU or Mesa), and OSMesa when no EGL
library is present.
"""
from __future__ import annotations

import ctypes.util
import os


def _choose_backend() -> str:
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    if ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    return "egl"  # mujoco will then name the missing library in its own error


BACKEND = _choose_backend()
os.environ["MUJOCO_GL"] = BACKEND
# PyOpenGL must agree with MuJoCo about the platform.
os.environ.setdefault("PYOPENGL_PLATFORM", BACKEND)
