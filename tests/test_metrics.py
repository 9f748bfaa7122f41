"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import ImageResult, per_object_hits, summarize

# Axis-aligned, so every IoU below is worked out by hand: x 80..120 (the 40 px opening), y 90..110.
LABEL = Grasp(100, 100, 0.0, 40, 20)


def _results() -> list[ImageResult]:
    # Image a: shifted 3-4-5 px; overlap 37 x 16 = 592 px, union 800 + 800 - 592 = 1008.
    a = ImageResult("a", [Grasp(103, 104, 0.0, 40, 20, 0.9)], [LABEL], latency_ms=10)
    # Image b: the best is turned 90 degrees (x 90..110, y 80..120): overlap 20 x 20 = 400, union 1200,
    # IoU 1/3, but a miss on angle; the second hits exactly.
    b = ImageResult(
        "b",
        [Grasp(100, 100, math.radians(90.0), 40, 20, 0.8), Grasp(100, 100, 0.0, 40, 20, 0.5)],
        [LABEL],
        latency_ms=20,
    )
    # Image c: the backend failed: no grasps.
    c = ImageResult("c", [], [LABEL], latency_ms=30, valid=False, error="boom")
    return [a, b, c]


def test_summary_hand_computed() -> None:
    metrics = summarize(_results())
    assert metrics["n_images"] == 3
    assert metrics["accuracy_top1"] == pytest.approx(1 / 3)
    assert metrics["accuracy_top5"] == pytest.approx(2 / 3)
    assert metrics["invalid_rate"] == pytest.approx(1 / 3)
    assert metrics["empty_rate"] == pytest.approx(1 / 3)
    assert metrics["mean_iou"] == pytest.approx((592 / 1008 + 1 / 3 + 0.0) / 3)
    assert metrics["angle_err_deg"] == pytest.approx((0.0 + 90.0) / 2)
    assert metrics["center_err_px"] == pytest.approx((5.0 + 0.0) / 2)
    assert metrics["latency_ms"]["median"] == pytest.approx(20.0)
    assert metrics["latency_ms"]["p95"] == pytest.approx(29.0)  # linear interpolation of 10, 20, 30


def test_angles_wrap_at_plus_minus_90_degrees() -> None:
    # 89 and -89 degrees are 2 degrees apart (a rectangle turned by 180 is the same grasp): a hit.
    label = Grasp(100, 100, math.radians(-89.0), 40, 20)
    metrics = summarize([ImageResult("w", [Grasp(100, 100, math.radians(89.0), 40, 20)], [label])])
    assert metrics["accuracy_top1"] == 1.0 and metrics["angle_err_deg"] == pytest.approx(2.0)


def test_matched_label_falls_back_to_the_nearest_centre() -> None:
    near, far = Grasp(200, 100, 0.0, 10, 10), Grasp(400, 100, math.radians(45), 10, 10)
    result = ImageResult("x", [Grasp(150, 100, math.radians(10), 10, 10)], [far, near])
    metrics = summarize([result])
    assert metrics["mean_iou"] == 0.0
    assert metrics["center_err_px"] == pytest.approx(50.0)
    assert metrics["angle_err_deg"] == pytest.approx(10.0)


def test_per_object_accuracy_uses_the_best_grasp_on_each_object() -> None:
    mask = np.zeros((200, 400), np.int32)
    mask[80:120, 80:120] = 1
    mask[80:120, 280:320] = 2
    labels = [Grasp(100, 100, 0.0, 40, 20), Grasp(300, 100, 0.0, 40, 20)]
    predictions = [
        Grasp(100, 100, 0.0, 40, 20, score=0.9),  # object 1: hit
        Grasp(300, 100, math.radians(60), 40, 20, score=0.8),  # object 2's best: a miss
        Grasp(300, 100, 0.0, 40, 20, score=0.7),  # would hit object 2, but is not its best
        Grasp(10, 10, 0.0, 40, 20, score=0.99),  # on the table: belongs to no object
    ]
    assert per_object_hits(predictions, labels, mask) == [True, False]
    hits = per_object_hits(predictions, labels, mask)
    assert summarize([ImageResult("m", predictions, labels, object_hits=hits)])["per_object_accuracy"] == 0.5
    assert per_object_hits([], labels, mask) == [False, False]


def test_empty_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="no results"):
        summarize([])
