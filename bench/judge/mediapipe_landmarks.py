"""Run MediaPipe FaceMesh on a list of images; write their 468 3-D landmarks (the pitch judge's eyes).

    JUDGE_VENV/bin/python bench/judge/mediapipe_landmarks.py LIST.txt OUT.npz

LIST.txt: one image path per line. OUT.npz: ``landmarks`` (N, 468, 3) float32 in pixels
(x right, y down, z away from the camera, z on the x scale), NaN where no face was found;
``found`` (N,) bool. Runs in its own virtual environment (mediapipe 0.10.21 bundles the model but
needs numpy < 2), made by bench/pitch_judge.py; it imports nothing of this project.
"""
import sys

import cv2
import mediapipe as mp
import numpy as np


def main() -> int:
    paths = [p.strip() for p in open(sys.argv[1]) if p.strip()]
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                                           min_detection_confidence=0.3)
    out = np.full((len(paths), 468, 3), np.nan, np.float32)
    for i, path in enumerate(paths):
        img = cv2.imread(path)
        if img is None:
            continue
        h, w = img.shape[:2]
        res = mesh.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if res.multi_face_landmarks:
            pts = res.multi_face_landmarks[0].landmark
            out[i] = [(p.x * w, p.y * h, p.z * w) for p in pts]
    np.savez_compressed(sys.argv[2], landmarks=out, found=~np.isnan(out[:, 0, 0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
