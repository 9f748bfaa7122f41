"""Object shapes seen from above, and their antipodal grasps computed from the geometry.

Each shape knows its outline (for drawing) and where a parallel-jaw gripper can close on it:
across a box's or a capsule's short side all along its length (and across the long side
where the gripper can open that far), through the centre of a disc at any angle, across an
ellipse's minor axis with the local chord as the width and through its centre at every angle
whose contacts are antipodal (the rule ``silhouette_grasps`` applies to PyBullet's meshes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp

#: Gripper opening = object extent along the opening axis times this, plus the margin (px).
OPENING_FACTOR = 1.15
OPENING_MARGIN_PX = 6.0


def jaw_height(width: float) -> float:
    """The jaw-size rule used for every synthetic label (and by the dense model's output)."""
    return 0.5 * width


def opening_for(extent: float) -> float:
    return extent * OPENING_FACTOR + OPENING_MARGIN_PX


#: Half-angle of the friction cone (degrees): a closing line is antipodal where the outline's
#: normals at both contacts lie within it (friction coefficient ~0.47, wood or plastic on rubber).
#: One rule for both generators: ``silhouette_grasps`` uses it on meshes' silhouettes.
FRICTION_DEG = 25.0
#: Angles between labels taken at several angles through one point (ellipses; silhouettes).
LABEL_ANGLE_STEP_DEG = 15.0


def ellipse_normal_deviation(phi: float, semi_major: float, semi_minor: float) -> float:
    """Angle (radians) between a line through an ellipse's centre, ``phi`` from its major axis,
    and the outline's normal where the line meets it (the normal of x^2/a^2 + y^2/b^2 = 1 at
    (x, y) is along (x/a^2, y/b^2)); the same at both ends, by symmetry."""
    direction = math.atan2(math.sin(phi), math.cos(phi))
    normal = math.atan2(math.sin(phi) / semi_minor**2, math.cos(phi) / semi_major**2)
    return abs(normal - direction)


def ellipse_chord(phi: float, semi_major: float, semi_minor: float) -> float:
    """Length of the chord through an ellipse's centre at ``phi`` from its major axis."""
    return 2.0 / math.sqrt((math.cos(phi) / semi_major) ** 2 + (math.sin(phi) / semi_minor) ** 2)


#: Labels along a straight part are at most one jaw size apart (and at most this many): a grasp
#: anywhere along a uniform part is then within half a jaw of a label, IoU >= 1/3 with it. Five
#: labels on a 15 cm pen left most of it unlabelled, so a good grasp between two labels missed.
MAX_LABELS_ALONG = 48


def positions_along(length: float, jaw: float) -> np.ndarray:
    """Fractions in (0, 1) of a part ``length`` long that put labels at most ``jaw`` apart."""
    count = max(1, min(MAX_LABELS_ALONG, math.ceil(length / max(jaw, 1.0))))
    return np.linspace(0.5 / count, 1 - 0.5 / count, count)


@dataclass(frozen=True)
class Shape:
    """A shape centred at (cx, cy), its long axis at ``angle`` (radians, image convention)."""

    kind: str  # "box", "capsule", "disc", "ellipse"
    cx: float
    cy: float
    angle: float
    length: float  # extent along the long axis (px)
    breadth: float  # extent across it (px)

    def moved(self, dx: float, dy: float) -> Shape:
        return replace(self, cx=self.cx + dx, cy=self.cy + dy)

    def _axes(self) -> tuple[np.ndarray, np.ndarray]:
        along = np.array([math.cos(self.angle), -math.sin(self.angle)])
        across = np.array([math.sin(self.angle), math.cos(self.angle)])
        return along, across

    def draw_mask(self, height: int, width: int, scale: int = 4) -> np.ndarray:
        """Anti-aliased coverage in [0, 1] as float32 (drawn with sub-pixel precision)."""
        canvas = np.zeros((height, width), np.uint8)
        shift = int(math.log2(scale))
        center = np.array([self.cx, self.cy])
        along, across = self._axes()
        if self.kind in ("disc", "ellipse"):
            axes = (int(round(self.length / 2 * scale)), int(round(self.breadth / 2 * scale)))
            cv2.ellipse(
                canvas,
                tuple(int(round(v * scale)) for v in center),
                axes,
                -math.degrees(self.angle),
                0,
                360,
                255,
                -1,
                cv2.LINE_AA,
                shift,
            )
        else:
            half_len = self.length / 2 - (self.breadth / 2 if self.kind == "capsule" else 0.0)
            half_br = self.breadth / 2
            corners = np.stack(
                [
                    center - along * half_len - across * half_br,
                    center + along * half_len - across * half_br,
                    center + along * half_len + across * half_br,
                    center - along * half_len + across * half_br,
                ]
            )
            cv2.fillPoly(canvas, [np.round(corners * scale).astype(np.int32)], 255, cv2.LINE_AA, shift)
            if self.kind == "capsule":
                for end in (center - along * half_len, center + along * half_len):
                    cv2.circle(
                        canvas,
                        tuple(int(round(v * scale)) for v in end),
                        int(round(half_br * scale)),
                        255,
                        -1,
                        cv2.LINE_AA,
                        shift,
                    )
        return canvas.astype(np.float32) / 255.0

    def grasps(self, max_opening: float) -> list[Grasp]:
        along, _ = self._axes()
        center = np.array([self.cx, self.cy])
        across_angle = self.angle + math.pi / 2
        result: list[Grasp] = []

        def add(point: np.ndarray, theta: float, extent: float) -> None:
            opening = opening_for(extent)
            if opening <= max_opening:
                result.append(Grasp(float(point[0]), float(point[1]), theta, opening, jaw_height(opening)))

        if self.kind == "disc":
            for k in range(6):  # a disc can be taken at any angle; label six, as annotators do
                add(center, self.angle + k * math.pi / 6, self.length)
            return result
        jaw = jaw_height(opening_for(self.breadth))
        if self.kind == "ellipse":  # across the minor axis over the middle half, the chord as width
            a = self.length / 2
            for fraction in positions_along(a, jaw):
                t = (fraction - 0.5) * a
                add(center + along * t, across_angle, self.breadth * math.sqrt(1 - (t / a) ** 2))
            add(center, self.angle, self.length)
            # Through the centre between the axes: a near-round ellipse is taken at any angle,
            # as a disc is (at breadth/length 0.8 every angle is within 13 degrees of antipodal).
            b = self.breadth / 2
            steps = round(180 / LABEL_ANGLE_STEP_DEG)
            for k in range(1, steps):
                phi = math.radians(k * LABEL_ANGLE_STEP_DEG)
                if k * LABEL_ANGLE_STEP_DEG != 90 and ellipse_normal_deviation(phi, a, b) <= math.radians(FRICTION_DEG):
                    add(center, self.angle + phi, ellipse_chord(phi, a, b))
            return result
        # box and capsule: across the short side along the straight part, and end to end.
        straight = self.length - (self.breadth if self.kind == "capsule" else 0.0)
        usable = max(straight - jaw, 0.0)
        for fraction in positions_along(usable, jaw) if usable >= jaw else (0.5,):
            add(center + along * (fraction - 0.5) * usable, across_angle, self.breadth)
        if self.kind == "box":
            add(center, self.angle, self.length)
        return result
