"""Choose the headless OpenGL backend once, before anything imports mujoco.

MuJoCo reads MUJOCO_GL when it is first imported, so every module that touches mujoco imports this
module first. The user's own MUJOCO_GL wins; otherwise EGL (GPU or Mesa), and OSMesa when no EGL
library is present. Mesa's software renderer draws in the calling thread (LP_NUM_THREADS, below).
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
# Mesa's software renderer (llvmpipe, behind EGL or OSMesa without a GPU) splits each frame over a
# thread per core; for our 32-128 px frames the threads' hand-offs cost more CPU than they save, and
# evaluation and collection already run a process per core. Rendering in the calling thread: same
# pixels, 5-20% less CPU per env step (PointMass 0.43-0.56 -> 0.34-0.39 ms, BlockPush 1.05-1.30 ->
# 0.99-1.23, robosuite Lift 16.0-18.3 -> 15.3-16.8 on the shared 2-core machine). Ignored on a GPU.
os.environ.setdefault("LP_NUM_THREADS", "0")
