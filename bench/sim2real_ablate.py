"""Ablations of the sim-to-real protocol: each ingredient of the `faces` renders and of the training
augmentation switched off in turn, at the protocol's budget (synthetic-only part).

    .venv/bin/python bench/sim2real_ablate.py --work runs/s2r-ablate [--only people,augment]

Each ablation is ``bench/sim2real.py --parts synth`` with the overrides below, in
``WORK/<name>``, at the ablation budget (``--n`` renders, ``--epochs`` x ``--epoch-size``; by
default half the protocol's training, so that the 17 ablations fit in an afternoon on this
machine); ``base`` is the same budget with nothing switched off, and the ablations that change
only the training reuse its renders. Reruns skip what is finished. Prints a table of the
dev-half MAE (last epoch) of every finished ablation in WORK beside the base (earlier calls' too),
and writes them to ``WORK/ablations.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth.config import BACKGROUND_KINDS

#: every backdrop kind but the old noise / solid pair at weight 0 (derived: a new kind cannot stay on)
BACKDROPS_OFF = [f"background.{k}=0" for k in BACKGROUND_KINDS if k not in ("noise", "solid")]

OUTFIT_OFF = ["heads.outfit.body=false", "heads.outfit.hair=false", "heads.outfit.top=false",
              "heads.outfit.glasses_share=0", "heads.outfit.hat_share=0", "heads.outfit.eyelashes=false",
              "heads.outfit.teeth=false", "heads.outfit.gaze_deg=0", "heads.outfit.smile_share=0",
              "heads.outfit.blink_share=0"]
#: name -> (what it switches off, render --set overrides, training --augment overrides)
ABLATIONS: dict[str, tuple[str, list[str], list[str]]] = {
    "base": ("nothing", [], []),
    # issue "People, not mannequins"
    "people": ("hair, body, clothes, accessories, lashes, teeth, gaze, smiles (bald mannequins)", OUTFIT_OFF, []),
    "hair": ("hair and beards", ["heads.outfit.hair=false"], []),
    "clothes": ("upper body and clothes", ["heads.outfit.body=false", "heads.outfit.top=false"], []),
    "accessories": ("glasses and hats", ["heads.outfit.glasses_share=0", "heads.outfit.hat_share=0"], []),
    "eyes_teeth": ("lashes, teeth, gaze, smiles, blinks", ["heads.outfit.eyelashes=false", "heads.outfit.teeth=false",
                   "heads.outfit.gaze_deg=0", "heads.outfit.smile_share=0", "heads.outfit.blink_share=0"], []),
    # issue "Scenes like photos"
    "backgrounds": ("photo-like backgrounds (back to noise 0.7 / solid 0.3, no defocus)",
                    [*BACKDROPS_OFF, "background.noise=0.7", "background.solid=0.3", "background.blur_probability=0"], []),
    "camera": ("the photo camera (back to the Kinect crop)", ["camera.model=sensor", "camera.distance_mm=[800,1300]"], []),
    "light": ("fill light, environment, white key light (back to one key light, half coloured)",
              ["lighting.white_probability=0.5", "lighting.fill_intensity=[0,0]", "lighting.environment=[0,0]",
               "lighting.ambient=[0.2,0.45]"], []),
    "sensor": ("distractors, white balance, exposure, vignetting, colour noise, sharpening",
               ["effects.distractors.probability=0", "effects.white_balance.probability=0",
                "effects.exposure.probability=0", "effects.vignetting.probability=0",
                "effects.noise.chroma_probability=0", "effects.sharpen.probability=0"], []),
    "sharpen": ("the sharpening (unsharp mask)", ["effects.sharpen.probability=0"], []),
    # issue "Sim-to-real on the training side"
    "pose": ("the target pose distribution (back to uniform faces ranges)", ["pose.mode=preset"], []),
    "augment": ("the synthetic augmentation (back to flip + a little blur)", [],
                ["box_scale=[1,1]", "box_shift=0", "border_p=0", "color_p=0", "gray_p=0", "blur_p=0.05",
                 "blur_sigma=[1,1]", "jpeg_p=0", "erase_p=0"]),
    "aug_colour": ("colour jitter", [], ["color_p=0"]),
    "aug_gray": ("grayscale", [], ["gray_p=0"]),
    "aug_framing": ("box jitter and photo borders", [], ["box_scale=[1,1]", "box_shift=0", "border_p=0"]),
    "aug_blur": ("blur", [], ["blur_p=0"]),
    "aug_jpeg": ("JPEG", [], ["jpeg_p=0"]),
    "aug_erase": ("random erasing", [], ["erase_p=0"]),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="runs/s2r-ablate")
    ap.add_argument("--only", default=",".join(ABLATIONS), help="comma list of ablations to run")
    ap.add_argument("--n", type=int, default=20000, help="renders per ablation")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--epoch-size", type=int, default=20000)
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in ABLATIONS]
    if unknown:
        print(f"sim2real_ablate: unknown ablation(s) {', '.join(unknown)}; known: {', '.join(ABLATIONS)}",
              file=sys.stderr)
        return 2
    work = Path(args.work)
    if "base" in names:   # first: the training-only ablations use its renders
        names = ["base"] + [n for n in names if n != "base"]
    for name in names:
        what, sets, augment = ABLATIONS[name]
        out = work / name
        cmd = [sys.executable, str(REPO / "bench" / "sim2real.py"), "--parts", "synth", "--work", str(out),
               "--n", str(args.n), "--epochs", str(args.epochs), "--epoch-size", str(args.epoch_size)]
        if not sets and name != "base":
            cmd += ["--shards", str(work / "base" / "shards")]
        cmd += [a for s in sets for a in ("--set", s)] + [a for s in augment for a in ("--augment", s)]
        print(f"== {name}: without {what}\n   {' '.join(cmd)}", flush=True)
        if not (out / "sim2real.json").exists():
            subprocess.run(cmd, check=True, cwd=REPO)
    # every finished ablation of WORK, not only this call's --only: reruns add rows, never drop them
    rows = {name: (ABLATIONS[name][0], json.loads((work / name / "sim2real.json").read_text())["synth"]["last_all"])
            for name in ABLATIONS if (work / name / "sim2real.json").exists()}
    print(f"\n{'without':14s} {'pitch':>7s} {'yaw':>7s} {'roll':>7s} {'mean':>7s}  {'bias p/y/r':>20s}  what")
    for name, (what, r) in rows.items():
        m, b = r["mae"], r["me"]
        print(f"{name:14s} {m['pitch']:7.2f} {m['yaw']:7.2f} {m['roll']:7.2f} {r['mae_mean']:7.2f}  "
              f"{b['pitch']:+6.2f} {b['yaw']:+6.2f} {b['roll']:+6.2f}  {what}")
    (work / "ablations.json").parent.mkdir(parents=True, exist_ok=True)
    (work / "ablations.json").write_text(json.dumps({k: {"without": w, "result": r} for k, (w, r) in rows.items()},
                                                    indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
