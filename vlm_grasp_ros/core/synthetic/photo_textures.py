"""Real photographs as unlabelled texture (rugs, posters, magazines, printed paper), read from
the files scikit-image ships in its wheel (no download, no import of skimage itself).

Only photographs that are surfaces or pictures of no graspable thing are used. The photos the
project shows its models on (coffee, astronaut, rocket, chelsea, motorcycle, coins, camera)
are never textures, so looking at them stays a look at unseen images.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import cv2
import numpy as np

TEXTURE_PHOTOS = (
    "brick.png",
    "grass.png",
    "gravel.png",
    "page.png",
    "text.png",
    "moon.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
)
#: Kept out of every generated scene: the photos the README's overlay grid shows.
SHOWCASE_PHOTOS = (
    "coffee.png", "astronaut.png", "rocket.jpg", "chelsea.png", "motorcycle_left.png", "coins.png", "camera.png"
)  # fmt: skip


def photo_folder() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "robot-view scenes use the photographs in scikit-image's wheel as background texture; "
            "install it (requirements/dev.txt pins scikit-image==0.26.0)"
        )
    return Path(spec.origin).parent / "data"


@functools.cache
def texture_photo(name: str) -> np.ndarray:
    """One texture photograph as float32 RGB in [0, 1] (grey ones repeated into 3 channels)."""
    path = photo_folder() / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError(f"cannot read the texture photograph {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def photo_patch(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random crop of a random texture photograph, resized to (height, width), float32 RGB."""
    photo = texture_photo(str(rng.choice(TEXTURE_PHOTOS)))
    rows, cols = photo.shape[:2]
    crop_h = int(rng.integers(max(8, rows // 4), rows + 1))
    crop_w = int(rng.integers(max(8, cols // 4), cols + 1))
    y0, x0 = int(rng.integers(0, rows - crop_h + 1)), int(rng.integers(0, cols - crop_w + 1))
    patch = photo[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return cv2.resize(np.ascontiguousarray(patch), (max(1, width), max(1, height)), interpolation=cv2.INTER_AREA)
