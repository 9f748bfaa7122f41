"""The seed design's augmentations, each keeping image and labels aligned.

* :func:`rotate_sample`: turn the image (and mask, depth) about its centre by up to +-15
  degrees; grasp centres move with the pixels, angles turn by the same amount, and grasps
  whose centre leaves the image are dropped.
* :func:`flip_sample`: mirror left-right; centres mirror and angles change sign.
* :func:`crop_sample`: keep a window of the image (a zoom once resized); grasps whose centre
  leaves the window are dropped.
* :func:`jitter_colour`: brightness, contrast, saturation and hue; geometry untouched.
* :func:`jitter_bins`: quantized label noise, each field moved by one bin with 20%
  probability (kept in range).
* :func:`choose_masked_field`: with 10% probability, one of the five output fields whose
  tokens a training step leaves out of the loss.
"""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspValues

MAX_ROTATION_DEG = 15.0


def rotate_sample(sample: GraspSample, angle_deg: float) -> GraspSample:
    """Rotate anti-clockwise as displayed by ``angle_deg`` (the grasp angle convention)."""
    h, w = sample.height, sample.width
    # OpenCV's positive angle is anti-clockwise as displayed, like ours.
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    image = cv2.warpAffine(sample.image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    def nearest(values: np.ndarray) -> np.ndarray:  # labels and depth: no blending across edges
        return cv2.warpAffine(
            values, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )

    mask = None if sample.mask is None else nearest(sample.mask.astype(np.float32)).astype(np.int32)
    depth = None if sample.depth is None else nearest(sample.depth)
    turn = math.radians(angle_deg)
    grasps = []
    for grasp in sample.grasps:
        cx, cy = matrix @ np.array([grasp.cx, grasp.cy, 1.0])
        if 0 <= cx < w and 0 <= cy < h:
            grasps.append(replace(grasp, cx=float(cx), cy=float(cy), theta=grasp.theta + turn))
    return replace(sample, image=image, grasps=grasps, mask=mask, depth=depth)


def random_rotation(sample: GraspSample, rng: np.random.Generator, max_deg: float = MAX_ROTATION_DEG) -> GraspSample:
    return rotate_sample(sample, float(rng.uniform(-max_deg, max_deg)))


def flip_sample(sample: GraspSample) -> GraspSample:
    w = sample.width
    grasps = [replace(g, cx=float(w - g.cx), theta=-g.theta) for g in sample.grasps]
    return replace(
        sample,
        image=np.ascontiguousarray(sample.image[:, ::-1]),
        grasps=grasps,
        mask=None if sample.mask is None else np.ascontiguousarray(sample.mask[:, ::-1]),
        depth=None if sample.depth is None else np.ascontiguousarray(sample.depth[:, ::-1]),
    )


def crop_sample(sample: GraspSample, top: int, left: int, height: int, width: int) -> GraspSample:
    """The window [top, top + height) x [left, left + width), clipped to the image."""
    top, left = max(0, top), max(0, left)
    bottom, right = min(sample.height, top + height), min(sample.width, left + width)
    if bottom <= top or right <= left:
        raise ValueError(
            f"crop window ({top}, {left}, {height}, {width}) is outside the {sample.height}x{sample.width} image"
        )
    grasps = [
        replace(g, cx=g.cx - left, cy=g.cy - top)
        for g in sample.grasps
        if left <= g.cx < right and top <= g.cy < bottom
    ]
    window = (slice(top, bottom), slice(left, right))
    return replace(
        sample,
        image=np.ascontiguousarray(sample.image[window]),
        grasps=grasps,
        mask=None if sample.mask is None else sample.mask[window],
        depth=None if sample.depth is None else sample.depth[window],
    )


def random_crop(sample: GraspSample, rng: np.random.Generator, min_fraction: float) -> GraspSample:
    """A window of ``min_fraction``..1 of each side, same aspect ratio, anywhere in the image."""
    fraction = float(rng.uniform(min_fraction, 1.0))
    height, width = max(1, round(sample.height * fraction)), max(1, round(sample.width * fraction))
    top = int(rng.integers(0, sample.height - height + 1))
    left = int(rng.integers(0, sample.width - width + 1))
    return crop_sample(sample, top, left, height, width)


def jitter_colour(image: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """Random brightness, contrast, saturation (each +-strength) and hue (+-strength*18 degrees)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-strength, strength) * 18) % 180  # OpenCV hue is 0..180
    hsv[..., 1] *= 1 + rng.uniform(-strength, strength)
    rgb = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = rgb.mean()
    rgb = (rgb - mean) * (1 + rng.uniform(-strength, strength)) + mean * (1 + rng.uniform(-strength, strength))
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def jitter_bins(
    values: GraspValues,
    rng: np.random.Generator,
    probability: float = 0.2,
    quantizer: GraspQuantizer = GraspQuantizer(),
) -> GraspValues:
    """Move each field by +-1 bin with ``probability``; the angle wraps, the rest are clipped."""
    noisy = []
    for (name, (low, high)), value in zip(quantizer.ranges.items(), values):
        if rng.random() < probability:
            value += int(rng.choice((-1, 1)))
            value = value % (high + 1) if name == "theta" else min(max(value, low), high)
        noisy.append(value)
    return GraspValues(*noisy)


def choose_masked_field(rng: np.random.Generator, probability: float = 0.1) -> int | None:
    """Index (0..4) of the field to leave out of the loss, or None (most of the time)."""
    return int(rng.integers(5)) if rng.random() < probability else None
