"""Draw grasps on images: thin lines along the opening, thick bars for the two jaws."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from vlm_grasp_ros.core.grasp import Grasp

GROUND_TRUTH_COLOUR = (0, 200, 0)  # RGB
PREDICTION_COLOUR = (230, 30, 30)


def score_colour(score: float) -> tuple[int, int, int]:
    """Red (low) through yellow to green (high), RGB."""
    s = float(np.clip(score, 0.0, 1.0))
    return (int(255 * min(1.0, 2 * (1 - s))), int(255 * min(1.0, 2 * s)), 0)


def draw_grasps(
    image: np.ndarray,
    grasps: Sequence[Grasp],
    colour: tuple[int, int, int] | None = None,
    thickness: int = 1,
    label_scores: bool = False,
) -> np.ndarray:
    """Return a copy of an RGB image with the grasps drawn; ``colour=None`` colours by score."""
    canvas = np.ascontiguousarray(image.copy())
    scale = max(1, round(max(image.shape[:2]) / 640))
    for rank, grasp in enumerate(grasps):
        rgb = colour if colour is not None else score_colour(grasp.score)
        corners = np.round(grasp.corners() * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        for a, b, jaw in ((0, 1, False), (1, 2, True), (2, 3, False), (3, 0, True)):
            width = (thickness + 2) * scale if jaw else thickness * scale
            cv2.line(canvas, tuple(corners[a]), tuple(corners[b]), rgb, width, cv2.LINE_AA, 4)
        if label_scores:
            org = (int(grasp.cx) + 4, int(grasp.cy) - 4)
            cv2.putText(
                canvas,
                f"{rank + 1}:{grasp.score:.2f}",
                org,
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4 * scale,
                rgb,
                scale,
                cv2.LINE_AA,
            )
    return canvas


def draw_comparison(image: np.ndarray, ground_truth: Sequence[Grasp], predictions: Sequence[Grasp]) -> np.ndarray:
    """Ground truth in green, predictions in red (best one thicker)."""
    canvas = draw_grasps(image, ground_truth, GROUND_TRUTH_COLOUR, 1)
    if predictions:
        canvas = draw_grasps(canvas, predictions[1:], PREDICTION_COLOUR, 1)
        canvas = draw_grasps(canvas, predictions[:1], PREDICTION_COLOUR, 2)
    return canvas
