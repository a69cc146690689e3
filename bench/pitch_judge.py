"""Where pitch zero is, judged from outside: an independent face model reads our renders' pose.

    .venv/bin/python bench/pitch_judge.py [--aflw ../shared/realdata/aflw2000-dev] [--work runs/pitch-judge] [--n 400]

1. **The judge**: MediaPipe FaceMesh (``mediapipe==0.10.21``; its wheel bundles the model and needs
   numpy < 2, so it lives in its own virtual environment, ``WORK/judge-venv``, made on first use with
   pip from the user's package index; never in the project's environment) gives 468 3-D landmarks
   per image (``bench/judge/mediapipe_landmarks.py``).
2. **Calibrated on real faces**: the AFLW2000-3D faces with all |angle| <= 30 deg are split in two
   halves by file name. The judge's canonical face is the mean of its landmark clouds of half A,
   each turned back into the head frame by its own label. A face's pose is the rotation (Kabsch,
   weak perspective) taking the canonical face onto its cloud. Half B prints the judge's own error
   on real faces: its mean signed error is ~0 by construction, its spread is the judge's noise.
3. **Renders**: ``--n`` clean ``faces`` renders (people, photo camera, photo-like backgrounds; no blur,
   noise, occluders, distractors or camera colour effects)
   with |pitch| <= 25, |yaw| <= 20, |roll| <= 10 deg are judged the same way. Their mean signed
   error (judge - label) is where our pitch zero sits relative to AFLW2000-3D's as this judge sees
   it; also printed per pitch band (the gap may grow for faces looking up).

Everything goes to ``WORK/pitch_judge.json``. The head frame's tilt (``synth/heads/head_frame.py``)
is right when the renders' mean pitch error is within a degree or two of 0.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

JUDGE_PIN = ("mediapipe==0.10.21", "numpy<2")


def judge_python(work: Path) -> Path:
    """The judge venv's python, made (pip install JUDGE_PIN) when missing."""
    venv = work / "judge-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *JUDGE_PIN], check=True)
    return py


def run_judge(py: Path, paths: list[str], out: Path) -> np.ndarray:
    """(N, 468, 3) judge landmarks of ``paths`` (NaN where no face was found), cached in ``out``."""
    if not out.exists():
        lst = out.with_suffix(".txt")
        lst.write_text("\n".join(paths) + "\n")
        subprocess.run([str(py), str(REPO / "bench" / "judge" / "mediapipe_landmarks.py"), str(lst), str(out)],
                       check=True, stderr=subprocess.DEVNULL)
    with np.load(out) as z:
        return z["landmarks"]


def centred(cloud: np.ndarray) -> np.ndarray:
    c = cloud - cloud.mean(axis=0)
    return c / np.sqrt((c ** 2).sum(axis=1).mean())


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Proper rotation R minimising |R src_i - dst_i|^2 (both centred and normalised)."""
    U, _, Vt = np.linalg.svd(src.T @ dst)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


def judged_euler(canonical: np.ndarray, clouds: np.ndarray) -> np.ndarray:
    from synth.pose import euler_from_rotation

    out = np.full((len(clouds), 3), np.nan)
    for i, c in enumerate(clouds):
        if np.isfinite(c).all():
            out[i] = euler_from_rotation(kabsch(canonical, centred(c)))
    return out


def render_set(work: Path, n: int) -> tuple[list[str], np.ndarray]:
    """Clean faces renders as PNGs; (paths, (n, 3) label Euler angles)."""
    import cv2

    from synth.config import load_config
    from synth.pipeline import SampleMaker

    folder = work / "renders"
    folder.mkdir(parents=True, exist_ok=True)
    labels_file = folder / "labels.npy"
    paths = [str(folder / f"{i:05d}.png") for i in range(n)]
    if labels_file.exists() and all(Path(p).exists() for p in paths):
        return paths, np.load(labels_file)
    cfg = load_config(REPO / "pipeline.yaml", preset="faces", overrides=[
        "heads.pool_size=60", "pose.mode=preset", "pose.pitch=[-25,25]", "pose.yaw=[-20,20]", "pose.roll=[-10,10]",
        "heads.outfit.hat_share=0", "heads.outfit.glasses_share=0", "effects.blur.gaussian_probability=0",
        "effects.blur.motion_probability=0", "effects.occlusion.probability=0", "effects.noise.probability=0",
        "effects.compression.jpeg_probability=0", "effects.distractors.probability=0",
        "effects.white_balance.probability=0", "effects.exposure.probability=0", "effects.vignetting.probability=0",
        "effects.noise.chroma_probability=0"])
    maker = SampleMaker(cfg)
    labels = []
    for i in range(n):
        s = maker.make(i)
        cv2.imwrite(paths[i], cv2.cvtColor(s["rgb"], cv2.COLOR_RGB2BGR))
        labels.append(s["euler"])
    maker.close()
    np.save(labels_file, np.array(labels))
    return paths, np.array(labels)


def summary(err: np.ndarray) -> dict:
    ok = np.isfinite(err).all(axis=1)
    e = err[ok]
    return {"n": int(ok.sum()), "mean": e.mean(axis=0).round(2).tolist(), "sd": e.std(axis=0).round(2).tolist(),
            "mae": np.abs(e).mean(axis=0).round(2).tolist()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"))
    ap.add_argument("--work", default="runs/pitch-judge")
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    from synth.pose import rotation_from_euler
    from train.data.aflw import read_pose_mat

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    mats = sorted(Path(args.aflw).glob("image*.mat"))
    if not mats:
        print(f"pitch_judge: no AFLW2000-3D .mat files in {args.aflw}; pass --aflw DIR", file=sys.stderr)
        return 2
    real_eu = np.array([read_pose_mat(m)["euler"] for m in mats])
    keep = np.all(np.abs(real_eu) <= 30, axis=1)
    real_paths = [str(m.with_suffix(".jpg")) for m, k in zip(mats, keep) if k]
    real_eu = real_eu[keep]
    py = judge_python(work)
    real = run_judge(py, real_paths, work / "real.npz")
    half_a = np.arange(len(real)) % 2 == 0
    clouds = [centred(c) @ rotation_from_euler(*e) for c, e in zip(real[half_a], real_eu[half_a])
              if np.isfinite(c).all()]
    canonical = centred(np.mean(clouds, axis=0))
    real_err = judged_euler(canonical, real) - real_eu
    paths, syn_eu = render_set(work, args.n)
    syn = run_judge(py, paths, work / "renders.npz")
    syn_err = judged_euler(canonical, syn) - syn_eu
    bands, real_bands = {}, {}
    for lo, hi in ((-25, -10), (-10, 10), (10, 25)):
        sel = (syn_eu[:, 0] >= lo) & (syn_eu[:, 0] < hi)
        bands[f"pitch {lo}..{hi}"] = summary(syn_err[sel])
        sel = (real_eu[:, 0] >= lo) & (real_eu[:, 0] < hi) & ~half_a
        real_bands[f"pitch {lo}..{hi}"] = summary(real_err[sel])
    result = {"judge": "MediaPipe FaceMesh 0.10.21, Kabsch to a canonical face calibrated on AFLW2000-3D half A",
              "real_half_a": summary(real_err[half_a]), "real_half_b": summary(real_err[~half_a]),
              "real_half_b_by_pitch": real_bands, "renders": summary(syn_err), "renders_by_pitch": bands}
    (work / "pitch_judge.json").write_text(json.dumps(result, indent=2))
    print(f"{'':32s} {'n':>5s}   mean error (judge - label): pitch   yaw  roll   |  sd")
    for name, r in (("real faces, half A (calibration)", result["real_half_a"]),
                    ("real faces, half B", result["real_half_b"]),
                    *((f"real B, {k}", v) for k, v in real_bands.items()), ("renders", result["renders"]),
                    *((f"renders, {k}", v) for k, v in bands.items())):
        print(f"{name:32s} {r['n']:5d}   {r['mean'][0]:+6.2f} {r['mean'][1]:+6.2f} {r['mean'][2]:+6.2f}   |  "
              f"{r['sd'][0]:.1f} {r['sd'][1]:.1f} {r['sd'][2]:.1f}")
    print(f"wrote {work / 'pitch_judge.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
