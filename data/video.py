"""MP4 video through PyAV: an encoder that appends frames, a reader that returns frames at timestamps.

The reader decodes forward and seeks (to the keyframe before the wanted time) only when asked for an
earlier time or one far ahead, so reading the episodes of a concatenated LeRobot file in order
decodes each frame once.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Optional

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from robolearn.errors import DataError

# Decoding forward is cheaper than a seek plus the frames from the keyframe, up to about this gap.
SEEK_AHEAD_S = 2.0


def decoder_name() -> str:
    """What decodes and encodes here, for benchmark notes: PyAV and its libavcodec."""
    lib = av.library_versions.get("libavcodec", ())
    return f"PyAV {av.__version__} (libavcodec {'.'.join(str(x) for x in lib)})"


def fps_fraction(fps: float) -> Fraction:
    """29.97 -> 30000/1001; integer rates stay exact."""
    return Fraction(fps).limit_denominator(1001)


def can_decode(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "r")
        return True
    except Exception:  # UnknownCodecError, or a build without that decoder
        return False


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (N, H, W, 3) -> (N, height, width, 3), area-averaged by libswscale (no-op when equal)."""
    if frames.shape[1:3] == (height, width):
        return frames
    out = np.empty((len(frames), height, width, 3), np.uint8)
    fmt = VideoReformatter()  # one scaler for all frames: building one per frame costs ~10x the scaling
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        out[i] = fmt.reformat(vf, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
    return out


class VideoWriter:
    """Appends uint8 RGB frames to an MP4; frame i gets pts i at 1/fps, so its time is exactly i/fps.

    B-frames are off: every decoder then returns frames in file order from the first packet, and the
    first frame's time is 0 without relying on the MP4 edit list.
    """

    def __init__(self, path, fps: float, width: int, height: int, *, codec: str = "libx264",
                 pix_fmt: str = "yuv420p", crf: int = 18, gop: int = 10, preset: str = "veryfast"):
        self.path = Path(path)
        if pix_fmt == "yuv420p" and (width % 2 or height % 2):
            raise DataError(f"{self.path}: {width}x{height} px cannot be stored as yuv420p (needs even sides); "
                            "use --pix-fmt yuv444p")
        self.rate = fps_fraction(fps)
        self.width, self.height = int(width), int(height)
        self._c = av.open(str(self.path), "w")
        try:
            s = self._c.add_stream(codec, rate=self.rate)
        except Exception as e:
            self._c.close()
            raise DataError(f"{self.path}: cannot encode with {codec} here ({e})") from None
        s.width, s.height, s.pix_fmt = self.width, self.height, pix_fmt
        opts = {"g": str(gop), "bf": "0"}
        if codec in ("libx264", "libx265"):
            opts.update(crf=str(crf), preset=preset)
        elif codec == "libsvtav1":
            opts.update(crf=str(crf))
            os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr unless told not to
        s.options = opts
        self._s = s
        self.frames = 0
        self.bytes = 0

    def write(self, frames: np.ndarray) -> None:
        if frames.shape[1:] != (self.height, self.width, 3) or frames.dtype != np.uint8:
            raise DataError(f"{self.path}: frames must be uint8 (N, {self.height}, {self.width}, 3), "
                            f"got {frames.dtype} {frames.shape}")
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            vf.pts = self.frames
            self._mux(self._s.encode(vf))
            self.frames += 1

    def _mux(self, packets) -> None:
        for p in packets:
            self.bytes += p.size
        self._c.mux(packets)

    @property
    def duration(self) -> float:
        return float(self.frames / self.rate)

    def size_bytes(self) -> int:
        """Bytes of video encoded so far (the encoder may still hold its last few frames)."""
        return self.bytes

    def close(self) -> None:
        if self._c is None:
            return
        try:
            self._mux(self._s.encode(None))  # flush
        finally:
            self._c.close()
            self._c = None


class VideoReader:
    """Frames of one video file at given times (seconds), optionally resized."""

    def __init__(self, path, size: Optional[tuple[int, int]] = None):
        self.path = Path(path)
        self.size = size
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such video file")
        try:
            self._c = av.open(str(self.path))
        except Exception as e:
            raise DataError(f"{self.path}: cannot open as video ({_msg(e)})") from None
        if not self._c.streams.video:
            self._c.close()
            raise DataError(f"{self.path}: no video stream")
        self._s = self._c.streams.video[0]
        cc = self._s.codec_context
        self.codec = cc.name if cc is not None else "unknown"
        if cc is None or not can_decode(self.codec):
            what = f"'{self.codec}'" if cc is not None else "(unknown to FFmpeg)"
            self._c.close()
            raise DataError(f"{self.path}: unsupported video codec {what}: no decoder for it in {decoder_name()}")
        self._s.thread_type = "AUTO"
        self.width, self.height = int(cc.width), int(cc.height)
        self.time_base = self._s.time_base
        self._iter = None
        self._cur: Optional[tuple[float, object]] = None  # last decoded (time, frame)
        self._fmt = VideoReformatter()  # kept: a new scaler per frame costs ~10x the conversion

    def _restart(self, t: float) -> None:
        # Seek to the keyframe at or before t (in stream time_base units), then decode forward.
        self._c.seek(max(0, int(t / self.time_base)), stream=self._s, backward=True, any_frame=False)
        self._iter = self._c.decode(self._s)
        self._cur = None

    def _next(self) -> Optional[tuple[float, object]]:
        if self._iter is None:
            self._iter = self._c.decode(self._s)
        try:
            while True:
                f = next(self._iter)
                if f.pts is not None:
                    self._cur = (float(f.pts * self.time_base), f)
                    return self._cur
        except StopIteration:
            return None
        except av.error.FFmpegError as e:
            raise DataError(f"{self.path}: cannot decode ({_msg(e)})") from None

    def _array(self, frame) -> np.ndarray:
        h, w = self.size if self.size is not None else (frame.height, frame.width)
        return self._fmt.reformat(frame, width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()

    def frames_at(self, times, tol: float) -> np.ndarray:
        """uint8 (N, H, W, 3): for each time the frame whose time is within `tol`; a DataError names the
        file and the time when there is none (a video shorter than its table, or a missing frame)."""
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        h, w = self.size if self.size is not None else (self.height, self.width)
        out = np.empty((len(times), h, w, 3), np.uint8)
        for i, t in enumerate(times):
            cur = self._cur
            if cur is None or t < cur[0] - tol or t > cur[0] + SEEK_AHEAD_S:
                if cur is not None or t > SEEK_AHEAD_S:
                    self._restart(t - tol)
            while self._cur is None or self._cur[0] < t - tol:
                if self._next() is None:
                    last = f"; its last frame is at {self._cur[0]:.4f} s" if self._cur is not None else ""
                    raise DataError(f"{self.path}: no frame at {t:.4f} s (video ends before the data table does{last})")
            if abs(self._cur[0] - t) > tol:
                raise DataError(f"{self.path}: no frame within {tol * 1e3:.1f} ms of {t:.4f} s "
                                f"(nearest at {self._cur[0]:.4f} s)")
            out[i] = self._array(self._cur[1])
        return out

    def count_frames(self) -> int:
        """Decode the whole stream and count its frames (validation and tests)."""
        self._restart(0.0)
        n = 0
        while self._next() is not None:
            n += 1
        self._restart(0.0)
        return n

    def close(self) -> None:
        if self._c is not None:
            self._c.close()
            self._c = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _msg(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return s[0] if s else type(e).__name__
