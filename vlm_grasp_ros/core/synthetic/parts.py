"""Thin and hollow objects seen from above, built from parts: bars (rails, rungs, frame sides,
handles, cable pieces) and rings (cup and bowl rims), with narrow antipodal labels.

A gripper takes a ladder by one rail, a frame by one side, a mug by its rim wall or its
handle, a cable across its strand: each label here closes across one part, never across
the whole object (the box around a ladder is mostly air). Interiors that are seen (a cup's
inside, a basket's floor) belong to the object's mask but carry no grasp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.shapes import MAX_LABELS_ALONG, jaw_height, opening_for, positions_along

_SUBPIXEL_BITS = 2  # cv2 drawing with 2 fractional bits: quarter-pixel placement
_SCALE = 1 << _SUBPIXEL_BITS


@dataclass(frozen=True)
class Bar:
    """A straight part from (x0, y0) to (x1, y1), ``thickness`` across, graspable across itself
    if ``graspable``."""

    x0: float
    y0: float
    x1: float
    y1: float
    thickness: float
    graspable: bool = True

    @property
    def length(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


@dataclass(frozen=True)
class Ring:
    """A circular wall of ``radius`` (to its middle) and ``thickness``; ``filled`` draws its
    inside as part of the object (a cup seen from above) with no grasp there."""

    cx: float
    cy: float
    radius: float
    thickness: float
    filled: bool = True


@dataclass(frozen=True)
class PartsShape:
    """An object made of bars and rings; ``cx``, ``cy``, ``length`` and ``breadth`` describe
    its extent as :class:`Shape` does, for shading and placement."""

    kind: str
    cx: float
    cy: float
    angle: float
    length: float
    breadth: float
    bars: tuple[Bar, ...] = ()
    rings: tuple[Ring, ...] = ()
    #: Closed polygons filled as part of the object without grasps (a basket's floor).
    fills: tuple[tuple[tuple[float, float], ...], ...] = field(default=())
    #: Also graspable around the whole body through the first ring's centre (a mug's body):
    #: then the rim's narrow labels are the object's narrowest, not its only ones.
    whole_body: bool = False

    def moved(self, dx: float, dy: float) -> PartsShape:
        return replace(
            self,
            cx=self.cx + dx,
            cy=self.cy + dy,
            bars=tuple(replace(b, x0=b.x0 + dx, y0=b.y0 + dy, x1=b.x1 + dx, y1=b.y1 + dy) for b in self.bars),
            rings=tuple(replace(r, cx=r.cx + dx, cy=r.cy + dy) for r in self.rings),
            fills=tuple(tuple((x + dx, y + dy) for x, y in polygon) for polygon in self.fills),
        )

    def draw_mask(self, height: int, width: int) -> np.ndarray:
        """Anti-aliased coverage in [0, 1] as float32."""
        canvas = self._canvas_with_fills(height, width)
        for ring in self.rings:
            _disc(canvas, ring, ring.radius + ring.thickness / 2, 255)
            if not ring.filled:
                _disc(canvas, ring, ring.radius - ring.thickness / 2, 0)
        for bar in self.bars:
            # A bar as a filled rotated rectangle: cv2.line's thickness is whole pixels only.
            direction = np.array([bar.x1 - bar.x0, bar.y1 - bar.y0]) / max(bar.length, 1e-6)
            normal = np.array([-direction[1], direction[0]]) * bar.thickness / 2
            start, end = np.array([bar.x0, bar.y0]), np.array([bar.x1, bar.y1])
            corners = np.stack([start - normal, end - normal, end + normal, start + normal])
            cv2.fillPoly(canvas, [np.round(corners * _SCALE).astype(np.int32)], 255, cv2.LINE_AA, _SUBPIXEL_BITS)
        return canvas.astype(np.float32) / 255.0

    def draw_interior(self, height: int, width: int) -> np.ndarray:
        """Coverage in [0, 1] of the open inside seen from above (a basket's floor, a cup's
        inside): drawn lower than the rim, so the image shows it recessed."""
        canvas = self._canvas_with_fills(height, width)
        for ring in self.rings:
            if ring.filled:
                _disc(canvas, ring, ring.radius - ring.thickness / 2, 255)
        return canvas.astype(np.float32) / 255.0

    def _canvas_with_fills(self, height: int, width: int) -> np.ndarray:
        canvas = np.zeros((height, width), np.uint8)
        for polygon in self.fills:
            points = np.round(np.asarray(polygon) * _SCALE).astype(np.int32)
            cv2.fillPoly(canvas, [points], 255, cv2.LINE_AA, _SUBPIXEL_BITS)
        return canvas

    def grasps(self, max_opening: float) -> list[Grasp]:
        result: list[Grasp] = []

        def add(x: float, y: float, theta: float, extent: float) -> None:
            opening = opening_for(extent)
            if opening <= max_opening:
                result.append(Grasp(x, y, theta, opening, jaw_height(opening)))

        for bar in self.bars:
            if not bar.graspable:
                continue
            # Opening axis across the bar; image y points down, grasp angles count up.
            across = math.atan2(-(bar.y1 - bar.y0), bar.x1 - bar.x0) + math.pi / 2
            for t in positions_along(bar.length, jaw_height(opening_for(bar.thickness))):
                add(bar.x0 + t * (bar.x1 - bar.x0), bar.y0 + t * (bar.y1 - bar.y0), across, bar.thickness)
        for ring in self.rings:
            # Across the wall, radially, as one takes a cup by its rim: all round, at most a jaw
            # apart and 30 degrees apart.
            jaw = jaw_height(opening_for(ring.thickness))
            count = min(MAX_LABELS_ALONG, max(12, math.ceil(2 * math.pi * ring.radius / max(jaw, 1.0))))
            for k in range(count):
                phi = 2 * k * math.pi / count
                x, y = ring.cx + ring.radius * math.cos(phi), ring.cy - ring.radius * math.sin(phi)
                add(x, y, phi, ring.thickness)
        if self.whole_body and self.rings:
            body = self.rings[0]
            for k in range(6):  # around the body, clear of the handle's side
                theta = self.angle + math.pi / 2 + (k - 2.5) * math.pi / 9
                add(body.cx, body.cy, theta, 2 * body.radius + body.thickness)
        return result


def _disc(canvas: np.ndarray, ring: Ring, radius: float, value: int) -> None:
    """Fill a disc of ``radius`` round the ring's centre with ``value``, in place (none if radius <= 0)."""
    if radius > 0:
        centre = (int(round(ring.cx * _SCALE)), int(round(ring.cy * _SCALE)))
        cv2.circle(canvas, centre, int(round(radius * _SCALE)), value, -1, cv2.LINE_AA, _SUBPIXEL_BITS)


def _rotate(points: np.ndarray, angle: float, centre: tuple[float, float]) -> np.ndarray:
    """Turn (N, 2) offsets by ``angle`` (anti-clockwise as displayed) and move them to ``centre``."""
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, s], [-s, c]])  # image y points down
    return points @ rotation.T + np.asarray(centre)


def _bars_from(
    segments: list[tuple[float, float, float, float, float, bool]], angle: float, centre: tuple[float, float]
) -> tuple[Bar, ...]:
    bars = []
    for x0, y0, x1, y1, thickness, graspable in segments:
        (a, b), (c, d) = _rotate(np.array([[x0, y0], [x1, y1]], float), angle, centre)
        bars.append(Bar(float(a), float(b), float(c), float(d), thickness, graspable))
    return tuple(bars)


def ladder(centre: tuple[float, float], angle: float, length: float, spacing: float, rail: float) -> PartsShape:
    """Two rails ``spacing`` apart, rungs every ~1/4 of the spacing's length; grasps on the rails."""
    half_l, half_s = length / 2, spacing / 2
    segments = [(-half_l, -half_s, half_l, -half_s, rail, True), (-half_l, half_s, half_l, half_s, rail, True)]
    rungs = max(2, int(length // max(spacing * 0.8, 1.0)))
    for x in np.linspace(-half_l + rail, half_l - rail, rungs):
        segments.append((float(x), -half_s, float(x), half_s, rail * 0.7, False))
    return PartsShape("ladder", *centre, angle, length, spacing + rail, bars=_bars_from(segments, angle, centre))


def frame(centre: tuple[float, float], angle: float, length: float, breadth: float, side: float) -> PartsShape:
    """A picture frame or rack: four sides of width ``side`` around an empty middle."""
    hl, hb = (length - side) / 2, (breadth - side) / 2
    segments = [
        (-hl - side / 2, -hb, hl + side / 2, -hb, side, True),
        (-hl - side / 2, hb, hl + side / 2, hb, side, True),
        (-hl, -hb, -hl, hb, side, True),
        (hl, -hb, hl, hb, side, True),
    ]
    return PartsShape("frame", *centre, angle, length, breadth, bars=_bars_from(segments, angle, centre))


def basket(centre: tuple[float, float], angle: float, length: float, breadth: float, wall: float) -> PartsShape:
    """A tray or basket: walls graspable across, its floor part of the object but not a grasp."""
    shape = frame(centre, angle, length, breadth, wall)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [length / 2 - wall, breadth / 2 - wall]
    inner = _rotate(corners, angle, centre)
    return PartsShape(
        "basket", *centre, angle, length, breadth, bars=shape.bars, fills=(tuple(map(tuple, inner.tolist())),)
    )


def mug(centre: tuple[float, float], angle: float, diameter: float, wall: float, handle: float) -> PartsShape:
    """A cup from above: a rim wall around a seen inside, and a handle sticking out at ``angle``."""
    radius = diameter / 2 - wall / 2
    reach = diameter / 2 + handle * 0.9
    width = handle * 1.1
    segments = [
        (diameter / 2 - wall / 2, -width / 2, reach, -width / 2, wall, False),
        (diameter / 2 - wall / 2, width / 2, reach, width / 2, wall, False),
        (reach, -width / 2 - wall / 2, reach, width / 2 + wall / 2, wall, True),  # the part a hand takes
    ]
    return PartsShape(
        "mug",
        *centre,
        angle,
        diameter + handle,
        diameter,
        bars=_bars_from(segments, angle, centre),
        rings=(Ring(centre[0], centre[1], radius, wall, filled=True),),
        whole_body=True,
    )


def cable(rng: np.random.Generator, centre: tuple[float, float], length: float, thickness: float) -> PartsShape:
    """A bent strand (cable, cord, rope): a smooth random curve of short bars."""
    pieces = 10
    heading = rng.uniform(-math.pi, math.pi)
    turns = np.cumsum(rng.normal(0, 0.35, pieces))
    step = length / pieces
    points = [np.zeros(2)]
    for turn in turns:
        points.append(points[-1] + step * np.array([math.cos(heading + turn), -math.sin(heading + turn)]))
    path = np.array(points)
    path += np.asarray(centre) - (path.min(0) + path.max(0)) / 2
    bars = tuple(
        Bar(float(a[0]), float(a[1]), float(b[0]), float(b[1]), thickness) for a, b in zip(path[:-1], path[1:])
    )
    extent = path.max(0) - path.min(0)
    return PartsShape("cable", *centre, heading, float(max(extent)), float(min(extent)) + thickness, bars=bars)
