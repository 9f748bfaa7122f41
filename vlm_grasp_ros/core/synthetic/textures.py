"""Surface and object textures drawn procedurally (value noise, wood grain, tiles, cloth,
rims, glare), shared by the top-down and the robot-view scene generators."""

from __future__ import annotations

import math

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = rng.random((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    return np.clip(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


def random_colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 256), int(255 * rng.uniform(low, high))]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = random_colour(rng, 0.25, 0.95)
    style = rng.integers(0, 6)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if style == 0:  # plain with soft blotches
        pattern = 0.85 + 0.3 * smooth_noise(rng, height, width, 60)[..., None]
        image = base * pattern
    elif style == 1:  # wood grain: stretched stripes bent by noise
        angle = rng.uniform(0, math.pi)
        coordinate = xx * math.cos(angle) + yy * math.sin(angle) + 40 * smooth_noise(rng, height, width, 80)
        grain = 0.5 + 0.5 * np.sin(coordinate / rng.uniform(3, 12))
        image = base * (0.8 + 0.25 * grain[..., None])
    elif style == 2:  # tiles or a checkerboard mat
        tile = rng.integers(30, 120)
        other = random_colour(rng, 0.2, 0.9)
        checks = ((xx // tile + yy // tile) % 2)[..., None]
        image = base * (1 - checks) + other * checks
        image = image * (1 - 0.5 * (((xx % tile) < 2) | ((yy % tile) < 2)))[..., None]  # grout lines
    elif style == 3:  # speckled granite
        image = base * (0.7 + 0.5 * rng.random((height, width, 1)).astype(np.float32))
        image = cv2.GaussianBlur(image, (3, 3), 0)
    elif style == 4:  # woven cloth: fine crossing threads
        period = rng.uniform(2.5, 6)
        weave = 0.5 + 0.25 * (np.sin(xx / period) + np.sin(yy / period))
        image = base * (0.75 + 0.35 * weave[..., None]) * (0.85 + 0.3 * smooth_noise(rng, height, width, 90)[..., None])
    else:  # a cluttered surface: large soft patches of other colours (mats, paper, stains)
        image = np.broadcast_to(base, (height, width, 3)).copy()
        for _ in range(int(rng.integers(2, 6))):
            patch = smooth_noise(rng, height, width, int(rng.integers(60, 160))) > rng.uniform(0.55, 0.75)
            image[patch] = image[patch] * 0.3 + 0.7 * random_colour(rng, 0.2, 0.95)
        image = cv2.GaussianBlur(image, (0, 0), 2)
    return image.astype(np.float32)


def object_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = random_colour(rng, 0.2, 1.0)
    style = rng.integers(0, 6)
    if style == 0:
        return np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if style == 1:  # printed stripes
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, math.pi)
        stripes = (np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(2, 8)) > 0)[..., None]
        return np.where(stripes, base, random_colour(rng, 0.2, 1.0)).astype(np.float32)
    if style == 2:  # label patch in another colour
        texture = np.broadcast_to(base, (height, width, 3)).copy()
        y0, x0 = int(rng.integers(0, max(1, height // 2))), int(rng.integers(0, max(1, width // 2)))
        texture[y0 : y0 + height // 3, x0 : x0 + width // 3] = random_colour(rng)
        return texture.astype(np.float32)
    if style == 3:
        return (base * (0.75 + 0.4 * smooth_noise(rng, height, width, 12)[..., None])).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = np.hypot((xx - width / 2) / max(width / 2, 1), (yy - height / 2) / max(height / 2, 1))
    if style == 4:  # a rim around an inner surface: a cup, bowl or tin seen from above
        inner = random_colour(rng, 0.05, 0.9)
        rim = rng.uniform(0.6, 0.85)
        return np.where((radius < rim)[..., None], inner, base).astype(np.float32)
    # glossy: a specular highlight somewhere on the object
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    glare = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (rng.uniform(0.05, 0.2) * max(height, width)) ** 2)))
    return (base * (1 - glare[..., None]) + glare[..., None]).astype(np.float32)
