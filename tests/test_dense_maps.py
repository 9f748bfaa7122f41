"""The dense family's maps: targets rasterised from rectangles, and post-processing that gets
the rectangles back."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.dense.grasp_maps import MAP_NAMES, GraspMaps, rasterize_grasps
from vlm_grasp_ros.core.dense.postprocess import PostprocessConfig, find_peaks, maps_to_grasps
from vlm_grasp_ros.core.grasp import Grasp, angle_difference

SHAPE = (240, 320)
WIDTH_SCALE = 150.0
KNOWN = [  # centres on pixels and half pixels, angles all round, ranked by the qualities below
    Grasp(cx=80.0, cy=60.0, theta=math.radians(30.0), width=60.0, height=30.0),
    Grasp(cx=220.5, cy=70.0, theta=math.radians(-75.0), width=48.0, height=24.0),
    Grasp(cx=160.0, cy=180.5, theta=math.radians(89.0), width=72.0, height=36.0),
]
QUALITIES = [0.95, 0.8, 0.6]


def known_maps() -> GraspMaps:
    maps = rasterize_grasps(KNOWN, SHAPE, WIDTH_SCALE)
    for grasp, quality in zip(KNOWN, QUALITIES):
        region = rasterize_grasps([grasp], SHAPE, WIDTH_SCALE).quality > 0
        maps.quality[region] = quality
    return maps


def test_targets_mark_the_centre_third_with_angle_width_and_mask() -> None:
    grasp = KNOWN[0]
    maps = rasterize_grasps([grasp], SHAPE, WIDTH_SCALE)
    row, col = int(grasp.cy), int(grasp.cx)
    assert maps.quality[row, col] == 1.0
    assert (maps.cos2[row, col], maps.sin2[row, col]) == pytest.approx(
        (math.cos(math.radians(60)), math.sin(math.radians(60))), abs=1e-6
    )
    assert maps.width[row, col] == pytest.approx(60.0 / WIDTH_SCALE)
    (ox, oy) = grasp.opening_axis
    near_jaw = (int(round(grasp.cy + oy * 25)), int(round(grasp.cx + ox * 25)))  # 25 px of a 30 px half-opening
    assert maps.quality[near_jaw] == 0.0 and maps.mask[near_jaw] == 1.0  # outside the third, inside the rectangle
    assert maps.quality.sum() == pytest.approx(60.0 / 3 * 30.0, rel=0.1)  # area of the centre third
    assert maps.mask[0, 0] == 0.0 and maps.stacked().shape == (len(MAP_NAMES), *SHAPE)


def test_post_processing_recovers_known_grasps_in_rank_order() -> None:
    found = maps_to_grasps(known_maps(), PostprocessConfig(min_distance_px=10), WIDTH_SCALE)
    assert len(found) == len(KNOWN)
    for got, want, quality in zip(found, KNOWN, QUALITIES):
        assert (got.cx, got.cy) == pytest.approx((want.cx, want.cy), abs=0.5)
        assert angle_difference(got.theta, want.theta) == pytest.approx(0.0, abs=1e-5)
        assert got.width == pytest.approx(want.width, rel=1e-5)
        assert got.height == pytest.approx(want.height, rel=1e-5)  # the jaw = opening / 2 rule
        assert got.score == pytest.approx(quality, abs=0.05)
        assert got.is_hit([want])


def test_off_object_peaks_are_suppressed_and_max_grasps_applies() -> None:
    maps = known_maps()
    maps.mask[:, :] = 1.0
    maps.mask[40:80, 60:100] = 0.0  # the best grasp's centre is not on an object
    found = maps_to_grasps(maps, PostprocessConfig(min_distance_px=10), WIDTH_SCALE, max_grasps=1)
    assert len(found) == 1 and found[0].cx == pytest.approx(KNOWN[1].cx, abs=0.5)
    assert len(maps_to_grasps(maps, PostprocessConfig(min_distance_px=10, use_mask=False), WIDTH_SCALE)) == 3


def test_scores_weighted_by_the_mask_rerank_and_drop_doubtful_peaks() -> None:
    maps = known_maps()
    maps.mask[:, :] = 1.0
    maps.mask[40:80, 60:100] = 0.6  # the best peak where the model half-doubts an object: 0.95 x 0.6
    maps.mask[170:190, 150:170] = 0.55  # the third: 0.6 x 0.55 = 0.33, under min_quality 0.35
    config = PostprocessConfig(min_distance_px=10, score_with_mask=True, min_quality=0.35)
    found = maps_to_grasps(maps, config, WIDTH_SCALE)
    assert [g.cx for g in found] == pytest.approx([220.5, 80.0], abs=0.5)  # 0.8 x 1.0 now ranks first
    assert [g.score for g in found] == pytest.approx([0.8, 0.57], abs=0.05)
    assert len(maps_to_grasps(maps, config, WIDTH_SCALE, max_grasps=1)) == 1


def test_grasps_far_weaker_than_the_frames_best_published_one_are_cut() -> None:
    maps = known_maps()  # qualities 0.95, 0.8, 0.6
    config = PostprocessConfig(min_distance_px=10, min_relative_quality=0.7)  # floor 0.665
    assert [g.cx for g in maps_to_grasps(maps, config, WIDTH_SCALE)] == pytest.approx([80.0, 220.5], abs=0.5)
    # Relative to the best grasp published, not the best peak: with the best off the objects
    # (mask 0), the floor is 0.7 x 0.8 = 0.56 and the third (0.6) stays.
    maps.mask[40:80, 60:100] = 0.0
    assert [g.cx for g in maps_to_grasps(maps, config, WIDTH_SCALE)] == pytest.approx([220.5, 160.0], abs=0.5)
    with pytest.raises(ValueError, match=r"min_relative_quality must be in \[0, 1\], got 1.5"):
        PostprocessConfig(min_relative_quality=1.5)


def test_a_frame_with_no_sure_grasp_falls_back_to_its_best_on_the_looser_mask() -> None:
    maps = known_maps()  # qualities 0.95, 0.8, 0.6; the mask 1 inside each rectangle
    for grasp, sureness in zip(KNOWN, (0.6, 0.85, 0.7)):
        maps.mask[rasterize_grasps([grasp], SHAPE, WIDTH_SCALE).mask > 0] = sureness
    strict = PostprocessConfig(min_distance_px=10, mask_threshold=0.9)
    assert maps_to_grasps(maps, strict, WIDTH_SCALE) == []
    # One grasp, the best-scoring peak that clears 0.65: the second (0.8); the first's mask is 0.6.
    fallback = PostprocessConfig(min_distance_px=10, mask_threshold=0.9, fallback_mask_threshold=0.65)
    found = maps_to_grasps(maps, fallback, WIDTH_SCALE)
    assert [(g.cx, g.cy) for g in found] == [pytest.approx((220.5, 70.0), abs=0.5)]
    assert found[0].score == pytest.approx(0.8, abs=0.05) and found[0].is_hit([KNOWN[1]])
    assert maps_to_grasps(maps, fallback, WIDTH_SCALE, max_grasps=0) == []
    # A frame with one sure grasp publishes the sure ones only, never the looser ones beside them.
    maps.mask[rasterize_grasps([KNOWN[2]], SHAPE, WIDTH_SCALE).mask > 0] = 0.95
    assert [g.cx for g in maps_to_grasps(maps, fallback, WIDTH_SCALE)] == [pytest.approx(160.0, abs=0.5)]
    with pytest.raises(ValueError, match=r"fallback_mask_threshold must be in \[0, 1\], got -0.5"):
        PostprocessConfig(fallback_mask_threshold=-0.5)


def test_nearby_peaks_keep_only_the_stronger() -> None:
    quality = np.zeros((50, 50), np.float32)
    quality[20, 20], quality[20, 26], quality[40, 40] = 0.9, 0.7, 0.5
    peaks = find_peaks(quality, min_distance=10, min_value=0.2)
    assert [(r, c) for r, c, _ in peaks] == [(20, 20), (40, 40)]
    assert find_peaks(quality, min_distance=3, min_value=0.6) == [
        (20, 20, pytest.approx(0.9)),
        (20, 26, pytest.approx(0.7)),
    ]


def test_inconsistent_maps_are_refused() -> None:
    with pytest.raises(ValueError, match="share one"):
        GraspMaps(*(np.zeros((4, 4), np.float32) for _ in range(4)), np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"expected \(5, H, W\) maps"):
        GraspMaps.from_stacked(np.zeros((4, 8, 8), np.float32))
    with pytest.raises(ValueError, match="object mask shape"):
        rasterize_grasps(KNOWN, SHAPE, WIDTH_SCALE, object_mask=np.ones((10, 10)))


def test_the_jaw_size_rule_is_the_models_own() -> None:
    found = maps_to_grasps(known_maps(), PostprocessConfig(min_distance_px=10, jaw_ratio=0.3), WIDTH_SCALE)
    assert [g.height for g in found] == pytest.approx([0.3 * want.width for want in KNOWN], rel=1e-5)
    with pytest.raises(ValueError, match="jaw_ratio"):
        PostprocessConfig(jaw_ratio=0.0)


def test_mirrored_maps_hold_the_mirrored_grasps() -> None:
    """Rasterising mirrored grasps gives the mirrored maps: columns reversed, angles negated."""
    mirrored_grasps = [
        Grasp(SHAPE[1] - 1 - g.cx, g.cy, -g.theta, g.width, g.height, g.score) for g in KNOWN
    ]  # pixel centres: column c goes to W - 1 - c
    expected = rasterize_grasps(mirrored_grasps, SHAPE, WIDTH_SCALE)
    got = rasterize_grasps(KNOWN, SHAPE, WIDTH_SCALE).mirrored()
    for name in MAP_NAMES:
        differing = np.abs(getattr(got, name) - getattr(expected, name)) > 1e-5
        assert differing.mean() < 0.002, name  # polygon rasterisation may differ on edge pixels
    found = maps_to_grasps(known_maps().mirrored(), PostprocessConfig(min_distance_px=10), WIDTH_SCALE)
    assert [g.is_hit([want]) for g, want in zip(found, mirrored_grasps)] == [True] * len(KNOWN)
    mirrored = known_maps().mirrored()
    assert all(getattr(mirrored, name).flags.c_contiguous for name in MAP_NAMES)  # OpenCV needs contiguous maps


def test_averaged_maps_are_the_mean_of_both() -> None:
    first, second = known_maps(), rasterize_grasps(KNOWN[:1], SHAPE, WIDTH_SCALE)
    mean = first.averaged_with(second)
    for name in MAP_NAMES:
        np.testing.assert_allclose(getattr(mean, name), (getattr(first, name) + getattr(second, name)) / 2)
