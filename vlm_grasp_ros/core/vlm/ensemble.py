"""Test-time ensembling: H slightly different views of one image, their answers mapped back to the
image and merged in continuous space.

View 0 is the whole image; the others are crops that leave out ``shift`` of the width and height
at different corners, so each shifts the scene by a few percent against the model's grid. A
merged grasp averages centre, opening and jaw size, and takes the circular mean of the doubled
angle (a grasp at 179 deg and one at 1 deg average to 0 deg, not 90).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp, sort_by_score

# Where the crop window sits, in units of the shift, view by view after the whole image: the
# centre, the corners, the edge midpoints; then points of a Halton sequence, which never repeat.
_OFFSETS = ((0.5, 0.5), (0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0), (0.5, 0.0), (0.5, 1.0), (0.0, 0.5), (1.0, 0.5))


def _radical_inverse(index: int, base: int) -> float:
    """The ``index``-th point of van der Corput's sequence in ``base`` (Halton's coordinates)."""
    result, fraction = 0.0, 1.0 / base
    while index:
        index, digit = divmod(index, base)
        result += digit * fraction
        fraction /= base
    return result


def view_offset(index: int) -> tuple[float, float]:
    """The crop window's position (0..1 along each free axis) of view ``index`` >= 1."""
    if index <= len(_OFFSETS):
        return _OFFSETS[index - 1]
    halton = index - len(_OFFSETS)
    return _radical_inverse(halton, 2), _radical_inverse(halton, 3)


@dataclass(frozen=True)
class View:
    """A crop of the image: ``image[top:top + height, left:left + width]``."""

    left: int
    top: int
    width: int
    height: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.top + self.height, self.left : self.left + self.width]

    def to_image(self, grasp: Grasp) -> Grasp:
        """A grasp found in this view, in the whole image's pixels."""
        return Grasp(grasp.cx + self.left, grasp.cy + self.top, grasp.theta, grasp.width, grasp.height, grasp.score)


def make_views(width: int, height: int, count: int, shift: float = 0.06) -> list[View]:
    """``count`` views: the whole image, then crops missing ``shift`` of each side's length."""
    if count < 1:
        raise ValueError(f"an ensemble needs at least one view, got {count}")
    if not 0.0 <= shift < 0.5:
        raise ValueError(f"view shift must be in [0, 0.5), got {shift}")
    views = [View(0, 0, width, height)]
    crop_width, crop_height = max(1, round(width * (1 - shift))), max(1, round(height * (1 - shift)))
    for index in range(1, count):
        fx, fy = view_offset(index)
        views.append(
            View(round(fx * (width - crop_width)), round(fy * (height - crop_height)), crop_width, crop_height)
        )
    return views


def mean_grasp(grasps: Sequence[Grasp], score: float | None = None) -> Grasp:
    """The continuous average of grasps, with the circular mean of the angle modulo 180 deg."""
    if not grasps:
        raise ValueError("cannot average zero grasps")
    doubled = np.array([2.0 * g.theta for g in grasps])
    theta = 0.5 * math.atan2(float(np.sin(doubled).mean()), float(np.cos(doubled).mean()))
    return Grasp(
        cx=float(np.mean([g.cx for g in grasps])),
        cy=float(np.mean([g.cy for g in grasps])),
        theta=theta,
        width=float(np.mean([g.width for g in grasps])),
        height=float(np.mean([g.height for g in grasps])),
        score=float(np.mean([g.score for g in grasps])) if score is None else score,
    )


def same_grasp(a: Grasp, b: Grasp) -> bool:
    """Whether two answers name one grasp: the rectangle metric's own test (IoU > 0.25, angle < 30 deg)."""
    return a.is_hit([b])


def merge_answers(per_view: Sequence[Sequence[Grasp]], max_grasps: int) -> list[Grasp]:
    """Cluster the views' grasps (already in image pixels) and average each cluster.

    Candidates are taken best first; each joins the first cluster whose seed it matches
    (:func:`same_grasp`) or seeds a new one. A cluster's score is the views' vote: the mean over
    all views of each view's best score in it (0 for a view that did not propose it), so a grasp
    every view agrees on outranks a confident one-off.
    """
    view_count = len(per_view)
    if view_count == 0:
        return []
    candidates = sorted(
        ((grasp, view) for view, grasps in enumerate(per_view) for grasp in grasps), key=lambda item: -item[0].score
    )
    clusters: list[list[tuple[Grasp, int]]] = []
    for grasp, view in candidates:
        for cluster in clusters:
            if same_grasp(cluster[0][0], grasp):
                cluster.append((grasp, view))
                break
        else:
            clusters.append([(grasp, view)])
    merged = []
    for cluster in clusters:
        best_per_view: dict[int, float] = {}
        for grasp, view in cluster:
            best_per_view[view] = max(best_per_view.get(view, 0.0), grasp.score)
        vote = sum(best_per_view.values()) / view_count
        merged.append(mean_grasp([grasp for grasp, _view in cluster], score=vote))
    return sort_by_score(merged)[:max_grasps]
