"""The seed design's classical baselines: one grasp per object from its mask.

* ``pca``: the grasp closes across the object's principal axis at its centroid; the
  opening is the object's extent along the minor axis.
* ``min_area_rect``: OpenCV's minimum-area rectangle of the object's outer contour; the
  grasp closes across its shorter side at its centre.
* ``random``: a random angle and opening at a random pixel of the object (seeded).

Objects come from the given label mask, or from :func:`segment_foreground`. Grasps are
ranked by object area (largest first), the score being the area relative to the largest.
Sizes follow :class:`BaselineOptions` (by default the synthetic labels' rule: opening = extent
x 1.15 + 6 px, jaw = opening / 2).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.predictors.base import GraspPredictor, GraspQuery
from vlm_grasp_ros.core.predictors.baseline_options import BaselineOptions, RandomBaselineOptions
from vlm_grasp_ros.core.predictors.segmentation import segment_foreground


class MaskBaseline(GraspPredictor):
    """Shared loop: objects from the mask, one grasp each, ranked by area."""

    def __init__(self, options: BaselineOptions | None = None) -> None:
        self.options = options or BaselineOptions()

    def _predict(self, image: np.ndarray, query: GraspQuery) -> list[Grasp]:
        labels = segment_foreground(image) if query.mask is None else np.asarray(query.mask)
        object_ids, areas = np.unique(labels[labels > 0], return_counts=True)
        grasps = []
        for object_id, area in zip(object_ids, areas):
            ys, xs = np.nonzero(labels == object_id)
            grasp = self.grasp_for_object(np.stack([xs, ys], axis=1).astype(np.float64))
            if grasp is not None:
                grasps.append(grasp.with_score(float(area / areas.max())))
        grasps.sort(key=lambda g: g.score, reverse=True)
        return grasps[: query.max_grasps]

    def grasp_for_object(self, points: np.ndarray) -> Grasp | None:
        raise NotImplementedError

    def _grasp_across(self, center: np.ndarray, theta: float, extent: float) -> Grasp:
        opening = extent * self.options.opening_factor + self.options.opening_margin_px
        return Grasp(float(center[0]), float(center[1]), theta, opening, self.options.jaw_ratio * opening)


class PcaBaseline(MaskBaseline):
    name = "pca"

    def grasp_for_object(self, points: np.ndarray) -> Grasp | None:
        if len(points) < 3:
            return None
        centroid = points.mean(axis=0)
        _, eigenvectors = np.linalg.eigh(np.cov((points - centroid).T))
        minor = eigenvectors[:, 0]  # eigh sorts ascending: the first has the smallest variance
        projection = (points - centroid) @ minor
        extent = float(projection.max() - projection.min() + 1.0)  # +1: pixel centres to edges
        return self._grasp_across(centroid, math.atan2(-minor[1], minor[0]), extent)


class MinAreaRectBaseline(MaskBaseline):
    name = "min_area_rect"

    def grasp_for_object(self, points: np.ndarray) -> Grasp | None:
        if len(points) < 3:
            return None
        (cx, cy), (w, h), _ = rect = cv2.minAreaRect(points.astype(np.float32))
        box = cv2.boxPoints(rect)  # corners in order; edge 0->1 and 1->2 are the two sides
        edges = [box[1] - box[0], box[2] - box[1]]
        short = min(edges, key=lambda e: float(np.hypot(*e)))
        # Pixel centres span one pixel less than the object's edges.
        extent = float(np.hypot(*short)) + 1.0
        return self._grasp_across(np.array([cx, cy]), math.atan2(-short[1], short[0]), extent)


class RandomBaseline(MaskBaseline):
    name = "random"

    def __init__(self, options: RandomBaselineOptions | None = None) -> None:
        super().__init__(options or RandomBaselineOptions())
        self._rng = np.random.default_rng(getattr(self.options, "seed", 0))

    def grasp_for_object(self, points: np.ndarray) -> Grasp | None:
        if len(points) == 0:
            return None
        center = points[self._rng.integers(len(points))]
        return self._grasp_across(center, self._rng.uniform(-math.pi / 2, math.pi / 2), self._rng.uniform(10, 100))
