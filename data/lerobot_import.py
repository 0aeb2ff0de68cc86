"""`robolearn import lerobot`: a LeRobot v3.0 dataset folder -> a store (layout: `lerobot_io`).

Real recordings differ from LeRobot's own writer in a few ways the options absorb: feature names
(`--map actions=action`), cameras to leave out (`--cameras`, `--cameras none`) or videos that are
missing (`--drop-bad-cameras`), and a `to_timestamp` of (n-1)/fps for episodes whose video holds all
n frames (read with a warning). Rewards and dones a dataset lacks are synthesized (zeros; done on the
last frame) and listed in the store's `synthesized` attribute, which `robolearn info` shows.
"""
from __future__ import annotations

import io
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

import numpy as np
import pyarrow as pa
from PIL import Image
from tqdm.auto import tqdm

from robolearn.errors import DataError, RobolearnError

from .lerobot_io import (ACTION, DATA_PATH, DONE, ENV_STATE, EXTRAS, FEATURES, IMAGES, INFO, REWARD, STATE, VIDEO_PATH,
                         _camera_name, _column_2d, _image_hw, _load_json, _read_parquet, _task_strings)
from .store import IMAGE_SUFFIX, StoreWriter, make_env_args
from .video import VideoReader, resize

NO_CAMERAS = "none"
"""`--cameras none`: import no cameras (a low-dimensional store)."""
STORE_KEY = {STATE: "proprio", ENV_STATE: "state", ACTION: "actions"}


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _store_key(key: str) -> str:
    """The store's name for a LeRobot feature: observation.state -> proprio, observation.images.front ->
    front_image, observation.x.y -> x_y."""
    if key.startswith(IMAGES):
        return f"{_camera_name(key)}{IMAGE_SUFFIX}"
    return STORE_KEY.get(key, key.removeprefix("observation.").replace(".", "_"))


def _names(ft: dict) -> Optional[list[str]]:
    """A feature's per-dimension names: LeRobot writes a list, older datasets {"motors": [...]}."""
    names = ft.get("names")
    if isinstance(names, dict):
        names = next((v for v in names.values() if isinstance(v, list)), None)
    return [str(n) for n in names] if isinstance(names, list) and names else None


def _apply_map(features: dict, pairs: Optional[list[str]], info_path: Path) -> tuple[dict, dict]:
    """--map OLD=NEW: (features under their new names, {new name: column name in the files})."""
    src: dict[str, str] = {}
    for p in pairs or []:
        old, sep, new = p.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old or not new:
            raise RobolearnError(f"--map {p}: expected OLD=NEW, e.g. --map actions=action")
        if old not in features:
            raise RobolearnError(f"--map {p}: {info_path} has no feature '{old}' (features: {', '.join(features)})")
        if new in src:
            raise RobolearnError(f"--map: two features mapped to '{new}'")
        src[new] = old
    renamed = set(src.values())
    clash = [n for n in src if n in features and n not in renamed]
    if clash:
        raise RobolearnError(f"--map: '{clash[0]}' is already a feature of {info_path}; map it away too or choose another name")
    back = {old: new for new, old in src.items()}
    return {back.get(k, k): ft for k, ft in features.items()}, src


def _choose_cameras(cfg, cam_of: dict[str, str], root: Path) -> list[str]:
    if cfg.cameras is None:
        return list(cam_of)
    wanted = list(cfg.cameras)
    if not wanted or wanted == [NO_CAMERAS]:
        return []
    if NO_CAMERAS in wanted:
        raise RobolearnError(f"--cameras: `{NO_CAMERAS}` cannot be combined with camera names")
    missing = [c for c in wanted if c not in cam_of]
    if missing:
        raise RobolearnError(f"{root}: no camera {', '.join(missing)} (cameras: {', '.join(cam_of) or 'none'}; "
                             f"`--cameras {NO_CAMERAS}` imports none)")
    return wanted


def _missing_action(features: dict, info_path: Path) -> DataError:
    numeric = [k for k, ft in features.items() if isinstance(ft, dict) and ft.get("dtype") not in ("string", "video", "image")
               and k not in ("index", "episode_index", "frame_index", "timestamp", "task_index")]
    guess = next((k for k in numeric if "action" in k.lower()), None)
    how = f"--map {guess}=action" if guess else "--map COLUMN=action"
    return DataError(f"{info_path}: no 'action' feature (features: {', '.join(numeric) or 'none'}); "
                     f"name the action column with {how}")


class _Dataset:
    """A LeRobot v3.0 folder's metadata, with features under their (possibly --map'ped) names."""

    def __init__(self, root: Path, mapping: Optional[list[str]]):
        self.root, self.info_path = root, root / INFO
        info = self.info = _load_json(self.info_path)
        self.version = str(info.get("codebase_version", ""))
        if not self.version.startswith("v3."):
            raise DataError(f"{self.info_path}: codebase_version {self.version or '(none)'}; only LeRobot v3.x datasets "
                            "are read (convert older ones with lerobot's convert_dataset_v21_to_v30)")
        try:
            self.fps = float(info["fps"])
            features: dict = dict(info["features"])
            self.data_tpl = str(info.get("data_path") or DATA_PATH)
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{self.info_path}: needs fps and features") from None
        if not self.fps > 0:
            raise DataError(f"{self.info_path}: fps must be positive, got {info.get('fps')}")
        self.video_tpl = str(info.get("video_path") or VIDEO_PATH)
        self.features, self.src = _apply_map(features, mapping, self.info_path)
        if ACTION not in self.features:
            raise _missing_action(self.features, self.info_path)
        self.visual = {k: ft for k, ft in self.features.items()
                       if isinstance(ft, dict) and ft.get("dtype") in ("video", "image")}
        self.cam_of = {_camera_name(k): k for k in self.visual}
        if len(self.cam_of) != len(self.visual):
            raise DataError(f"{self.info_path}: camera keys {sorted(self.visual)} do not have distinct last names")

    def col(self, key: str) -> str:
        """The column (or video folder) name of a feature in the files."""
        return self.src.get(key, key)

    def is_video(self, cam: str) -> bool:
        return self.visual[self.cam_of[cam]]["dtype"] == "video"

    def video_path(self, cam: str, row: dict) -> Path:
        key = self.cam_of[cam]
        return self.root / self.video_tpl.format(video_key=self.col(key), chunk_index=row[f"videos/{key}/chunk_index"],
                                                 file_index=row[f"videos/{key}/file_index"])

    def lowdim(self) -> list[str]:
        """Numbers the store keeps: observation.* vectors, action, reward, done, robolearn's task
        features. Other numeric columns are left out with a warning naming --map."""
        keep, left = [], []
        for k, ft in self.features.items():
            if not isinstance(ft, dict) or k in self.visual or ft.get("dtype") == "string":
                continue
            if k.startswith("observation.") or k in (ACTION, REWARD, DONE, FEATURES):
                keep.append(k)
            elif k not in ("index", "episode_index", "frame_index", "timestamp", "task_index"):
                left.append(k)
        if left:
            _warn(f"{self.info_path}: not importing {', '.join(left)} (not an observation.* feature; e.g. "
                  f"--map {left[0]}=observation.state imports it as proprio)")
        return keep

    def episode_rows(self, cams: list[str]) -> list[dict]:
        """meta/episodes: one row per episode, every index 0..N-1 exactly once; video columns under
        the mapped feature names."""
        ep_files = sorted((self.root / "meta" / "episodes").glob("*/*.parquet"))
        if not ep_files:
            raise DataError(f"{self.root / 'meta' / 'episodes'}: no episode tables (meta/episodes/chunk-*/file-*.parquet)")
        need = ["episode_index", "length", "data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"]
        vcols = {f"videos/{self.col(self.cam_of[c])}/{x}": f"videos/{self.cam_of[c]}/{x}" for c in cams if self.is_video(c)
                 for x in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")}
        rows = []
        for p in ep_files:
            schema = _read_parquet(p, schema_only=True)
            missing = [c for c in need + list(vcols) if c not in schema.names]
            if missing:
                raise DataError(f"{p}: no column {', '.join(missing)}")
            cols = need + list(vcols) + (["tasks"] if "tasks" in schema.names else [])
            for r in _read_parquet(p, cols).to_pylist():
                r = {vcols.get(k, k): v for k, v in r.items()}
                r["_file"] = p
                rows.append(r)
        rows.sort(key=lambda r: r["episode_index"])
        for i, r in enumerate(rows):
            if r["episode_index"] != i:
                prev = rows[i - 1]["episode_index"] if i else -1
                what = (f"episode {i} is listed twice" if r["episode_index"] == prev else
                        f"episode indices jump from {prev} to {r['episode_index']} (episode {i} missing)")
                raise DataError(f"{r['_file']}: {what}")
        total = self.info.get("total_episodes")
        if total is not None and int(total) != len(rows):
            raise DataError(f"{self.info_path}: total_episodes is {total} but meta/episodes lists {len(rows)}")
        return rows


def _usable_cameras(ds: _Dataset, cams: list[str], chosen: list[dict], drop: bool) -> list[str]:
    """Open every video file the chosen episodes use: a missing or unreadable one stops the import
    naming its camera, or (--drop-bad-cameras) drops that camera with a warning."""
    keep = []
    for c in cams:
        if not ds.is_video(c):
            keep.append(c)
            continue
        try:
            for p in dict.fromkeys(ds.video_path(c, r) for r in chosen):
                VideoReader(p).close()
            keep.append(c)
        except DataError as e:
            if not drop:
                raise DataError(f"camera '{c}': {e} (pass --drop-bad-cameras to import without it, or choose "
                                f"cameras with --cameras)") from None
            _warn(f"dropping camera '{c}': {e}")
    return keep


def _check_spans(ds: _Dataset, cams: list[str], rows: list[dict], chosen: list[dict]) -> None:
    """Each episode's video segment must span its data rows. A segment one frame short is a
    convention some recorders use (to_timestamp = (n-1)/fps, the last frame's time): accepted with a
    warning when no other episode's segment starts inside its n frames; the decoder then checks that
    the frames are there. Anything else is an error."""
    short: dict[str, int] = defaultdict(int)
    for r in chosen:
        e, n = r["episode_index"], r["length"]
        for c in cams:
            key = ds.cam_of[c]
            if not ds.is_video(c):
                continue
            span = (r[f"videos/{key}/to_timestamp"] - r[f"videos/{key}/from_timestamp"]) * ds.fps
            if abs(span - n) <= 0.5:
                continue
            if n > 1 and abs(span - (n - 1)) <= 0.5:
                short[key] += 1
                continue
            raise DataError(f"{r['_file']}: episode {e} has {n} frames in the data table but its {key} video "
                            f"segment spans {span:.1f} frames at {ds.fps:g} fps")
    for key in short:
        by_file = defaultdict(list)
        for r in rows:
            by_file[(r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"])].append(r)
        for segs in by_file.values():
            segs.sort(key=lambda r: r[f"videos/{key}/from_timestamp"])
            for a, b in zip(segs, segs[1:]):
                end = a[f"videos/{key}/from_timestamp"] + (a["length"] - 0.5) / ds.fps
                if b[f"videos/{key}/from_timestamp"] < end:
                    raise DataError(f"{a['_file']}: episode {a['episode_index']} has {a['length']} frames but its {key} "
                                    f"video segment ends one frame early, and episode {b['episode_index']}'s starts "
                                    f"at {b[f'videos/{key}/from_timestamp']:.4f} s, inside those frames")
    if short:
        _warn(f"{max(short.values())} of {len(chosen)} episodes have video segments one frame shorter than their "
              f"data rows ({', '.join(short)}: to_timestamp = (n-1)/fps); reading all n frames from the videos")


def import_lerobot(cfg) -> Path:
    """Read a LeRobot v3.0 folder into a store at cfg.out (atomic). Every check on the metadata runs
    before anything is written; a problem found while decoding removes the partial output."""
    root = Path(cfg.path)
    out = Path(cfg.out)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (a LeRobot dataset is a folder with meta/, data/, videos/)")
    if out.exists() and not cfg.overwrite:
        raise RobolearnError(f"{out} exists; pass --overwrite to replace it")
    if cfg.image_size is not None and cfg.image_size < 8:
        raise RobolearnError(f"--image-size must be >= 8 px, got {cfg.image_size}")

    ds = _Dataset(root, cfg.map)
    cams = _choose_cameras(cfg, ds.cam_of, root)
    lowdim = ds.lowdim()
    if not cams and not any(k.startswith("observation.") for k in lowdim):
        raise DataError(f"{ds.info_path}: no observations to import (no cameras and no observation.* features; "
                        "map a column with e.g. --map state=observation.state)")
    tasks = _task_strings(root)
    rows = ds.episode_rows(cams)
    if cfg.episodes:
        bad = [e for e in cfg.episodes if not 0 <= e < len(rows)]
        if bad:
            raise RobolearnError(f"{root}: no episode {', '.join(map(str, bad))} (episodes 0..{len(rows) - 1})")
        chosen = [rows[e] for e in dict.fromkeys(cfg.episodes)]
    else:
        chosen = rows
    for r in chosen:
        e, n = r["episode_index"], r["length"]
        if n is None or n < 1:
            raise DataError(f"{r['_file']}: episode {e} has length {n}")
        if r["dataset_to_index"] - r["dataset_from_index"] != n:
            raise DataError(f"{r['_file']}: episode {e} has length {n} but dataset_from/to_index span "
                            f"{r['dataset_to_index'] - r['dataset_from_index']} frames")
    cams = _usable_cameras(ds, cams, chosen, cfg.drop_bad_cameras)
    _check_spans(ds, cams, rows, chosen)
    if cfg.image_size is not None:
        size = (int(cfg.image_size), int(cfg.image_size))
    else:
        sizes = {c: _image_hw(ds.cam_of[c], ds.visual[ds.cam_of[c]], ds.info_path) for c in cams}
        if len(set(sizes.values())) > 1:
            raise RobolearnError(f"{root}: cameras have different sizes "
                                 f"({', '.join(f'{c} {h}x{w}' for c, (h, w) in sizes.items())}); pass --image-size")
        size = next(iter(sizes.values()), None)
        if size is not None and size[0] * size[1] > 256 * 256:
            raw = sum(r["length"] for r in chosen) * len(cams) * size[0] * size[1] * 3
            _warn(f"keeping {size[0]}x{size[1]} frames ({raw / 2**30:.1f} GiB before compression); the encoders "
                  "train on small square frames: --image-size 96 resizes on import")
    writer, extras = _writer(cfg, ds, cams, size, chosen, tasks, lowdim)
    t0 = time.perf_counter()
    frames = _write_demos(ds, writer, cams, size, chosen, tasks, lowdim, extras)
    elapsed = time.perf_counter() - t0
    print(f"imported {len(chosen)} episodes, {frames} frames ({frames / max(elapsed, 1e-9):.0f} frames/s) -> {out}",
          file=sys.stderr)
    return out


def _writer(cfg, ds: _Dataset, cams, size, chosen, tasks, lowdim) -> tuple[StoreWriter, dict]:
    extras = json.loads((ds.root / EXTRAS).read_text()) if (ds.root / EXTRAS).is_file() else {}
    if cfg.env:
        env_args = make_env_args(cfg.env, {"image_size": size[0], "cameras": cams} if cams else {})
    elif extras.get("env_args"):
        env_args = dict(extras["env_args"])
        kw = dict(env_args.get("env_kwargs") or {})
        if cams:
            kw["cameras"] = cams
            if size is not None and "image_size" in kw:
                kw["image_size"] = size[0]
        env_args["env_kwargs"] = kw
    else:
        env_args = {}
    # What the policy must be given at run time, by the names the robot's software uses.
    described = {_store_key(k): {"feature": k, **({"column": ds.col(k)} if ds.col(k) != k else {}),
                                 **({"names": _names(ds.features[k])} if _names(ds.features[k]) else {})}
                 for k in [*lowdim, *(ds.cam_of[c] for c in cams)] if k not in (REWARD, DONE, FEATURES)}
    synthesized = [name for name, key in (("rewards", REWARD), ("dones", DONE)) if key not in lowdim]
    attrs = {"fps": ds.fps, "tasks": json.dumps([tasks[k] for k in sorted(tasks)]),
             "source": f"lerobot {ds.version}: {ds.root.resolve()}", "lerobot_features": json.dumps(described),
             "synthesized": json.dumps(synthesized)}
    if ds.info.get("robot_type"):
        attrs["robot_type"] = str(ds.info["robot_type"])
    writer = StoreWriter(cfg.out, env_args, valid_fraction=cfg.valid_fraction, seed=cfg.seed, overwrite=cfg.overwrite,
                         feature_names=extras.get("feature_names") or None, extra_attrs=attrs)
    pos = {r["episode_index"]: i for i, r in enumerate(chosen)}
    if extras.get("masks"):
        writer.masks = {k: [f"demo_{pos[e]}" for e in v if e in pos] for k, v in extras["masks"].items()}
    return writer, extras


def _write_demos(ds: _Dataset, writer: StoreWriter, cams, size, chosen, tasks, lowdim, extras) -> int:
    """Decode every chosen episode into the store; any failure removes the partial output."""
    readers: dict[str, VideoReader] = {}
    data_cache: dict = {}
    frames_done = 0
    modes, success = extras.get("modes") or [], extras.get("success") or []
    image_cols = [ds.cam_of[c] for c in cams if not ds.is_video(c)]
    bar = tqdm(total=sum(r["length"] for r in chosen), desc="import lerobot", unit="frame", dynamic_ncols=True)
    try:
        writer.open()
        for r in chosen:
            e, n = r["episode_index"], r["length"]
            dpath = ds.root / ds.data_tpl.format(chunk_index=r["data/chunk_index"], file_index=r["data/file_index"])
            if data_cache.get("path") != dpath:
                data_cache = {"path": dpath, **_load_data_file(dpath, lowdim, image_cols, ds.col)}
            sel = _episode_rows_of(data_cache, e, n, dpath)
            cols = {k: v[sel] for k, v in data_cache["cols"].items()}
            acts = cols[ACTION]
            bad = np.nonzero(~np.isfinite(acts).all(1))[0]
            if len(bad):
                raise DataError(f"{dpath}: episode {e} has NaN or inf in '{ds.col(ACTION)}' (frame {bad[0]})")
            obs = _episode_obs(ds, r, cols, data_cache, sel, cams, size, readers, dpath)
            demo = {"obs": obs, "actions": acts.astype(np.float32)}
            if REWARD in cols:
                demo["rewards"] = cols[REWARD].reshape(-1)
            if DONE in cols:
                demo["dones"] = cols[DONE].reshape(-1).astype(np.uint8)
            if FEATURES in cols:
                demo["task_features"] = cols[FEATURES]
            if e < len(modes) and modes[e] is not None:
                demo["mode"] = int(modes[e])
            if e < len(success) and success[e] is not None:
                demo["success"] = float(success[e])
            task_names = r.get("tasks") or ([tasks.get(int(data_cache["task_index"][sel[0]]))]
                                            if data_cache["task_index"] is not None else [])
            demo["attrs"] = {"task": " | ".join(t for t in task_names if t), "lerobot_episode_index": int(e)}
            writer.add_demo(demo)
            frames_done += n
            bar.update(n)
        writer.finish()
    except BaseException:
        writer.abort()
        raise
    finally:
        for rd in readers.values():
            rd.close()
        bar.close()
    return frames_done


def _episode_obs(ds: _Dataset, r: dict, cols: dict, cache: dict, sel: np.ndarray, cams, size, readers: dict,
                 dpath: Path) -> dict:
    """One episode's observations under the store's keys: low-dim columns, and each camera's frames
    from its image column or its video (one open reader per camera, kept across episodes)."""
    e = r["episode_index"]
    obs = {}
    for k, v in cols.items():
        if k in (ACTION, REWARD, DONE, FEATURES):
            continue
        if not np.isfinite(v).all():
            raise DataError(f"{dpath}: episode {e} has NaN or inf in '{ds.col(k)}'")
        obs[_store_key(k)] = v.astype(np.float32)
    tol = 0.45 / ds.fps  # unambiguous: the nearest frame of a 1/fps grid, and never its neighbour
    ts = cache["timestamp"][sel].astype(np.float64)
    for c in cams:
        key = ds.cam_of[c]
        if not ds.is_video(c):
            obs[f"{c}{IMAGE_SUFFIX}"] = _decode_images(cache["images"][key], sel, size, dpath, ds.col(key))
            continue
        vpath = ds.video_path(c, r)
        rd = readers.get(key)
        if rd is None or rd.path != vpath:
            if rd is not None:
                rd.close()
            rd = readers[key] = VideoReader(vpath, size)
        obs[f"{c}{IMAGE_SUFFIX}"] = rd.frames_at(r[f"videos/{key}/from_timestamp"] + ts, tol)
    return obs


def _episode_rows_of(cache: dict, e: int, n: int, dpath: Path) -> np.ndarray:
    """Row positions of episode e in a data file, in frame order."""
    sel = np.nonzero(cache["episode_index"] == e)[0]
    if len(sel) != n:
        raise DataError(f"{dpath}: episode {e} has {len(sel)} rows but meta/episodes says length {n}")
    sel = sel[np.argsort(cache["frame_index"][sel], kind="stable")]
    if not np.array_equal(cache["frame_index"][sel], np.arange(n)):
        raise DataError(f"{dpath}: episode {e} frame_index is not 0..{n - 1}")
    return sel


def _load_data_file(path: Path, lowdim: list[str], image_keys: list[str], col) -> dict:
    """One data parquet file: frame columns, low-dim features (read by their column names `col(k)`,
    kept under the feature names) and image columns."""
    schema = _read_parquet(path, schema_only=True)
    for c in ("episode_index", "frame_index", "timestamp", *map(col, lowdim), *map(col, image_keys)):
        if c not in schema.names:
            raise DataError(f"{path}: no column '{c}'")
    cols = ["episode_index", "frame_index", "timestamp", *(["task_index"] if "task_index" in schema.names else []),
            *map(col, lowdim), *map(col, image_keys)]
    t = _read_parquet(path, cols)
    return {
        "episode_index": t.column("episode_index").to_numpy(),
        "frame_index": t.column("frame_index").to_numpy(),
        "timestamp": t.column("timestamp").to_numpy().astype(np.float64),
        "task_index": t.column("task_index").to_numpy() if "task_index" in cols else None,
        "cols": {k: _column_2d(t, col(k), path) for k in lowdim},
        "images": {k: t.column(col(k)) for k in image_keys},
    }


def _decode_images(col: pa.ChunkedArray, sel: np.ndarray, size, path: Path, key: str) -> np.ndarray:
    """LeRobot `image` features: PNG/JPEG bytes in a struct {bytes, path} column."""
    out = []
    for i in sel:
        v = col[int(i)].as_py()
        data = v.get("bytes") if isinstance(v, dict) else None
        if not data:
            raise DataError(f"{path}: '{key}' row {int(i)} holds no image bytes")
        try:
            out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        except Exception as e:
            raise DataError(f"{path}: '{key}' row {int(i)} is not a readable image ({type(e).__name__})") from None
    frames = np.stack(out)
    return resize(frames, *size) if size is not None else frames

