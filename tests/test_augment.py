"""Augmentations keep images and labels aligned."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from vlm_grasp_ros.core.augment import choose_masked_field, jitter_bins, jitter_colour, rotate_sample
from vlm_grasp_ros.core.datasets.sample import GraspSample
from vlm_grasp_ros.core.grasp import Grasp, angle_difference
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspValues


def _marked_sample() -> GraspSample:
    """A bar whose label closes across it; the jaws' contact points are painted in distinct colours."""
    image = np.full((240, 320, 3), 255, np.uint8)
    grasp = Grasp(200, 90, math.radians(20), 60, 20)
    ends = [np.array([grasp.cx, grasp.cy]) + s * grasp.opening_axis * grasp.width / 2 for s in (-1, 1)]
    cv2.circle(image, tuple(int(round(v)) for v in ends[0]), 4, (255, 0, 0), -1)
    cv2.circle(image, tuple(int(round(v)) for v in ends[1]), 4, (0, 0, 255), -1)
    mask = np.zeros((240, 320), np.int32)
    cv2.circle(mask, (200, 90), 6, 1, -1)
    return GraspSample(image=image, grasps=[grasp], name="marked", mask=mask, depth=mask.astype(np.float32))


def _colour_centroid(image: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    ys, xs = np.nonzero(np.all(np.abs(image.astype(int) - rgb) < 60, axis=-1))
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("angle_deg", [-15.0, -7.5, 4.0, 15.0])
def test_rotation_moves_labels_with_the_pixels(angle_deg: float) -> None:
    rotated = rotate_sample(_marked_sample(), angle_deg)
    grasp = rotated.grasps[0]
    first, second = _colour_centroid(rotated.image, (255, 0, 0)), _colour_centroid(rotated.image, (0, 0, 255))
    for sign, painted in ((-1, first), (1, second)):
        end = np.array([grasp.cx, grasp.cy]) + sign * grasp.opening_axis * grasp.width / 2
        assert np.linalg.norm(end - painted) < 1.0
    assert rotated.mask[int(round(grasp.cy)), int(round(grasp.cx))] == 1
    assert rotated.depth[int(round(grasp.cy)), int(round(grasp.cx))] == 1
    assert math.degrees(angle_difference(grasp.theta, math.radians(20 + angle_deg))) < 1e-6


def test_rotation_drops_grasps_that_leave_the_image() -> None:
    sample = _marked_sample()
    sample.grasps.append(Grasp(2, 2, 0.0, 10, 5))
    assert len(rotate_sample(sample, 15.0).grasps) == 1


def test_colour_jitter_changes_colours_not_geometry() -> None:
    sample = _marked_sample()
    jittered = jitter_colour(sample.image, np.random.default_rng(0), strength=0.3)
    assert jittered.shape == sample.image.shape and not np.array_equal(jittered, sample.image)
    painted = np.any(sample.image != 255, axis=-1)
    changed_background = np.abs(jittered.astype(int) - jittered[0, 0].astype(int)).sum(-1) > 30
    assert np.array_equal(painted, changed_background)


def test_bin_noise_moves_at_most_one_bin_at_the_given_rate() -> None:
    rng = np.random.default_rng(1)
    quantizer = GraspQuantizer()
    original = GraspValues(500, 0, 179, 1000, 10)
    moved = 0
    for _ in range(2000):
        noisy = jitter_bins(original, rng)
        quantizer.validate(noisy)  # always in range
        for name, a, b in zip(quantizer.ranges, original, noisy):
            step = min(abs(a - b), 180 - abs(a - b)) if name == "theta" else abs(a - b)
            assert step <= 1
            moved += a != b
    # cy=0 and w=1000 sit at the edge: a move outward is clipped, so they move half as often.
    expected = 2000 * (0.2 * 3 + 0.1 * 2)
    assert abs(moved - expected) < 0.1 * expected


def test_masked_field_rate() -> None:
    rng = np.random.default_rng(2)
    picks = [choose_masked_field(rng) for _ in range(5000)]
    chosen = [p for p in picks if p is not None]
    assert abs(len(chosen) / 5000 - 0.1) < 0.02
    assert set(chosen) == {0, 1, 2, 3, 4}
