"""The five-integer quantizer: round trips within half a bin, strict parsing, clear errors."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm_grasp_ros.core.grasp import Grasp, angle_difference
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspTextError, GraspValues

QUANTIZER = GraspQuantizer()


@st.composite
def image_and_grasp(draw: st.DrawFn, max_side: int) -> tuple[int, int, Grasp]:
    width = draw(st.integers(min_value=16, max_value=max_side))
    height = draw(st.integers(min_value=16, max_value=max_side))
    side = max(width, height)
    grasp = Grasp(
        cx=draw(st.floats(min_value=0, max_value=width)),
        cy=draw(st.floats(min_value=0, max_value=height)),
        theta=draw(st.floats(min_value=-math.pi / 2, max_value=math.pi / 2, exclude_max=True)),
        width=draw(st.floats(min_value=0, max_value=side)),
        height=draw(st.floats(min_value=0, max_value=side)),
    )
    return width, height, grasp


def _round_trip_errors(width: int, height: int, grasp: Grasp) -> tuple[float, float]:
    back = QUANTIZER.decode(QUANTIZER.encode(grasp, width, height), width, height)
    px = max(
        abs(back.cx - grasp.cx), abs(back.cy - grasp.cy), abs(back.width - grasp.width), abs(back.height - grasp.height)
    )
    return px, math.degrees(angle_difference(back.theta, grasp.theta))


@settings(max_examples=500)
@given(image_and_grasp(max_side=2000))
def test_round_trip_within_one_pixel_and_one_degree(case: tuple[int, int, Grasp]) -> None:
    px_error, deg_error = _round_trip_errors(*case)
    assert px_error <= 1.0 + 1e-9
    assert deg_error <= 0.5 + 1e-9  # half a 1-degree bin, modulo 180


@given(image_and_grasp(max_side=8000))
def test_round_trip_within_half_a_bin_for_any_size(case: tuple[int, int, Grasp]) -> None:
    width, height, _ = case
    px_error, _ = _round_trip_errors(*case)
    assert px_error <= QUANTIZER.max_error_px(width, height) + 1e-9


def test_angle_just_below_90_wraps_to_the_first_bin() -> None:
    values = QUANTIZER.encode(Grasp(10, 10, math.radians(89.8), 5, 5), 100, 100)
    assert values.theta == 0  # 89.8 degrees is 0.2 degrees from -90
    assert QUANTIZER.encode(Grasp(10, 10, math.radians(-90.0), 5, 5), 100, 100).theta == 0
    assert QUANTIZER.encode(Grasp(10, 10, math.radians(89.4), 5, 5), 100, 100).theta == 179


def test_width_and_height_share_the_longer_side() -> None:
    # A 40x20 px grasp in a 400x200 image: both sizes are scaled by 400.
    values = QUANTIZER.encode(Grasp(200, 100, 0.0, 40, 20), 400, 200)
    assert (values.w, values.h) == (100, 50)


@given(st.tuples(*(st.integers(lo, hi) for lo, hi in QUANTIZER.ranges.values())))
def test_text_round_trip(values: tuple[int, ...]) -> None:
    assert QUANTIZER.parse_text(QUANTIZER.to_text(values)) == GraspValues(*values)


@pytest.mark.parametrize("field_index", range(5))
@pytest.mark.parametrize("offset", [-1, +1])
def test_out_of_range_integers_are_rejected_naming_the_field(field_index: int, offset: int) -> None:
    name, (low, high) = list(QUANTIZER.ranges.items())[field_index]
    values = [500, 500, 90, 100, 100]
    values[field_index] = low - 1 if offset < 0 else high + 1
    with pytest.raises(GraspTextError, match=f"{name}={values[field_index]} is outside its range {low}..{high}"):
        QUANTIZER.decode(values, 640, 480)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1 2 3 4", "4 integers instead of 5"),
        ("1 2 3 4 5 6", "6 integers instead of 5"),
        ("1  2 3 4 5", "separators"),
        ("1\t2 3 4 5", "separators"),
        ("1,2,3,4,5", "non-integer token"),
        ("a 2 3 4 5", "non-integer token 'a'"),
        ("-1 2 3 4 5", "non-integer token '-1'"),
        ("1.5 2 3 4 5", "non-integer token"),
        ("\u00b9 2 3 4 5", "non-integer token"),  # a superscript digit is not an ASCII digit
        ("", "0 integers"),
    ],
)
def test_malformed_text_is_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(GraspTextError, match=reason):
        QUANTIZER.parse_text(text)


def test_parse_rejects_in_format_but_out_of_range_values() -> None:
    with pytest.raises(GraspTextError, match="theta=180"):
        QUANTIZER.parse_text("500 500 180 100 100")


def test_parse_ignores_surrounding_whitespace_only() -> None:
    assert QUANTIZER.parse_text(" 1 2 3 4 5\n") == GraspValues(1, 2, 3, 4, 5)


def test_encode_rejects_a_grasp_outside_the_image_unless_clipped() -> None:
    outside = Grasp(700, 100, 0.0, 10, 10)
    with pytest.raises(ValueError, match="cx quantizes to 1094"):
        QUANTIZER.encode(outside, 640, 480)
    assert QUANTIZER.encode(outside, 640, 480, clip=True).cx == 1000


def test_non_positive_image_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="image size"):
        QUANTIZER.decode([1, 2, 3, 4, 5], 0, 480)


def test_booleans_are_not_integers() -> None:
    with pytest.raises(GraspTextError, match="must be an integer"):
        QUANTIZER.validate([True, 2, 3, 4, 5])
