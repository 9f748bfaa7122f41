"""The seed design's grasp <-> five integers quantizer (``cx cy theta w h``).

Each grasp becomes five integers that a language model can emit as text:

=========  ===========  ==========================================================
field      range        meaning
=========  ===========  ==========================================================
``cx``     0..1000      centre x divided by the image width, times 1000
``cy``     0..1000      centre y divided by the image height, times 1000
``theta``  0..179       angle in whole degrees, shifted from [-90, 90) to [0, 180)
``w``      0..1000      jaw opening divided by the image's *longer side*, times 1000
``h``      0..1000      jaw size divided by the image's *longer side*, times 1000
=========  ===========  ==========================================================

Width and height share one scale (the longer side) so that a rectangle's shape does not
change with its angle, as it would if w were scaled by the width and h by the height.
Rounding loses at most half a bin: ``side / 2000`` pixels (<= 1 px for images up to 2000 px)
and 0.5 degrees.

Worked example, a 640x480 image::

    >>> from vlm_grasp_ros.core.grasp import Grasp
    >>> import math
    >>> q = GraspQuantizer()
    >>> grasp = Grasp(cx=320.0, cy=120.0, theta=math.radians(30.0), width=64.0, height=32.0)
    >>> values = q.encode(grasp, image_width=640, image_height=480)
    >>> values
    GraspValues(cx=500, cy=250, theta=120, w=100, h=50)
    >>> q.to_text(values)
    '500 250 120 100 50'
    >>> back = q.decode(q.parse_text("500 250 120 100 50"), image_width=640, image_height=480)
    >>> round(back.cx, 3), round(back.cy, 3), round(back.theta_deg, 3), back.width, back.height
    (320.0, 120.0, 30.0, 64.0, 32.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from vlm_grasp_ros.core.grasp import Grasp


class GraspValues(NamedTuple):
    """The five quantized integers, in the order the model emits them."""

    cx: int
    cy: int
    theta: int
    w: int
    h: int


class GraspTextError(ValueError):
    """Text that is not exactly five in-range integers separated by single spaces."""


_INTEGER = re.compile(r"[0-9]+")
_TEXT_PATTERN = re.compile(r"[0-9]+( [0-9]+){4}")


def _round_half_up(value: float) -> int:
    # Python's round() rounds halves to even, which would make the bins uneven.
    return math.floor(value + 0.5)


@dataclass(frozen=True)
class GraspQuantizer:
    """Encode grasps as :class:`GraspValues` and back; see the module docstring."""

    position_max: int = 1000
    size_max: int = 1000
    angle_bins: int = 180

    @property
    def ranges(self) -> dict[str, tuple[int, int]]:
        """Inclusive (low, high) range of each field."""
        return {
            "cx": (0, self.position_max),
            "cy": (0, self.position_max),
            "theta": (0, self.angle_bins - 1),
            "w": (0, self.size_max),
            "h": (0, self.size_max),
        }

    def max_error_px(self, image_width: int, image_height: int) -> float:
        """The largest round-trip error in pixels of any field (half a bin)."""
        side = max(image_width, image_height)
        return max(side / self.size_max, image_width / self.position_max, image_height / self.position_max) / 2

    def encode(self, grasp: Grasp, image_width: int, image_height: int, clip: bool = False) -> GraspValues:
        """Quantize a grasp. Raises ``ValueError`` if it lies outside the image, unless ``clip``."""
        _check_image_size(image_width, image_height)
        side = max(image_width, image_height)
        raw = {
            "cx": grasp.cx / image_width * self.position_max,
            "cy": grasp.cy / image_height * self.position_max,
            "w": grasp.width / side * self.size_max,
            "h": grasp.height / side * self.size_max,
        }
        values: dict[str, int] = {}
        for name, value in raw.items():
            low, high = self.ranges[name]
            quantized = _round_half_up(value)
            if not low <= quantized <= high:
                if not clip:
                    raise ValueError(
                        f"grasp {name} quantizes to {quantized}, outside {low}..{high} for a "
                        f"{image_width}x{image_height} image: {grasp}"
                    )
                quantized = min(max(quantized, low), high)
            values[name] = quantized
        degrees_per_bin = 180.0 / self.angle_bins
        values["theta"] = _round_half_up((grasp.theta_deg + 90.0) / degrees_per_bin) % self.angle_bins
        return GraspValues(values["cx"], values["cy"], values["theta"], values["w"], values["h"])

    def validate(self, values: Sequence[int]) -> GraspValues:
        """Check five integers against their ranges; raise ``GraspTextError`` naming the field."""
        if len(values) != 5:
            raise GraspTextError(f"a grasp needs 5 integers (cx cy theta w h), got {len(values)}: {list(values)}")
        checked = []
        for (name, (low, high)), value in zip(self.ranges.items(), values):
            if isinstance(value, bool) or not isinstance(value, int):
                raise GraspTextError(f"grasp field {name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise GraspTextError(f"grasp field {name}={value} is outside its range {low}..{high}")
            checked.append(value)
        return GraspValues(*checked)

    def decode(self, values: Sequence[int], image_width: int, image_height: int, score: float = 1.0) -> Grasp:
        """Turn five in-range integers back into a grasp in pixels."""
        _check_image_size(image_width, image_height)
        v = self.validate(values)
        side = max(image_width, image_height)
        degrees_per_bin = 180.0 / self.angle_bins
        return Grasp(
            cx=v.cx / self.position_max * image_width,
            cy=v.cy / self.position_max * image_height,
            theta=math.radians(v.theta * degrees_per_bin - 90.0),
            width=v.w / self.size_max * side,
            height=v.h / self.size_max * side,
            score=score,
        )

    def to_text(self, values: Sequence[int]) -> str:
        """The model's answer: five integers separated by single spaces."""
        return " ".join(str(v) for v in self.validate(values))

    def parse_text(self, text: str) -> GraspValues:
        """Parse a model answer strictly; surrounding whitespace is ignored, nothing else is."""
        stripped = text.strip()
        if not _TEXT_PATTERN.fullmatch(stripped):
            tokens = stripped.split()
            bad = [t for t in tokens if not _INTEGER.fullmatch(t)]
            if bad:
                reason = f"non-integer token {bad[0]!r}"
            elif len(tokens) != 5:
                reason = f"{len(tokens)} integers instead of 5"
            else:
                reason = "separators other than single spaces"
            raise GraspTextError(f"cannot parse grasp text {text!r}: {reason}; expected 'cx cy theta w h'")
        return self.validate([int(t) for t in stripped.split(" ")])


def _check_image_size(image_width: int, image_height: int) -> None:
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive, got {image_width}x{image_height}")
