"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import ImageResult, per_object_hits, summarize

LABEL = Grasp(100, 100, math.radians(-89.0), 40, 20)


def _results() -> list[ImageResult]:
    # Image a: the best grasp hits across the +-90 wrap (89 vs -89 degrees), 3-4-5 px off.
    a = ImageResult("a", [Grasp(103, 104, math.radians(89.0), 40, 20, 0.9)], [LABEL], latency_ms=10)
    # Image b: the best misses (45 degrees off), the second hits exactly.
    b = ImageResult("b", [Grasp(100, 100, math.radians(-44.0), 40, 20, 0.8), Grasp(100, 100, math.radians(-89.0), 40, 20, 0.5)],
                    [LABEL], latency_ms=20)
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
    iou_a = _results()[0].predictions[0].iou(LABEL)
    iou_b = _results()[1].predictions[0].iou(LABEL)
    assert 0.25 < iou_a < 1 and 0.25 < iou_b < 1
    assert metrics["mean_iou"] == pytest.approx((iou_a + iou_b + 0.0) / 3)
    assert metrics["angle_err_deg"] == pytest.approx((2.0 + 45.0) / 2)
    assert metrics["center_err_px"] == pytest.approx((5.0 + 0.0) / 2)
    assert metrics["latency_ms"]["median"] == pytest.approx(20.0)
    assert metrics["latency_ms"]["p95"] == pytest.approx(29.0)  # linear interpolation of 10, 20, 30


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
