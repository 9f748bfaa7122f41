"""The grasp type's geometry against hand-computed cases and round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlm_grasp_ros.core.grasp import Grasp, angle_difference, normalize_angle, sort_by_score

finite = st.floats(min_value=-2000, max_value=2000, allow_nan=False)
angles = st.floats(min_value=-10 * math.pi, max_value=10 * math.pi, allow_nan=False)
sizes = st.floats(min_value=0.5, max_value=500, allow_nan=False)


def test_corners_of_an_axis_aligned_grasp_follow_cornell_order() -> None:
    grasp = Grasp(cx=10, cy=20, theta=0.0, width=8, height=4)
    # First edge along the opening axis (x), second across it.
    np.testing.assert_allclose(grasp.corners(), [[6, 18], [14, 18], [14, 22], [6, 22]], atol=1e-12)


def test_positive_theta_turns_toward_the_top_of_the_image() -> None:
    grasp = Grasp(cx=0, cy=0, theta=math.radians(45), width=2, height=1)
    assert grasp.opening_axis[0] > 0 and grasp.opening_axis[1] < 0  # right and up (y points down)
    from_edge = Grasp.from_corners([[0, 0], [1, -1], [1.5, -0.5], [0.5, 0.5]])
    assert from_edge.theta_deg == pytest.approx(45.0)
    assert from_edge.width == pytest.approx(math.sqrt(2))
    assert from_edge.height == pytest.approx(math.sqrt(0.5))


@pytest.mark.parametrize(
    ("theta_deg", "expected_deg"),
    [(90.0, -90.0), (-90.0, -90.0), (180.0, 0.0), (135.0, -45.0), (-135.0, 45.0), (89.9, 89.9)],
)
def test_angles_are_normalised_to_minus_90_plus_90(theta_deg: float, expected_deg: float) -> None:
    assert Grasp(0, 0, math.radians(theta_deg), 1, 1).theta_deg == pytest.approx(expected_deg)


@given(angles)
def test_normalize_angle_range(theta: float) -> None:
    wrapped = normalize_angle(theta)
    assert -math.pi / 2 <= wrapped < math.pi / 2
    assert angle_difference(wrapped, theta) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("a_deg", "b_deg", "expected_deg"),
    [(89.0, -89.0, 2.0), (0.0, 90.0, 90.0), (10.0, 40.0, 30.0), (-80.0, 80.0, 20.0), (45.0, 225.0, 0.0)],
)
def test_angle_difference_wraps_modulo_180(a_deg: float, b_deg: float, expected_deg: float) -> None:
    diff = angle_difference(math.radians(a_deg), math.radians(b_deg))
    assert math.degrees(diff) == pytest.approx(expected_deg)


@given(finite, finite, angles, sizes, sizes)
def test_corners_round_trip(cx: float, cy: float, theta: float, width: float, height: float) -> None:
    grasp = Grasp(cx, cy, theta, width, height, score=0.5)
    back = Grasp.from_corners(grasp.corners(), score=0.5)
    assert back.cx == pytest.approx(cx, abs=1e-6)
    assert back.cy == pytest.approx(cy, abs=1e-6)
    assert back.width == pytest.approx(width, rel=1e-9, abs=1e-6)
    assert back.height == pytest.approx(height, rel=1e-9, abs=1e-6)
    assert angle_difference(back.theta, grasp.theta) == pytest.approx(0.0, abs=1e-9)


def test_iou_hand_computed_cases() -> None:
    square = Grasp(0, 0, 0.0, 2, 2)
    assert square.iou(square) == pytest.approx(1.0)
    assert square.iou(Grasp(1, 0, 0.0, 2, 2)) == pytest.approx(2 / 6)  # half overlap: 2 / (4 + 4 - 2)
    assert square.iou(Grasp(0, 0, math.radians(90), 2, 2)) == pytest.approx(1.0)
    assert square.iou(Grasp(5, 5, 0.0, 2, 2)) == 0.0
    bar = Grasp(0, 0, 0.0, 4, 2)
    cross = Grasp(0, 0, math.radians(90), 4, 2)
    assert bar.iou(cross) == pytest.approx(4 / 12)  # a 2x2 overlap of two 8-area bars
    # A 45-degree square inside an axis-aligned one: the diamond has half its area.
    diamond = Grasp(0, 0, math.radians(45), math.sqrt(2), math.sqrt(2))
    assert square.iou(diamond) == pytest.approx(2 / 4)


def test_rectangle_metric_hit_test() -> None:
    gt = Grasp(100, 100, 0.0, 40, 20)
    assert Grasp(100, 100, math.radians(29), 40, 20).is_hit([gt])
    assert not Grasp(100, 100, math.radians(31), 40, 20).is_hit([gt])
    assert not Grasp(130, 100, 0.0, 40, 20).is_hit([gt])  # IoU (10*20)/(1600-200) ~ 0.14
    far_label = Grasp(300, 300, 0.0, 40, 20)
    assert Grasp(100, 100, 0.0, 40, 20).is_hit([far_label, gt])  # any label counts
    assert not Grasp(100, 100, 0.0, 40, 20).is_hit([])
    # Across the +-90 degree wrap: 88 and -88 degrees differ by 4 degrees.
    steep = Grasp(100, 100, math.radians(88), 40, 20)
    assert Grasp(100, 100, math.radians(-88), 40, 20).is_hit([steep])


@pytest.mark.parametrize(
    "kwargs",
    [dict(cx=float("nan")), dict(width=-1.0), dict(height=-0.1), dict(theta=float("inf")), dict(score=float("nan"))],
)
def test_invalid_grasps_are_rejected(kwargs: dict[str, float]) -> None:
    values = dict(cx=1.0, cy=1.0, theta=0.0, width=1.0, height=1.0) | kwargs
    with pytest.raises(ValueError):
        Grasp(**values)


def test_from_corners_rejects_malformed_input() -> None:
    with pytest.raises(ValueError, match="4"):
        Grasp.from_corners([[0, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError, match="finite"):
        Grasp.from_corners([[0, 0], [1, 0], [1, float("nan")], [0, 1]])


def test_sort_by_score_is_best_first() -> None:
    grasps = [Grasp(0, 0, 0, 1, 1, score=s) for s in (0.2, 0.9, 0.5)]
    assert [g.score for g in sort_by_score(grasps)] == [0.9, 0.5, 0.2]


def test_json_form_round_trip_and_missing_key() -> None:
    from vlm_grasp_ros.core.grasp_json import grasp_from_json, grasp_to_json

    grasp = Grasp(cx=12.25, cy=7.5, theta=math.radians(-33.0), width=20.0, height=10.0, score=0.625)
    data = grasp_to_json(grasp)
    assert data["theta_deg"] == pytest.approx(-33.0)
    back = grasp_from_json(data)
    assert (back.cx, back.cy, back.width, back.height, back.score) == (12.25, 7.5, 20.0, 10.0, 0.625)
    assert angle_difference(back.theta, grasp.theta) < 1e-6
    with pytest.raises(ValueError, match="lacks the key 'width'"):
        grasp_from_json({"cx": 1, "cy": 2, "theta_deg": 0, "height": 3})
