"""Foreground segmentation for the baselines when no object mask is given.

Method (documented because the baselines' numbers depend on it): the table is whatever
colours fill a 12-pixel band along the image border. Those border pixels are clustered
into up to 4 colours in Lab (k-means), every pixel's distance to its nearest table colour
is thresholded with Otsu's method, the result is cleaned with a morphological open and
close, and connected components smaller than 0.1% of the image are dropped. It assumes a
top-down view whose border shows the table, as in the synthetic scenes and most tabletop
datasets; objects that touch the border or match the table's colours are missed.
"""

from __future__ import annotations

import cv2
import numpy as np

BORDER_PX = 12
TABLE_COLOURS = 4
MIN_COMPONENT_FRACTION = 0.001


def segment_foreground(image: np.ndarray) -> np.ndarray:
    """(H, W) int32 labels: 0 for the table, 1..N for connected foreground components."""
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = min(BORDER_PX, h // 4, w // 4) or 1
    border = np.concatenate(
        [
            lab[:band].reshape(-1, 3),
            lab[-band:].reshape(-1, 3),
            lab[:, :band].reshape(-1, 3),
            lab[:, -band:].reshape(-1, 3),
        ]
    )
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    clusters = min(TABLE_COLOURS, len(border))
    cv2.setRNGSeed(0)  # k-means initialisation: keep the baselines deterministic
    _, _, centres = cv2.kmeans(border, clusters, None, criteria, 3, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    distance = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=-1), axis=-1)
    scaled = cv2.normalize(distance, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)  # type: ignore[call-overload]
    _, foreground = cv2.threshold(scaled, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    foreground = cv2.morphologyEx(cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    keep = np.zeros(count, np.int32)
    next_label = 1
    for component in range(1, count):
        if stats[component, cv2.CC_STAT_AREA] >= MIN_COMPONENT_FRACTION * h * w:
            keep[component] = next_label
            next_label += 1
    return keep[labels]
