"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vlm_grasp_ros.core.evaluation import score_image
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.metrics import (
    HIT,
    OFF_OBJECT,
    ON_OBJECT,
    ImageResult,
    background_figures,
    choose_operating_point,
    miss_cause,
    objects_hit,
    per_object_hits,
    prediction_outcomes,
    summarize,
    threshold_sweep,
    top1_breakdown,
)

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


def test_three_best_grasps_count_only_when_they_hit_three_different_objects() -> None:
    mask = np.zeros((100, 300), np.int32)
    mask[20:80, 10:90], mask[20:80, 110:190], mask[20:80, 210:290] = 1, 2, 3
    labels = [Grasp(50 + 100 * k, 50, 0.0, 40, 20) for k in range(3)]
    on_each = [label.with_score(0.9 - 0.1 * k) for k, label in enumerate(labels)]
    twice_on_first = [on_each[0], Grasp(52, 50, 0.0, 40, 20, score=0.85), on_each[1]]
    wrong_angle = [on_each[0], on_each[1], Grasp(250, 50, 1.2, 40, 20, score=0.7)]
    assert objects_hit(on_each, labels, mask, 3) == {1, 2, 3}
    assert objects_hit(twice_on_first, labels, mask, 3) == {1, 2}
    assert objects_hit(wrong_angle, labels, mask, 3) == {1, 2}  # on object 3, but no hit on its label
    results = [
        score_image(str(index), predictions, labels, mask)
        for index, predictions in enumerate((on_each, twice_on_first, wrong_angle, on_each))
    ]
    two_objects = np.where(mask == 3, 0, mask)  # an image with 2 labelled objects does not count
    results.append(score_image("two", on_each, labels, two_objects))
    metrics = summarize(results)
    assert (metrics["top3_on_3_objects"], metrics["n_images_3_objects"]) == (0.5, 4)


def test_grasps_off_the_labelled_objects_are_counted_per_scene() -> None:
    mask = np.zeros((100, 100), np.int32)
    mask[10:40, 10:40] = 1
    labels = [Grasp(25, 25, 0.0, 20, 10)]
    predictions = [
        Grasp(25, 25, 0.0, 20, 10, 0.9),  # a hit
        Grasp(30, 30, 1.2, 20, 10, 0.7),  # on the object, wrong angle
        Grasp(80, 80, 0.0, 20, 10, 0.4),  # on the floor
    ]
    outcomes = prediction_outcomes(predictions, labels, mask)
    assert outcomes == [(0.9, HIT), (0.7, ON_OBJECT), (0.4, OFF_OBJECT)]
    clean = [(0.8, HIT)]
    figures = background_figures([outcomes, clean])
    assert figures["background_scenes"] == 0.5 and figures["top1_hit"] == 1.0
    assert figures["on_object_top5"] == pytest.approx(3 / 4) and figures["precision"] == pytest.approx(2 / 4)
    above_half = background_figures([outcomes, clean], threshold=0.5)
    assert above_half["background_scenes"] == 0.0 and above_half["grasps_per_image"] == 1.5
    rows = threshold_sweep([outcomes, clean], [0.0, 0.85, 0.95])
    assert [row["top1_hit"] for row in rows] == [1.0, 0.5, 0.0]
    summary = summarize([score_image("a", predictions, labels, mask), score_image("b", predictions[:1], labels, mask)])
    assert summary["background_scenes"] == 0.5 and summary["precision"] == pytest.approx(2 / 4)


def test_the_operating_point_has_the_best_top1_among_those_under_the_background_target() -> None:
    rows = [
        {"threshold": 0.6, "mask_threshold": 0.5, "background_scenes": 0.02, "top1_hit": 0.60},
        {"threshold": 0.4, "mask_threshold": 0.5, "background_scenes": 0.08, "top1_hit": 0.75},
        {"threshold": 0.5, "mask_threshold": 0.5, "background_scenes": 0.05, "top1_hit": 0.65},
        {"threshold": 0.3, "mask_threshold": 0.95, "background_scenes": 0.05, "top1_hit": 0.77},
        {"threshold": 0.2, "mask_threshold": 0.95, "background_scenes": 0.06, "top1_hit": 0.78},
    ]
    assert choose_operating_point(rows, 0.05) == (rows[3], True)  # a stricter mask lets more through
    assert choose_operating_point(rows[:3], 0.05) == (rows[2], True)  # one mask: the lowest passing threshold
    assert choose_operating_point(rows, 0.01) == (rows[0], False)  # none passes: the fewest background scenes
    # With empty tables priced apart: a row that grasps too many of them does not pass.
    quiet = [{**row, "unlabelled_with_grasp": 0.2 if row["mask_threshold"] == 0.95 else 0.05} for row in rows]
    assert choose_operating_point(quiet, 0.05) == (quiet[3], True)  # no limit: as before
    assert choose_operating_point(quiet, 0.05, max_empty_with_grasp=0.1) == (quiet[2], True)
    assert choose_operating_point(rows, 0.05, max_empty_with_grasp=0.1) == (rows[3], True)  # rows without empties


def test_scenes_with_nothing_labelled_count_only_as_background() -> None:
    mask = np.zeros((100, 100), np.int32)
    mask[10:40, 10:40] = 1
    labels = [Grasp(25, 25, 0.0, 20, 10)]
    hit = [Grasp(25, 25, 0.0, 20, 10, 0.9)]
    on_the_room = [Grasp(70, 70, 0.0, 20, 10, 0.3)]
    empty_table = np.zeros_like(mask)
    results = [
        score_image("object", hit, labels, mask),
        score_image("empty, a grasp", on_the_room, [], empty_table),
        score_image("empty, none", [], [], empty_table),
    ]
    metrics = summarize(results)
    # Accuracy over the one labelled scene only; abstaining on an empty table is not a miss.
    assert metrics["n_images"] == 3 and metrics["accuracy_top1"] == 1.0 and metrics["empty_rate"] == 0.0
    assert metrics["mean_iou"] == pytest.approx(1.0)
    assert (metrics["n_unlabelled"], metrics["unlabelled_with_grasp"]) == (2, 0.5)
    # The grasp on the empty table is a background scene, and nothing else is.
    assert metrics["background_scenes"] == pytest.approx(1 / 3) and metrics["precision"] == 1.0
    outcomes = [r.outcomes or [] for r in results]
    rows = threshold_sweep(outcomes, [0.0, 0.5], labelled=[True, False, False])
    assert [(r["background_scenes"], r["unlabelled_with_grasp"], r["top1_hit"]) for r in rows] == [
        (pytest.approx(1 / 3), 0.5, 1.0),
        (0.0, 0.0, 1.0),
    ]
    assert background_figures(outcomes)["top1_hit"] == pytest.approx(1 / 3)  # without the flags: all scored
    assert "n_unlabelled" not in summarize(results[:1])
    with pytest.raises(ValueError, match="labelled flags"):
        background_figures(outcomes, labelled=[True])


def test_the_top1_breakdown_says_where_each_best_grasp_lands_on_what_and_why_it_misses() -> None:
    mask = np.zeros((100, 100), np.int32)
    mask[10:40, 10:40] = 1  # a mug
    mask[60:90, 60:90] = 2  # a pen
    labels = [Grasp(25, 25, 0.0, 20, 10), Grasp(75, 75, 0.0, 20, 10)]
    kinds = ("mug", "pen")
    results = [
        score_image("hit", [Grasp(25, 25, 0.0, 20, 10, 0.9)], labels, mask, object_kinds=kinds),
        score_image("mug, turned", [Grasp(25, 25, 1.2, 20, 10, 0.9)], labels, mask, object_kinds=kinds),
        score_image("mug, too wide", [Grasp(30, 30, 0.0, 80, 40, 0.9)], labels, mask, object_kinds=kinds),
        # On the mug, but at its corner: no opening or angle there reaches the label.
        score_image("mug, corner", [Grasp(12, 38, 0.0, 6, 3, 0.9)], labels, mask, object_kinds=kinds),
        # The best on the pen misses; the second hits the mug, but only the first counts.
        score_image(
            "pen", [Grasp(75, 75, 1.5, 20, 10, 0.9), Grasp(25, 25, 0.0, 20, 10, 0.5)], labels, mask, object_kinds=kinds
        ),
        score_image("floor", [Grasp(50, 5, 0.0, 20, 10, 0.9)], labels, mask, object_kinds=kinds),
        score_image("nothing", [], labels, mask, object_kinds=kinds),
        score_image("empty table", [Grasp(50, 5, 0.0, 20, 10, 0.9)], [], np.zeros_like(mask)),  # not counted
    ]
    assert [r.top1_miss_cause for r in results] == [None, "angle", "opening", "place", "angle", None, None, None]
    breakdown = top1_breakdown(results)
    assert breakdown == {
        "hit": pytest.approx(1 / 7),
        "miss_on_object": pytest.approx(4 / 7),
        "off_objects": pytest.approx(1 / 7),
        "no_grasp": pytest.approx(1 / 7),
        "misses_on_object_by_kind": {"mug": 3, "pen": 1},
        "top1_by_kind": {"mug": {"images": 4, "hits": 1}, "pen": {"images": 1, "hits": 0}},  # floor, nothing: no kind
        "misses_on_object_by_cause": {"opening": 1, "angle": 2, "place": 1},
    }
    assert list(breakdown["misses_on_object_by_kind"]) == ["mug", "pen"]  # most first
    assert summarize(results)["top1_outcome"] == breakdown
    assert breakdown["hit"] == pytest.approx(summarize(results)["accuracy_top1"])
    # Without kinds the shares and causes stay and the by-kind counts go; without a mask there is nothing to say.
    plain = [score_image(r.name, r.predictions, r.ground_truth, mask) for r in results[:7]]
    assert not {"misses_on_object_by_kind", "top1_by_kind"} & set(top1_breakdown(plain) or {})
    assert (top1_breakdown(plain) or {})["misses_on_object_by_cause"] == breakdown["misses_on_object_by_cause"]
    assert top1_breakdown([score_image("a", [Grasp(25, 25, 0.0, 20, 10, 0.9)], labels)]) is None


def test_a_miss_is_put_down_to_its_opening_only_within_a_quarter_to_four_times_its_own() -> None:
    label = [Grasp(50, 50, 0.3, 10, 5)]
    # 3.5x too wide: a quarter of it is under the label's size, so some opening in range hits.
    assert miss_cause(Grasp(50, 50, 0.3, 35, 17.5), label) == "opening"
    assert miss_cause(Grasp(50, 50, 0.3, 3, 1.5), label) == "opening"  # too narrow
    # 60x too wide: no opening down to a quarter reaches the label's size; the angle is right, so: place.
    assert miss_cause(Grasp(50, 50, 0.3, 600, 300), label) == "place"
    # Right size, across the label: only the angle is wrong, whichever way it turns.
    assert miss_cause(Grasp(50, 50, 0.3 + math.pi / 2, 10, 5), label) == "angle"
    assert miss_cause(Grasp(50, 50, 0.3 - 1.0, 10, 5), label) == "angle"
    # Wrong size and angle both: one change does not fix it.
    assert miss_cause(Grasp(50, 50, 0.3 + math.pi / 2, 40, 20), label) == "place"
    assert miss_cause(Grasp(50, 50, 0.3, 10, 5), []) == "place"
