"""Five predicted maps -> ranked grasps: smooth, find peaks, suppress neighbours, off-object
peaks and peaks far weaker than the frame's best, read angle and width at each peak; a frame
left with none may publish its single best peak on a looser mask threshold.

Peak finding is a grey dilation (a pixel is a peak if it is the maximum of its
neighbourhood); it is written with OpenCV here because skimage.feature.peak_local_max would
add a dependency for ten lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vlm_grasp_ros.core.dense.grasp_maps import GraspMaps
from vlm_grasp_ros.core.grasp import Grasp


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing rules, in model pixels; saved in each checkpoint's config (``postprocess``)."""

    min_quality: float = 0.2  # peaks below this are not grasps
    min_distance_px: int = 6  # no two grasps' centres closer than this
    smoothing_sigma_px: float = 2.0  # Gaussian blur of the quality map before peak finding (GG-CNN)
    mask_threshold: float = 0.5  # peaks where the mask map is below this are off-object
    use_mask: bool = True
    #: Score = quality x the mask map at the peak (ranked again), instead of the quality alone: a
    #: strong peak where the model doubts there is an object (a pattern on the floor) drops.
    score_with_mask: bool = False
    #: Jaw (finger) size = this x the opening: the maps carry no jaw size, so the rule the training
    #: labels follow is part of the model (the synthetic labels' is 0.5).
    jaw_ratio: float = 0.5
    #: Grasps scoring below this fraction of the frame's best published grasp are not published:
    #: a weak peak beside a strong one is more often off the objects than a weak peak alone.
    min_relative_quality: float = 0.0
    #: A frame with no peak on ``mask_threshold`` publishes its best peak whose mask clears this
    #: looser threshold, alone: a strict mask threshold keeps grasps off the floor, but leaves
    #: frames whose objects the model is less sure of with nothing. 1.0: off (no peak clears it
    #: without clearing ``mask_threshold``).
    fallback_mask_threshold: float = 1.0

    def __post_init__(self) -> None:
        if self.min_distance_px < 1 or self.smoothing_sigma_px < 0 or not 0 < self.jaw_ratio <= 10:
            raise ValueError(
                f"postprocess: min_distance_px must be >= 1, smoothing_sigma_px >= 0 and jaw_ratio in "
                f"(0, 10], got {self.min_distance_px}, {self.smoothing_sigma_px}, {self.jaw_ratio}"
            )
        if not 0.0 <= self.min_relative_quality <= 1.0:
            raise ValueError(f"postprocess: min_relative_quality must be in [0, 1], got {self.min_relative_quality}")
        if not 0.0 <= self.fallback_mask_threshold <= 1.0:
            raise ValueError(
                f"postprocess: fallback_mask_threshold must be in [0, 1], got {self.fallback_mask_threshold}"
            )


PLATEAU_TOLERANCE = 1e-4  # values this close to the neighbourhood maximum count as the maximum


def _smoothed(quality: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(quality, (0, 0), sigma) if sigma > 0 else quality


def find_peaks(quality: np.ndarray, min_distance: int, min_value: float) -> list[tuple[float, float, float]]:
    """(row, col, value) of local maxima >= ``min_value``, best first, no two closer than
    ``min_distance`` (greedy: a weaker peak near a kept one is dropped).

    A flat top (a saturated or rasterised region) is one peak at its centroid, not one per pixel.
    """
    size = 2 * max(1, min_distance) + 1
    dilated = cv2.dilate(quality, np.ones((size, size), np.uint8))
    is_peak = ((quality >= dilated - PLATEAU_TOLERANCE) & (quality >= min_value)).astype(np.uint8)
    count, labels, _, centroids = cv2.connectedComponentsWithStats(is_peak, connectivity=8)
    peak_values = np.zeros(count, np.float64)
    inside = is_peak.astype(bool)
    np.maximum.at(peak_values, labels[inside], quality[inside])  # one pass, however many peaks
    candidates = [
        (float(centroids[label][1]), float(centroids[label][0]), float(peak_values[label])) for label in range(1, count)
    ]
    candidates.sort(key=lambda peak: -peak[2])
    kept: list[tuple[float, float, float]] = []
    for row, col, value in candidates:
        if all((row - r) ** 2 + (col - c) ** 2 >= min_distance**2 for r, c, _ in kept):
            kept.append((row, col, value))
    return kept


def _grasp_at(
    maps: GraspMaps, row: float, col: float, value: float, config: PostprocessConfig, width_scale: float
) -> Grasp:
    """The grasp a peak gives: angle and width read at its pixel, the jaw from the opening."""
    pixel = int(round(row)), int(round(col))
    theta = 0.5 * math.atan2(float(maps.sin2[pixel]), float(maps.cos2[pixel]))
    opening = max(1.0, float(maps.width[pixel]) * width_scale)
    return Grasp(col, row, theta, opening, config.jaw_ratio * opening, score=min(1.0, max(0.0, value)))


def maps_to_grasps(
    maps: GraspMaps, config: PostprocessConfig, width_scale: float, max_grasps: int | None = None
) -> list[Grasp]:
    """Ranked grasps from one image's maps (in that image's pixels), best first.

    Angle: half the angle of (cos2, sin2) at the peak. Width: the width map x ``width_scale``
    (the model's). Height (jaw size), which the maps do not carry: ``config.jaw_ratio`` x the opening.
    """
    quality = _smoothed(maps.quality.astype(np.float32), config.smoothing_sigma_px)
    peaks = find_peaks(quality, config.min_distance_px, config.min_quality)
    grasps: list[Grasp] = []
    fallback: Grasp | None = None  # the best peak on the looser mask threshold, while no grasp is found
    for row, col, value in peaks:
        pixel = int(round(row)), int(round(col))
        mask = float(maps.mask[pixel])
        strict = not config.use_mask or mask >= config.mask_threshold
        if not strict and (grasps or mask < config.fallback_mask_threshold):
            continue
        if config.score_with_mask:
            value *= mask
            if value < config.min_quality:
                continue
        if not strict:
            if fallback is None or value > fallback.score:  # with score_with_mask peaks are out of order
                fallback = _grasp_at(maps, row, col, value, config, width_scale)
            continue
        grasps.append(_grasp_at(maps, row, col, value, config, width_scale))
        if max_grasps is not None and not config.score_with_mask and len(grasps) >= max_grasps:
            break
    if not grasps:
        return [] if fallback is None or max_grasps == 0 else [fallback]
    if config.score_with_mask:
        grasps.sort(key=lambda g: -g.score)
    if grasps and config.min_relative_quality > 0:  # ranked best first: the cut keeps a prefix
        floor = config.min_relative_quality * grasps[0].score
        grasps = [grasp for grasp in grasps if grasp.score >= floor]
    return grasps[:max_grasps] if max_grasps is not None else grasps
