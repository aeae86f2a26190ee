"""Helpers of the browser tests (a module name that no other conftest shadows)."""

from __future__ import annotations

import io


def is_blank(png: bytes, *, threshold: float = 3.0) -> bool:
    """True when a screenshot is (nearly) one flat colour."""
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(image.std()) < threshold
