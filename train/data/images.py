"""Image file decoding shared by the readers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DatasetError


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; DatasetError naming the file when missing or corrupt."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError as exc:
        raise DatasetError(f"image {path} is missing", path) from exc
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for corrupt files
        raise DatasetError(f"cannot decode image {path}: {exc}", path) from exc
