"""Evaluation videos: small rendered frames to a watchable MP4."""
from __future__ import annotations

import math
from pathlib import Path

import imageio.v2 as imageio
import numpy as np

VIDEO_MIN_SIDE = 256
"""Videos are upscaled (nearest neighbour, integer factor) until a frame is at least this tall."""


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """H.264 MP4 of small frames, upscaled by an integer factor (nearest neighbour) to be watchable.

    Frames are padded (black) to multiples of 16, the H.264 macroblock, instead of letting
    imageio-ffmpeg rescale them, which would blur the pixels and print a warning.
    """
    h, w = frames[0].shape[:2]
    scale = max(1, math.ceil(VIDEO_MIN_SIDE / h))
    H, W = h * scale, w * scale
    ph, pw = (-H) % 16, (-W) % 16
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.mp4")  # ffmpeg picks the container from the suffix
    writer = imageio.get_writer(
        tmp, fps=fps, codec="libx264", quality=8, macro_block_size=1, pixelformat="yuv420p",
        ffmpeg_log_level="error",
    )
    try:
        for f in frames:
            big = np.repeat(np.repeat(f, scale, axis=0), scale, axis=1)
            if ph or pw:
                big = np.pad(big, ((0, ph), (0, pw), (0, 0)))
            writer.append_data(big)
    finally:
        writer.close()
    tmp.replace(path)
