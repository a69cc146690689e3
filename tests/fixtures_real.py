"""Tiny self-made datasets in the real on-disk formats (no real files copied).

Each ``make_*`` writes into a given folder and returns what it wrote, so the
data-reader tests and ``bench/reader_speed.py`` run without ../shared/realdata.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

# A rough frontal 68-point face template in a unit box (x right, y down), iBUG order.
_t = np.linspace(0, 1, 17)
_JAW = np.stack([0.05 + 0.9 * _t, 0.35 + 0.6 * np.sin(np.pi * _t) ** 0.7 * 0.95], 1)
_BROW_R = np.stack([np.linspace(0.12, 0.42, 5), [0.28, 0.24, 0.23, 0.24, 0.27]], 1)
_BROW_L = np.stack([1 - _BROW_R[::-1, 0], _BROW_R[::-1, 1]], 1)
_NOSE = np.stack([[0.5] * 4, np.linspace(0.35, 0.58, 4)], 1)
_NOSTR = np.stack([np.linspace(0.42, 0.58, 5), [0.63, 0.65, 0.66, 0.65, 0.63]], 1)
_EYE_R = np.array([[0.18, 0.38], [0.24, 0.35], [0.31, 0.35], [0.38, 0.39], [0.31, 0.41], [0.24, 0.41]])
_EYE_L = np.stack([1 - _EYE_R[[3, 2, 1, 0, 5, 4], 0], _EYE_R[[3, 2, 1, 0, 5, 4], 1]], 1)
_MOUTH_O = np.array([[0.33, 0.78], [0.39, 0.75], [0.45, 0.74], [0.5, 0.75], [0.55, 0.74], [0.61, 0.75], [0.67, 0.78],
                     [0.61, 0.83], [0.55, 0.85], [0.5, 0.86], [0.45, 0.85], [0.39, 0.83]])
_MOUTH_I = np.array([[0.37, 0.78], [0.45, 0.77], [0.5, 0.775], [0.55, 0.77], [0.63, 0.78], [0.55, 0.8], [0.5, 0.805], [0.45, 0.8]])
FACE68 = np.concatenate([_JAW, _BROW_R, _BROW_L, _NOSE, _NOSTR, _EYE_R, _EYE_L, _MOUTH_O, _MOUTH_I])
assert FACE68.shape == (68, 2)


def face_image(size: int = 96, seed: int = 0) -> np.ndarray:
    """(size, size, 3) uint8 test image: noise background, a left-right asymmetric mark (top-left red square)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    img[: size // 4, : size // 4] = (255, 0, 0)
    return img


def make_mat_dataset(root: Path, kind: str = "aflw2000", angles_deg=((-22.87, 1.04, 4.91), (10.0, -30.0, -5.0)),
                     size: int = 96, subset: str = "IBUG") -> list[Path]:
    """Write ``imageNNNNN.{jpg,mat}`` (AFLW2000: flat, pt3d_68 + 21-pt pt2d) or
    ``<subset>/<subset>_image_NNN_0.{jpg,mat}`` (300W-LP: pt2d (2, 68)). Returns the .mat paths."""
    import scipy.io

    root = Path(root)
    out = []
    lm = 0.2 * size + FACE68 * 0.6 * size  # (68, 2) pixels
    for n, (p, y, r) in enumerate(angles_deg):
        pose = np.array([[np.deg2rad(p), np.deg2rad(y), np.deg2rad(r), size / 2, size / 2, -50.0, 0.0013]], dtype=np.float32)
        if kind == "aflw2000":
            stem = root / f"image{2 * n + 2:05d}"
            pt3d = np.concatenate([lm.T, -np.ones((1, 68)) * 40.0]).astype(np.float32)
            mat = {"Pose_Para": pose, "pt3d_68": pt3d, "pt2d": -np.ones((2, 21)), "roi": np.zeros((1, 4), np.int16)}
        else:
            stem = root / subset / f"{subset}_image_{n:03d}_0"
            mat = {"Pose_Para": pose, "pt2d": lm.T.astype(np.float64), "roi": np.zeros((1, 4), np.int16)}
        stem.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face_image(size, n)).save(stem.with_suffix(".jpg"), quality=95)
        scipy.io.savemat(str(stem.with_suffix(".mat")), mat)
        out.append(stem.with_suffix(".mat"))
    return out


BIWI_RGB_CAL = """517.679 0 320 
0 517.679 240.5 
0 0 1 

0 0 0 0 

0.999947 0.00432361 0.00929419 
-0.00446314 0.999877 0.0150443 
-0.009228 -0.015085 0.999844 

-24.0198 5.8896 -13.2308 

640 480
"""
BIWI_DEPTH_CAL = """575.816 0 320 
0 575.816 240 
0 0 1 

0 0 0 0 

1 0 0 
0 1 0 
0 0 1 

0 0 0 

640 480
"""


def biwi_pose_text(R: np.ndarray, t: np.ndarray) -> str:
    """``frame_XXXXX_pose.txt`` text: three rows of R, blank line, head centre (mm)."""
    rows = "".join(" ".join(f"{v:g}" for v in row) + " \n" for row in np.asarray(R))
    return rows + "\n" + " ".join(f"{v:g}" for v in t) + " \n"


def make_biwi(root: Path, sequences=("01",), frames=(3, 4), poses=None) -> Path:
    """Write ``root/hpdb/NN/frame_XXXXX_{rgb.png,pose.txt,depth.bin}`` + cal files. Returns the hpdb folder.

    Depth: a 60x50 block of 800..859 mm, values known (see ``biwi_fixture_depth``).
    """
    from synth.pose import rotation_from_euler
    from train.data.biwi import encode_depth

    hpdb = Path(root) / "hpdb"
    poses = poses or [((7.607, 3.291, -1.567), (51.9, 38.3, 881.8)), ((-10.0, 20.0, 5.0), (40.0, 20.0, 900.0))]
    for s in sequences:
        d = hpdb / s
        d.mkdir(parents=True, exist_ok=True)
        (d / "rgb.cal").write_text(BIWI_RGB_CAL)
        (d / "depth.cal").write_text(BIWI_DEPTH_CAL)
        for k, f in enumerate(frames):
            (pitch, yaw, roll), t = poses[k % len(poses)]
            (d / f"frame_{f:05d}_pose.txt").write_text(biwi_pose_text(rotation_from_euler(pitch, yaw, roll), t))
            img = np.zeros((480, 640, 3), np.uint8)
            img[200:300, 280:380] = (200, 150, 120)
            img[200:220, 280:300] = (255, 0, 0)
            Image.fromarray(img).save(d / f"frame_{f:05d}_rgb.png")
            (d / f"frame_{f:05d}_depth.bin").write_bytes(encode_depth(biwi_fixture_depth()))
    return hpdb


def biwi_fixture_depth() -> np.ndarray:
    """(480, 640) uint16 depth used by :func:`make_biwi`: 3000 valid pixels in 800..859 mm."""
    d = np.zeros((480, 640), np.uint16)
    d[200:250, 300:360] = 800 + np.arange(60, dtype=np.uint16)[None, :]
    return d


def make_pointing04(root: Path, names=("personne01146+15-30.jpg", "personne01100-90+0.jpg", "personne02245+0+45.jpg"),
                    with_txt: bool = True) -> list[Path]:
    """Write ``root/PersonneNN/<name>`` images (384x288 noise) and their face ``.txt``."""
    out = []
    for k, name in enumerate(names):
        d = Path(root) / f"Personne{name[8:10]}"
        d.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(k)
        Image.fromarray(rng.integers(0, 255, (288, 384, 3), dtype=np.uint8)).save(d / name, quality=90)
        if with_txt:
            (d / name).with_suffix(".txt").write_text(f"{name}\nFace\n190\n140\n80\n100\n")
        out.append(d / name)
    return out


def make_panoptic(root: Path, rows=((10.0, -5.0, 3.0), (-174.77, -36.01, -1.38), (144.07, -1.14, -7.76))) -> Path:
    """Write ``root/sess/hdImgs/00_0K/00_0K_00000001.jpg`` (64x48) and ``root/annotations.txt``; returns the list."""
    root = Path(root)
    lines = ["#;image;x_min;y_min;w;h;yaw;pitch;roll"]
    for k, (yaw, pitch, roll) in enumerate(rows):
        rel = f"sess/hdImgs/00_0{k}/00_0{k}_00000001.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face_image(64, k)[:48]).save(root / rel)
        lines.append(f"{rel};10;8;30;28;{yaw};{pitch};{roll}")
    (root / "annotations.txt").write_text("\n".join(lines) + "\n")
    return root / "annotations.txt"


# --- synthetic shards (assumed synth.shards layout) ---------------------------------------------

def make_shard_h5(path: Path, n: int = 4, size: int = 64, seed: int = 0) -> Path:
    """Write one HDF5 shard with the layout DESIGN.md section 4 describes (first axis = sample)."""
    import h5py

    from synth.pose import rotation_from_euler

    rng = np.random.default_rng(seed)
    eul = np.stack([rng.uniform(-40, 40, n), rng.uniform(-80, 80, n), rng.uniform(-30, 30, n)], 1).astype(np.float32)
    lm = (0.2 * size + FACE68 * 0.6 * size).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = 1
        f["rgb"] = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
        f["depth"] = rng.integers(500, 1500, (n, size, size)).astype(np.uint16)
        f["mask"] = np.ones((n, size, size), np.uint8)
        f["rotation"] = np.stack([rotation_from_euler(*e) for e in eul]).astype(np.float32)
        f["euler"] = eul
        f["translation"] = np.tile(np.array([0, 0, 600], np.float32), (n, 1))
        f["bbox"] = np.tile(np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()], np.float32), (n, 1))
        f["landmarks"] = np.tile(lm[None], (n, 1, 1))
        f["K"] = np.tile(np.array([[500, 0, size / 2], [0, 500, size / 2], [0, 0, 1]], np.float32), (n, 1, 1))
        f["seed"] = np.arange(n, dtype=np.uint64)
    return Path(path)


class _FakeShardReader:
    """Stand-in for ``synth.shards.ShardReader`` over :func:`make_shard_h5` files."""

    KEYS = ("rgb", "depth", "mask", "rotation", "euler", "translation", "bbox", "landmarks", "K", "seed")

    def __init__(self, path):
        import h5py

        self._f = h5py.File(path, "r")

    def __len__(self):
        return int(self._f["rgb"].shape[0])

    def __getitem__(self, i):
        return {k: self._f[k][i] for k in self.KEYS if k in self._f}


class _FakeRun:
    def __init__(self, folder):
        self.readers = [_FakeShardReader(p) for p in sorted(Path(folder).glob("*.h5"))]
        self.offsets = np.cumsum([0] + [len(r) for r in self.readers])

    def __len__(self):
        return int(self.offsets[-1])

    def __getitem__(self, i):
        j = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.readers[j][i - int(self.offsets[j])]


def fake_shards_module() -> types.ModuleType:
    """A module with the assumed ``synth.shards`` API (ShardReader, open_dataset) backed by h5py."""
    mod = types.ModuleType("synth.shards")
    mod.ShardReader = _FakeShardReader
    mod.open_dataset = _FakeRun
    return mod


def install_fake_shards(monkeypatch=None, force: bool = True) -> bool:
    """Install :func:`fake_shards_module` as ``synth.shards``; True if installed.

    force=True (default) replaces even a real ``synth.shards`` (tests of the
    adapter must not depend on the real schema matching these hand-made
    files); force=False only fills in when the real module is missing.
    """
    if not force:
        try:
            import synth.shards  # noqa: F401
            return False
        except ImportError:
            pass
    mod = fake_shards_module()
    if monkeypatch is not None:
        monkeypatch.setitem(sys.modules, "synth.shards", mod)
    else:
        sys.modules["synth.shards"] = mod
    return True
