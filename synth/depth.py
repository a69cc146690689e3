"""Depth maps: a Kinect-v1-like sensor model and the face crop used by depth datasets.

Every function here is pure: the only randomness comes from :func:`depth_rng`,
a generator seeded from the sample's (seed, index) on a stream of its own, so
turning the sensor model on never changes the scene, the RGB image or any label
of a sample, and a noisy depth map depends only on (config, seed, index).

What is stored and what is derived
----------------------------------
* ``depth``: clean planar z-depth, uint16 mm, 0 = no data (the renderer's).
* ``depth_noisy`` (only when ``depth.noise: true``, e.g. ``--preset depth``):
  :func:`kinect_noise` of ``depth``, uint16 mm, 0 = hole; the drawn noise
  parameters are stored in the sample's ``params["depth"]``.
* The coarse-to-fine paper's network input -- face crop, 256x256, [0, 1] --
  is NOT stored: the reader / crop side produces it with :func:`face_crop`
  (or :func:`sample_face_crop` on a sample dict read from a shard), so the
  crop size, margin and normalisation window can change without re-rendering.

The sensor model (Kinect v1, structured light; Khoshelham & Elberink 2012,
Nguyen et al. 2012), applied at the sensor's native pixel grid and resampled
to the output crop with nearest neighbour:

1. depth -> disparity ``d = fx * b / z`` (fx of ``sensor``, baseline b);
2. Gaussian disparity noise of sigma ``disparity_sigma`` px, i.e. depth noise
   ``sigma_z = z^2 * sigma / (fx * b)`` growing with the square of distance;
3. disparity quantised to ``disparity_step`` (1/8 px), i.e. depth steps of
   ``z^2 * step / (fx * b)`` (2.9 mm at 1 m, 6.5 mm at 1.5 m);
4. holes where the angle between the surface normal (from the depth gradient,
   back-projected through K) and the view ray exceeds ``grazing_angle_deg``;
5. holes, with probability ``edge_dropout``, in a band of ``edge_width_px``
   around depth jumps larger than ``edge_jump_mm`` (silhouettes included);
6. isolated random holes with probability ``dropout``.
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.boxes import square_box
from synth.config import DepthConfig, SynthConfig

#: Extra SeedSequence word that separates the depth-noise stream from the scene stream.
DEPTH_STREAM = 0x64657074  # "dept"
#: Largest depth a uint16 mm map can hold.
MAX_DEPTH_MM = 65535


def depth_mm_u16(z_mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 mm of float depth in mm: rounded half to even, saturated to 0..MAX_DEPTH_MM.

    The same values as ``np.clip(np.rint(z), 0, MAX_DEPTH_MM).astype(np.uint16)`` in place on
    one float temporary: 0.11 vs 0.37 ms at 256x256 (``np.clip`` with Python bounds is slow).
    """
    t = np.rint(z_mm)  # a fresh float array of z_mm's precision
    np.minimum(t, MAX_DEPTH_MM, out=t)
    np.maximum(t, 0, out=t)
    return t.astype(np.uint16)


def depth_rng(seed: int, index: int) -> np.random.Generator:
    """The depth-noise generator of sample ``index`` of a run with global ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index), DEPTH_STREAM])))


def _uniform(rng: np.random.Generator, r) -> float:
    lo, hi = r
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def sample_depth_noise(cfg: DepthConfig, rng: np.random.Generator) -> dict:
    """Draw one sample's sensor-model parameters (JSON-safe; stored as ``params["depth"]``)."""
    return {
        "model": "kinect_v1",
        "baseline_mm": float(cfg.baseline_mm),
        "disparity_step": float(cfg.disparity_step),
        "disparity_sigma": _uniform(rng, cfg.disparity_sigma),
        "grazing_angle_deg": _uniform(rng, cfg.grazing_angle_deg),
        "edge_jump_mm": float(cfg.edge_jump_mm),
        "edge_dropout": _uniform(rng, cfg.edge_dropout),
        "edge_width_px": int(cfg.edge_width_px),
        "dropout": _uniform(rng, cfg.dropout),
        "noise_seed": int(rng.integers(0, 2**31 - 1)),
    }


def view_cosine(depth_mm: np.ndarray, K: np.ndarray) -> np.ndarray:
    """|cos| of the angle between the surface normal and the view ray, per pixel.

    Normals are the cross product of the back-projected point cloud's image
    gradients (central differences) after a 5x5 box filter over valid pixels
    (the mm quantisation of a uint16 map would otherwise tilt normals by up to
    ~20 degrees). Returns float32 (H, W); NaN where the pixel or a neighbour used
    by the gradient has no depth.
    """
    raw = np.asarray(depth_mm, dtype=np.float32)
    h, w = raw.shape
    m = (raw > 0).astype(np.float32)
    num = cv2.boxFilter(raw * m, -1, (5, 5), normalize=False, borderType=cv2.BORDER_CONSTANT)
    den = cv2.boxFilter(m, -1, (5, 5), normalize=False, borderType=cv2.BORDER_CONSTANT)
    z = np.where(m > 0, num / np.maximum(den, 1e-6), 0.0).astype(np.float32)
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    u = ((np.arange(w) + 0.5 - cx) / fx).astype(np.float32)
    v = ((np.arange(h) + 0.5 - cy) / fy).astype(np.float32)
    P = np.stack([z * u[None, :], z * v[:, None], z], axis=-1)
    Pu = np.zeros_like(P)
    Pv = np.zeros_like(P)
    Pu[:, 1:-1] = P[:, 2:] - P[:, :-2]
    Pv[1:-1, :] = P[2:, :] - P[:-2, :]
    n = np.cross(Pu, Pv)
    norm_n = np.linalg.norm(n, axis=-1)
    norm_p = np.linalg.norm(P, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.abs((n * P).sum(-1)) / (norm_n * norm_p)
    valid = raw > 0
    ok = valid.copy()
    ok[:, 1:-1] &= valid[:, 2:] & valid[:, :-2]
    ok[1:-1, :] &= valid[2:, :] & valid[:-2, :]
    ok[:, [0, -1]] = False
    ok[[0, -1], :] = False
    ok &= norm_n > 0
    cos[~ok] = np.nan
    return cos.astype(np.float32)


def depth_edges(depth_mm: np.ndarray, jump_mm: float, width_px: int = 1) -> np.ndarray:
    """Bool (H, W): valid pixels within ``width_px`` of a depth jump > ``jump_mm`` or of a hole."""
    z = np.asarray(depth_mm, dtype=np.float64)
    valid = z > 0
    big = np.where(valid, z, np.inf)  # a hole counts as an infinite jump
    edge = np.zeros(z.shape, bool)
    with np.errstate(invalid="ignore"):
        jx = ~(np.abs(big[:, 1:] - big[:, :-1]) <= jump_mm)   # (H, W-1)
        jy = ~(np.abs(big[1:, :] - big[:-1, :]) <= jump_mm)   # (H-1, W)
    edge[:, 1:] |= jx
    edge[:, :-1] |= jx
    edge[1:, :] |= jy
    edge[:-1, :] |= jy
    if width_px > 1:
        k = np.ones((2 * width_px - 1, 2 * width_px - 1), np.uint8)
        edge = cv2.dilate(edge.astype(np.uint8), k) > 0
    return edge & valid if width_px > 0 else np.zeros_like(valid)


def _roi(valid: np.ndarray, pad: int) -> tuple[slice, slice]:
    ys = np.flatnonzero(valid.any(axis=1))
    xs = np.flatnonzero(valid.any(axis=0))
    h, w = valid.shape
    return (slice(max(0, ys[0] - pad), min(h, ys[-1] + 1 + pad)),
            slice(max(0, xs[0] - pad), min(w, xs[-1] + 1 + pad)))


def kinect_noise(depth_mm: np.ndarray, K: np.ndarray, sensor_fx: float, params: dict) -> np.ndarray:
    """Apply the Kinect-v1-like model (module doc) to a uint16 mm depth map.

    depth_mm: (H, W) uint16, 0 = no data. K: (3, 3) intrinsics of that image.
    sensor_fx: the emulated sensor's focal length in its native pixels (noise and
    quantisation are defined on that grid). params: from :func:`sample_depth_noise`.
    Returns (H, W) uint16 mm, 0 = hole. Deterministic given ``params``. Work is
    restricted to the bounding rectangle of the valid pixels (+ a margin).
    """
    depth_mm = np.asarray(depth_mm)
    h, w = depth_mm.shape
    out = np.zeros((h, w), np.uint16)
    valid_full = depth_mm > 0
    if not valid_full.any():
        return out
    rng = np.random.Generator(np.random.PCG64(int(params["noise_seed"])))
    fb = float(sensor_fx) * float(params["baseline_mm"])
    # disparity noise on the sensor's native grid, resampled to this image (nearest)
    px_scale = max(float(K[0, 0]) / float(sensor_fx), 1e-6)  # image px per sensor px
    sh, sw = max(1, int(round(h / px_scale))), max(1, int(round(w / px_scale)))
    noise = rng.standard_normal((sh, sw), dtype=np.float32)
    if (sh, sw) != (h, w):
        noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_NEAREST)
    ry, rx = _roi(valid_full, 2 + int(params["edge_width_px"]))
    roi = depth_mm[ry, rx]
    u = rng.uniform(size=(2,) + roi.shape).astype(np.float32)
    Kr = np.array(K, np.float64)
    Kr[0, 2] -= rx.start
    Kr[1, 2] -= ry.start
    z = roi.astype(np.float32)
    valid = z > 0
    step = np.float32(params["disparity_step"])
    disp = np.float32(fb) / np.where(valid, z, np.float32(1.0))
    disp += np.float32(params["disparity_sigma"]) * noise[ry, rx]
    disp = np.round(disp / step) * step
    ok = valid & (disp > 0)
    noisy = np.float32(fb) / np.where(ok, disp, np.float32(1.0))
    holes = ~ok
    cos = view_cosine(roi, Kr)
    with np.errstate(invalid="ignore"):
        holes |= cos < np.cos(np.deg2rad(float(params["grazing_angle_deg"])))
    edges = depth_edges(roi, float(params["edge_jump_mm"]), int(params["edge_width_px"]))
    holes |= edges & (u[0] < float(params["edge_dropout"]))
    holes |= u[1] < float(params["dropout"])
    r = depth_mm_u16(noisy)
    r[holes] = 0
    out[ry, rx] = r
    return out


def add_depth_noise(sample: dict, cfg: SynthConfig) -> dict:
    """Give a sample dict its ``depth_noisy`` map and ``params["depth"]`` when ``cfg.depth.noise``.

    Draws from :func:`depth_rng` (sample's seed and index); returns the same dict.
    """
    if not cfg.depth.noise:
        return sample
    rng = depth_rng(int(sample["seed"]), int(sample["index"]))
    params = sample_depth_noise(cfg.depth, rng)
    sample["depth_noisy"] = kinect_noise(sample["depth"], sample["K"], cfg.sensor.fx, params)
    sample["params"] = dict(sample["params"], depth=params)
    return sample


# --- the face crop (reader side) --------------------------------------------------------------

def crop_box(bbox, margin: float = 0.15, mask: np.ndarray | None = None) -> np.ndarray:
    """Square box (x0, y0, x1, y1) around a face box, grown by ``margin`` of its larger side.

    Falls back to the bounding box of ``mask`` when ``bbox`` has NaNs (no landmarks).
    """
    b = np.asarray(bbox, dtype=np.float64)
    if not np.all(np.isfinite(b)):
        if mask is None or not np.any(mask):
            raise ValueError("no finite face box and no mask to crop around")
        ys, xs = np.nonzero(mask)
        b = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    return square_box(b, 1.0 + 2.0 * margin, min_extent=1.0)


def normalise_depth01(depth_mm: np.ndarray, range_mm: float = 300.0) -> np.ndarray:
    """The one depth normalisation for depth networks, used for synthetic and real data alike.

    (H, W) depth in mm (0 = no data) -> float32 in [0, 1]: the nearest valid
    point maps to 1, points ``range_mm`` or more behind it to 0, holes to 0.
    A fixed metric window keeps the face's relief comparable between samples;
    a min-max stretch would let background or shoulder pixels in a crop change
    the scale.
    """
    z = np.asarray(depth_mm, dtype=np.float32)
    valid = z > 0
    out = np.zeros(z.shape, np.float32)
    if valid.any():
        zmin = float(z[valid].min())
        out[valid] = np.clip(1.0 - (z[valid] - zmin) / float(range_mm), 0.0, 1.0)
    return out


def face_crop(depth_mm: np.ndarray, bbox, size: int = 256, margin: float = 0.15,
              range_mm: float = 300.0, mask: np.ndarray | None = None) -> np.ndarray:
    """The coarse-to-fine paper's depth input: face crop, resized, normalised to [0, 1].

    Crops the square :func:`crop_box` (zero outside the image), resizes it to
    ``size`` x ``size`` with nearest neighbour (no mixing of holes and surface),
    and maps depth with :func:`normalise_depth01` (nearest point 1, ``range_mm``
    behind it and holes / background 0). Returns float32 (size, size).
    """
    x0, y0, x1, y1 = crop_box(bbox, margin, mask)
    s = size / (x1 - x0)
    M = np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]], np.float64)
    z = cv2.warpAffine(np.asarray(depth_mm, np.float32), M, (size, size), flags=cv2.INTER_NEAREST,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return normalise_depth01(z, range_mm)


def sample_face_crop(sample: dict, cfg: DepthConfig | None = None, noisy: bool = True) -> np.ndarray:
    """:func:`face_crop` of a sample dict (``depth_noisy`` when present and ``noisy``, else ``depth``)."""
    cfg = cfg or DepthConfig()
    key = "depth_noisy" if noisy and "depth_noisy" in sample else "depth"
    return face_crop(sample[key], sample["bbox"], cfg.crop_size, cfg.crop_margin, cfg.range_mm,
                     mask=sample.get("mask"))
