"""Render one deterministic top-down tabletop scene: image, object labels, depth, grasps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.synthetic.shapes import Shape


@dataclass(frozen=True)
class SceneConfig:
    width: int = 640
    height: int = 480
    min_objects: int = 1
    max_objects: int = 5
    #: Largest gripper opening in pixels; grasps that need more are not labelled.
    max_opening_px: float = 160.0
    #: Free space kept between objects so that a jaw fits between them (px).
    clearance_px: int = 14
    #: Camera height above the table (m) and the range of object heights (m), for depth.
    table_depth_m: tuple[float, float] = (0.55, 0.8)
    object_height_m: tuple[float, float] = (0.02, 0.12)


_KINDS = ("box", "box", "capsule", "disc", "ellipse")


def _random_shape(rng: np.random.Generator, config: SceneConfig) -> Shape:
    kind = str(rng.choice(_KINDS))
    scale = min(config.width, config.height) / 480.0
    if kind == "disc":  # coins and lids up to cups and bowls seen from above
        diameter = rng.uniform(30, 145) * scale
        length = breadth = diameter
    elif kind == "capsule":
        length, breadth = rng.uniform(90, 220) * scale, rng.uniform(14, 30) * scale
    elif kind == "ellipse":
        length = rng.uniform(60, 150) * scale
        breadth = length * rng.uniform(0.4, 0.8)
    else:
        length = rng.uniform(40, 170) * scale
        breadth = min(length * rng.uniform(0.25, 0.9), rng.uniform(20, 110) * scale)
    margin = length / 2 + 4
    cx = rng.uniform(margin, config.width - margin) if config.width > 2 * margin else config.width / 2
    cy = rng.uniform(margin, config.height - margin) if config.height > 2 * margin else config.height / 2
    return Shape(
        kind, float(cx), float(cy), float(rng.uniform(-math.pi / 2, math.pi / 2)), float(length), float(breadth)
    )


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1]: random values on a coarse grid, upsampled bicubically."""
    coarse = rng.random((max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    return np.clip(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


def _random_colour(rng: np.random.Generator, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(40, 256), int(255 * rng.uniform(low, high))]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = _random_colour(rng, 0.25, 0.95)
    style = rng.integers(0, 6)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if style == 0:  # plain with soft blotches
        pattern = 0.85 + 0.3 * _smooth_noise(rng, height, width, 60)[..., None]
        image = base * pattern
    elif style == 1:  # wood grain: stretched stripes bent by noise
        angle = rng.uniform(0, math.pi)
        coordinate = xx * math.cos(angle) + yy * math.sin(angle) + 40 * _smooth_noise(rng, height, width, 80)
        grain = 0.5 + 0.5 * np.sin(coordinate / rng.uniform(3, 12))
        image = base * (0.8 + 0.25 * grain[..., None])
    elif style == 2:  # tiles or a checkerboard mat
        tile = rng.integers(30, 120)
        other = _random_colour(rng, 0.2, 0.9)
        checks = ((xx // tile + yy // tile) % 2)[..., None]
        image = base * (1 - checks) + other * checks
        image = image * (1 - 0.5 * (((xx % tile) < 2) | ((yy % tile) < 2)))[..., None]  # grout lines
    elif style == 3:  # speckled granite
        image = base * (0.7 + 0.5 * rng.random((height, width, 1)).astype(np.float32))
        image = cv2.GaussianBlur(image, (3, 3), 0)
    elif style == 4:  # woven cloth: fine crossing threads
        period = rng.uniform(2.5, 6)
        weave = 0.5 + 0.25 * (np.sin(xx / period) + np.sin(yy / period))
        image = (
            base * (0.75 + 0.35 * weave[..., None]) * (0.85 + 0.3 * _smooth_noise(rng, height, width, 90)[..., None])
        )
    else:  # a cluttered surface: large soft patches of other colours (mats, paper, stains)
        image = np.broadcast_to(base, (height, width, 3)).copy()
        for _ in range(int(rng.integers(2, 6))):
            patch = _smooth_noise(rng, height, width, int(rng.integers(60, 160))) > rng.uniform(0.55, 0.75)
            image[patch] = image[patch] * 0.3 + 0.7 * _random_colour(rng, 0.2, 0.95)
        image = cv2.GaussianBlur(image, (0, 0), 2)
    return image.astype(np.float32)


def _object_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    base = _random_colour(rng, 0.2, 1.0)
    style = rng.integers(0, 6)
    if style == 0:
        return np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if style == 1:  # printed stripes
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, math.pi)
        stripes = (np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / rng.uniform(2, 8)) > 0)[..., None]
        return np.where(stripes, base, _random_colour(rng, 0.2, 1.0)).astype(np.float32)
    if style == 2:  # label patch in another colour
        texture = np.broadcast_to(base, (height, width, 3)).copy()
        y0, x0 = int(rng.integers(0, max(1, height // 2))), int(rng.integers(0, max(1, width // 2)))
        texture[y0 : y0 + height // 3, x0 : x0 + width // 3] = _random_colour(rng)
        return texture.astype(np.float32)
    if style == 3:
        return (base * (0.75 + 0.4 * _smooth_noise(rng, height, width, 12)[..., None])).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = np.hypot((xx - width / 2) / max(width / 2, 1), (yy - height / 2) / max(height / 2, 1))
    if style == 4:  # a rim around an inner surface: a cup, bowl or tin seen from above
        inner = _random_colour(rng, 0.05, 0.9)
        rim = rng.uniform(0.6, 0.85)
        return np.where((radius < rim)[..., None], inner, base).astype(np.float32)
    # glossy: a specular highlight somewhere on the object
    cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
    glare = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (rng.uniform(0.05, 0.2) * max(height, width)) ** 2)))
    return (base * (1 - glare[..., None]) + glare[..., None]).astype(np.float32)


def render_scene(seed: int, index: int, config: SceneConfig = SceneConfig()) -> GraspSample:
    """Render scene ``index`` of the set made with ``seed``; the same pair gives the same scene."""
    rng = np.random.default_rng([seed, index])
    h, w = config.height, config.width
    image = _background(rng, h, w)
    labels = np.zeros((h, w), np.int32)
    occupied = np.zeros((h, w), np.uint8)
    depth = np.full((h, w), rng.uniform(*config.table_depth_m), np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * config.clearance_px + 1,) * 2)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])  # direction the light comes from
    grasps = []
    target = int(rng.integers(config.min_objects, config.max_objects + 1))
    placed = 0
    for _attempt in range(target * 15):
        if placed == target:
            break
        shape = _random_shape(rng, config)
        coverage = shape.draw_mask(h, w)
        solid = coverage > 0.5
        shape_grasps = shape.grasps(config.max_opening_px)
        if not solid.any() or not shape_grasps or (occupied[solid] > 0).any():
            continue
        placed += 1
        occupied |= cv2.dilate(solid.astype(np.uint8), kernel).astype(bool)
        labels[solid] = placed
        depth[solid] -= rng.uniform(*config.object_height_m)
        # A soft shadow away from the light, then the object with a shading gradient.
        offset = -light * rng.uniform(2, 8)
        shadow = cv2.warpAffine(coverage, np.array([[1, 0, offset[0]], [0, 1, offset[1]]], np.float32), (w, h))
        shadow = cv2.GaussianBlur(shadow, (0, 0), 3)
        image *= (1 - 0.45 * shadow)[..., None]
        ys, xs = np.nonzero(coverage > 0)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        texture = _object_texture(rng, y1 - y0, x1 - x0)
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        gradient = ((xx - shape.cx) * light[0] + (yy - shape.cy) * light[1]) / max(shape.length, 1.0)
        rim = cv2.erode(coverage[y0:y1, x0:x1], np.ones((3, 3), np.uint8))  # darker outline at the edge
        shaded = texture * (1.0 + 0.35 * gradient)[..., None] * (0.75 + 0.25 * rim)[..., None]
        alpha = coverage[y0:y1, x0:x1, None]
        image[y0:y1, x0:x1] = image[y0:y1, x0:x1] * (1 - alpha) + shaded * alpha
        grasps.extend(shape_grasps)
    # Global lighting falloff, sensor noise and a little blur, as a real camera gives.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1 - rng.uniform(0.0, 0.35) * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2) * 2
    image = image * vignette[..., None] * rng.uniform(0.75, 1.2)
    image = image + rng.normal(0, rng.uniform(0.005, 0.03), image.shape).astype(np.float32)
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.0))
    rgb = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return GraspSample(image=rgb, grasps=grasps, name=f"{index:05d}_s{seed}_RGB.png", mask=labels, depth=depth)
