"""``train demo``: pose axes drawn on an image or every frame of a video (one face box for all frames)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from train.data.images import read_rgb
from train.predict import Predictor, draw_pose

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
#: what an annotated image can be written as (OpenCV's encoders)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def check_output(source: Path, out: Path) -> None:
    """ValueError naming ``out`` and the fix unless it is a file path of a type the demo writes for ``source``
    (checked before any work)."""
    video = source.suffix.lower() in VIDEO_SUFFIXES
    wanted = VIDEO_SUFFIXES if video else IMAGE_SUFFIXES
    example = out / f"{source.stem}-pose{wanted[0]}"
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; fix: give a file path, e.g. {example}")
    if out.suffix.lower() not in wanted:
        raise ValueError(f"--out {out}: {'a video' if video else 'an image'} is written as one of {', '.join(wanted)}; "
                         f"fix: give e.g. {out.with_suffix(wanted[0])}")


def run_demo(run: str | Path, source: str | Path, out: str | Path, box=None, device: str = "cpu") -> Path:
    """Annotate ``source`` (image or video) with the run's estimates and write ``out``."""
    source, out = Path(source), Path(out)
    if not source.is_file():
        raise FileNotFoundError(f"demo input {source} does not exist")
    check_output(source, out)
    predictor = Predictor(run, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    if source.suffix.lower() not in VIDEO_SUFFIXES:
        image = read_rgb(source)
        drawn = draw_pose(image, predictor.predict(image, box))
        if not cv2.imwrite(str(out), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {out} (OpenCV's encoder failed); fix: check the folder is writable")
        return out
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise ValueError(f"cannot open video {source} (OpenCV could not decode it)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    writer = None
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            drawn = draw_pose(rgb, predictor.predict(rgb, box))
            if writer is None:
                h, w = drawn.shape[:2]
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise OSError(f"cannot write the video {out} (OpenCV's writer did not open); fix: check the "
                                  "folder is writable")
            writer.write(cv2.cvtColor(np.ascontiguousarray(drawn), cv2.COLOR_RGB2BGR))
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if writer is None:
        raise ValueError(f"video {source} has no readable frames")
    return out
