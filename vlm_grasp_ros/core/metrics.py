"""Grasp-detection metrics as the papers report them.

* Top-k rectangle accuracy: an image counts when one of its k best-scored predictions hits
  *any* ground-truth rectangle (IoU > 0.25, computed exactly on polygons with shapely and
  divided by the union, and angle difference modulo 180 degrees < 30).
* For the best prediction of each image: its best IoU over the labels (``mean_iou``), and
  against its *matched* label (the one of highest IoU, or of nearest centre when it overlaps
  none) its angle error in degrees modulo 180 and centre error in pixels.
* ``invalid_rate``: images where the backend failed or its output could not be parsed.
  Images with no prediction count as misses and as ``empty_rate``. For backends that write
  text, ``invalid_answer_rate`` is the share of raw answers that did not parse.
* OCID-Grasp's per-object accuracy: for each labelled object, the highest-scored prediction
  whose centre lies on the object's mask must hit one of the labels centred on that object.
* Grasps off the objects (with an object mask): ``background_scenes`` is the share of images
  with at least one prediction centred off every labelled object (on the table, the floor, a
  wall, an unlabelled thing); ``on_object_top5`` the share of the 5 best predictions centred
  on a labelled object; ``precision`` the share of all predictions that hit a label.
  :func:`threshold_sweep` gives them for a range of score thresholds, to choose one
  (:func:`choose_operating_point`).
* Scenes with nothing labelled (an empty table: negatives): they are left out of every accuracy
  figure (a backend cannot hit what is not there, nor miss by abstaining) and count in
  ``background_scenes`` when any prediction is made; ``unlabelled_with_grasp`` is the share of
  them that get one.
* Where the best prediction lands (:func:`top1_breakdown`, with an object mask): the share of
  labelled images whose top-1 grasp hits, misses on a labelled object, lies off the objects, or
  that get no grasp; the on-object misses by kind, and by cause (:func:`miss_cause`): the
  opening alone, the angle alone, or the place (neither fixes it).
* Several grasps on several objects (``top3_on_3_objects``): among images with at least three
  labelled objects, the share whose three best predictions hit three different objects (each
  prediction centred on an object and hitting one of that object's labels).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from vlm_grasp_ros.core.grasp import Grasp


@dataclass
class ImageResult:
    """What a backend produced for one image, with the image's ground truth."""

    name: str
    predictions: list[Grasp]
    ground_truth: list[Grasp]
    latency_ms: float = 0.0
    valid: bool = True
    error: str = ""
    #: OCID-style per-object outcomes (:func:`per_object_hits`), when the image has an object
    #: mask; kept instead of the mask itself so a long evaluation holds no full-size arrays.
    object_hits: list[bool] | None = None
    #: What each of those objects is (aligned with ``object_hits``), where the data say.
    object_kinds: list[str] | None = None
    #: With an object mask: (different objects hit by the 3 best predictions, labelled objects).
    objects_in_top3: tuple[int, int] | None = None
    #: With an object mask: (score, outcome) per prediction, outcome OFF_OBJECT, ON_OBJECT (a
    #: miss) or HIT, for the background figures and the threshold sweep.
    outcomes: list[tuple[float, int]] | None = None
    #: With an object mask and kinds: what the best prediction's centre lies on ("pen", "mug"),
    #: or None off the labelled objects; where the top-1 misses fall (:func:`top1_breakdown`).
    top1_kind: str | None = None
    #: With an object mask: why the best prediction misses, when it misses on a labelled object
    #: (:func:`miss_cause`), else None.
    top1_miss_cause: str | None = None
    #: Backends that write text (vlm): raw answers for the image, and how many did not parse.
    answers: int = 0
    invalid_answers: int = 0


@dataclass(frozen=True)
class TopPredictionScores:
    hit: bool
    best_iou: float
    angle_error_deg: float
    center_error_px: float


def score_top_prediction(prediction: Grasp, ground_truth: Sequence[Grasp]) -> TopPredictionScores:
    if not ground_truth:
        return TopPredictionScores(False, 0.0, math.nan, math.nan)
    ious = [prediction.iou(gt) for gt in ground_truth]
    best = int(np.argmax(ious))
    if ious[best] <= 0.0:
        best = int(np.argmin([math.hypot(prediction.cx - gt.cx, prediction.cy - gt.cy) for gt in ground_truth]))
    matched = ground_truth[best]
    return TopPredictionScores(
        hit=prediction.is_hit(ground_truth),
        best_iou=max(ious),
        angle_error_deg=math.degrees(prediction.angle_difference(matched)),
        center_error_px=math.hypot(prediction.cx - matched.cx, prediction.cy - matched.cy),
    )


#: Why an on-object miss misses (:func:`miss_cause`), in the order they are tried.
MISS_CAUSES = ("opening", "angle", "place")
#: The openings tried for the "opening" cause: a quarter to four times the prediction's own.
_OPENING_FACTORS = tuple(float(f) for f in np.geomspace(0.25, 4.0, 33))
_ANGLE_STEP_DEG = 5


def miss_cause(prediction: Grasp, ground_truth: Sequence[Grasp]) -> str:
    """Why ``prediction`` (which hits no label) misses: ``"opening"`` when, at its centre and
    angle, some opening from a quarter to four times its own (the jaw scaled alike) would hit;
    else ``"angle"`` when, at its centre and size, some angle (5 degree steps) would; else
    ``"place"``: its centre is where no label's rectangle can be reached by one such change."""
    # Only labels that the largest rectangle tried can touch (half-diagonals summed): the rest
    # cannot be hit by any change tried, and skipping them keeps a crowded scene's misses cheap.
    largest = 0.5 * _OPENING_FACTORS[-1] * math.hypot(prediction.width, prediction.height)
    near = [
        gt
        for gt in ground_truth
        if math.hypot(gt.cx - prediction.cx, gt.cy - prediction.cy) < largest + 0.5 * math.hypot(gt.width, gt.height)
    ]
    resized = (replace(prediction, width=prediction.width * f, height=prediction.height * f) for f in _OPENING_FACTORS)
    if any(grasp.is_hit(near) for grasp in resized):
        return "opening"
    turns = (math.radians(d) for d in range(-90, 90, _ANGLE_STEP_DEG))
    if any(replace(prediction, theta=prediction.theta + turn).is_hit(near) for turn in turns):
        return "angle"
    return "place"


def top_k_hit(predictions: Sequence[Grasp], ground_truth: Sequence[Grasp], k: int) -> bool:
    return any(p.is_hit(ground_truth) for p in predictions[:k])


def object_label_at(mask: np.ndarray, grasp: Grasp) -> int:
    """The mask label under the grasp's centre (0: background, or outside the image)."""
    x, y = int(round(grasp.cx)), int(round(grasp.cy))
    inside = 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1]
    return int(mask[y, x]) if inside else 0


def _labels_by_object(ground_truth: Sequence[Grasp], mask: np.ndarray) -> dict[int, list[Grasp]]:
    labels_by_object: dict[int, list[Grasp]] = {}
    for gt in ground_truth:
        labels_by_object.setdefault(object_label_at(mask, gt), []).append(gt)
    labels_by_object.pop(0, None)  # labels whose centre is off every object mask are not scored
    return labels_by_object


def labelled_objects(ground_truth: Sequence[Grasp], mask: np.ndarray) -> list[int]:
    """The mask labels of the objects that carry grasp labels, in :func:`per_object_hits` order."""
    return sorted(_labels_by_object(ground_truth, mask))


def per_object_hits(predictions: Sequence[Grasp], ground_truth: Sequence[Grasp], mask: np.ndarray) -> list[bool]:
    """OCID-Grasp's rule: one entry per object that carries labels (:func:`labelled_objects`
    order); True where it is hit."""
    ranked = sorted(predictions, key=lambda g: g.score, reverse=True)
    hits = []
    for object_id, labels in sorted(_labels_by_object(ground_truth, mask).items()):
        best = next((p for p in ranked if object_label_at(mask, p) == object_id), None)
        hits.append(best is not None and best.is_hit(labels))
    return hits


def objects_hit(predictions: Sequence[Grasp], ground_truth: Sequence[Grasp], mask: np.ndarray, k: int) -> set[int]:
    """The labelled objects that the ``k`` best predictions hit (centre on the object, and a hit
    on one of its labels)."""
    labels = _labels_by_object(ground_truth, mask)
    hit = set()
    for prediction in sorted(predictions, key=lambda g: g.score, reverse=True)[:k]:
        object_id = object_label_at(mask, prediction)
        if object_id in labels and prediction.is_hit(labels[object_id]):
            hit.add(object_id)
    return hit


OFF_OBJECT, ON_OBJECT, HIT = 0, 1, 2


def prediction_outcomes(
    predictions: Sequence[Grasp], ground_truth: Sequence[Grasp], mask: np.ndarray
) -> list[tuple[float, int]]:
    """Each prediction's score and whether it is centred off the labelled objects, on one
    (a miss), or hits a label."""
    labelled = set(_labels_by_object(ground_truth, mask))
    outcomes = []
    for prediction in predictions:
        if prediction.is_hit(ground_truth):
            outcomes.append((prediction.score, HIT))
        else:
            on_object = object_label_at(mask, prediction) in labelled
            outcomes.append((prediction.score, ON_OBJECT if on_object else OFF_OBJECT))
    return outcomes


def background_figures(
    outcomes: Sequence[list[tuple[float, int]]], threshold: float = 0.0, labelled: Sequence[bool] | None = None
) -> dict[str, float | None]:
    """``background_scenes``, ``on_object_top5``, ``precision``, ``top1_hit`` and
    ``unlabelled_with_grasp`` over images, counting only predictions scoring at least
    ``threshold`` (predictions in rank order). ``labelled`` says which images carry labels (all,
    when not given); the others count only in ``background_scenes`` and ``unlabelled_with_grasp``."""
    labelled = [True] * len(outcomes) if labelled is None else list(labelled)
    if len(labelled) != len(outcomes):
        raise ValueError(f"{len(outcomes)} images of outcomes but {len(labelled)} labelled flags")
    kept = [[(s, o) for s, o in image if s >= threshold] for image in outcomes]
    with_labels = [image for image, has_labels in zip(kept, labelled) if has_labels]
    without_labels = [image for image, has_labels in zip(kept, labelled) if not has_labels]
    top5 = [o for image in with_labels for _, o in image[:5]]
    every = [o for image in with_labels for _, o in image]
    return {
        "background_scenes": sum(any(o == OFF_OBJECT for _, o in image) for image in kept) / len(kept),
        "on_object_top5": sum(o != OFF_OBJECT for o in top5) / len(top5) if top5 else None,
        "precision": sum(o == HIT for o in every) / len(every) if every else None,
        "top1_hit": (
            sum(bool(image) and image[0][1] == HIT for image in with_labels) / len(with_labels) if with_labels else None
        ),
        "grasps_per_image": len(every) / len(with_labels) if with_labels else None,
        "unlabelled_with_grasp": (
            sum(bool(image) for image in without_labels) / len(without_labels) if without_labels else None
        ),
    }


TOP1_OUTCOMES = ("hit", "miss_on_object", "off_objects", "no_grasp")


def top1_breakdown(results: Iterable[ImageResult]) -> dict[str, object] | None:
    """Over the labelled images scored against an object mask: the share in each of
    :data:`TOP1_OUTCOMES` (they sum to 1), and ``misses_on_object_by_kind`` (counts, most first)
    and ``top1_by_kind`` ({kind: {"images": n, "hits": h}} over the images whose best grasp lands
    on an object of that kind, kinds in alphabetical order) where the data name kinds, and
    ``misses_on_object_by_cause`` (counts per :data:`MISS_CAUSES`). None when no image qualifies."""
    scored = [r for r in results if r.outcomes is not None and r.ground_truth]
    if not scored:
        return None
    names = {HIT: "hit", ON_OBJECT: "miss_on_object", OFF_OBJECT: "off_objects"}
    landed = [names[r.outcomes[0][1]] if r.outcomes else "no_grasp" for r in scored]
    breakdown: dict[str, object] = {name: landed.count(name) / len(scored) for name in TOP1_OUTCOMES}
    kinds = [r.top1_kind for r, where in zip(scored, landed) if where == "miss_on_object" and r.top1_kind]
    if kinds:
        ranked = sorted(Counter(kinds).items(), key=lambda item: (-item[1], item[0]))  # ties by name: stable reports
        breakdown["misses_on_object_by_kind"] = dict(ranked)
    on_objects = [(r.top1_kind, where == "hit") for r, where in zip(scored, landed) if r.top1_kind]
    if on_objects:  # which kinds the model does worst on, not only where its misses fall
        images, hits = Counter(k for k, _ in on_objects), Counter(k for k, hit in on_objects if hit)
        breakdown["top1_by_kind"] = {kind: {"images": images[kind], "hits": hits[kind]} for kind in sorted(images)}
    causes = Counter(r.top1_miss_cause for r, where in zip(scored, landed) if where == "miss_on_object")
    if causes:
        breakdown["misses_on_object_by_cause"] = {cause: causes[cause] for cause in MISS_CAUSES}
    return breakdown


def outcomes_and_labels(results: Iterable[ImageResult]) -> tuple[list[list[tuple[float, int]]], list[bool]]:
    """For the images scored against an object mask: each one's prediction outcomes, and whether
    it carries labels (the two sequences :func:`background_figures` takes)."""
    masked = [r for r in results if r.outcomes is not None]
    return [r.outcomes or [] for r in masked], [bool(r.ground_truth) for r in masked]


def threshold_sweep(
    outcomes: Sequence[list[tuple[float, int]]], thresholds: Iterable[float], labelled: Sequence[bool] | None = None
) -> list[dict[str, float | None]]:
    """:func:`background_figures` at each threshold, with the threshold in each row."""
    return [{"threshold": t, **background_figures(outcomes, t, labelled)} for t in thresholds]


def choose_operating_point(
    rows: Sequence[dict[str, float | None]], max_background: float, max_empty_with_grasp: float | None = None
) -> tuple[dict, bool]:
    """Of the sweep rows (one per score threshold, perhaps for several mask thresholds) whose
    ``background_scenes`` is at most ``max_background`` (and, given ``max_empty_with_grasp``,
    whose ``unlabelled_with_grasp`` is at most that, where rows have it), the one with the
    highest top-1 (then the fewest background scenes, then the lowest threshold), and True; with
    none passing, the row with the fewest background scenes (then the highest top-1), and False."""

    def quiet_on_empty_tables(row: dict[str, float | None]) -> bool:
        share = row.get("unlabelled_with_grasp")
        return max_empty_with_grasp is None or share is None or share <= max_empty_with_grasp

    passing = [
        row for row in rows if (row["background_scenes"] or 0.0) <= max_background and quiet_on_empty_tables(row)
    ]
    if passing:
        best = min(passing, key=lambda r: (-(r.get("top1_hit") or 0.0), r["background_scenes"] or 0.0, r["threshold"]))
        return best, True
    return min(rows, key=lambda r: (r["background_scenes"] or 0.0, -(r.get("top1_hit") or 0.0))), False


def per_kind_accuracy(results: Sequence[ImageResult]) -> dict[str, dict[str, float]]:
    """Per-object accuracy (OCID's rule) by kind of object, where results carry kinds:
    {kind: {"objects": n, "accuracy": share hit}}, kinds in alphabetical order."""
    outcomes: dict[str, list[bool]] = {}
    for result in results:
        for kind, hit in zip(result.object_kinds or [], result.object_hits or []):
            outcomes.setdefault(kind, []).append(hit)
    return {kind: {"objects": len(hits), "accuracy": sum(hits) / len(hits)} for kind, hits in sorted(outcomes.items())}


def _mean(values: Iterable[float]) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else None


def summarize(results: Sequence[ImageResult], top_k: Sequence[int] = (1, 5)) -> dict[str, object]:
    """The metrics.json dictionary for one backend on one dataset."""
    n = len(results)
    if n == 0:
        raise ValueError("no results to summarize")
    scored = [r for r in results if r.ground_truth]  # scenes with nothing labelled have nothing to hit
    tops = [score_top_prediction(r.predictions[0], r.ground_truth) for r in scored if r.predictions]
    metrics: dict[str, object] = {"n_images": n}
    for k in top_k:
        metrics[f"accuracy_top{k}"] = (
            sum(top_k_hit(r.predictions, r.ground_truth, k) for r in scored) / len(scored) if scored else None
        )
    # Images without a prediction score an IoU of 0: a backend cannot look better by abstaining.
    metrics["mean_iou"] = sum(t.best_iou for t in tops) / len(scored) if scored else None
    metrics["angle_err_deg"] = _mean(t.angle_error_deg for t in tops)
    metrics["center_err_px"] = _mean(t.center_error_px for t in tops)
    metrics["invalid_rate"] = sum(not r.valid for r in results) / n
    metrics["empty_rate"] = sum(not r.predictions for r in scored) / len(scored) if scored else None
    unlabelled = [r for r in results if not r.ground_truth]
    if unlabelled:
        metrics["n_unlabelled"] = len(unlabelled)
        metrics["unlabelled_with_grasp"] = sum(bool(r.predictions) for r in unlabelled) / len(unlabelled)
    latencies = np.array([r.latency_ms for r in results], dtype=float)
    metrics["latency_ms"] = {
        "median": float(np.median(latencies)),
        "p95": float(np.percentile(latencies, 95)),
        "mean": float(latencies.mean()),
    }
    with_masks = [r for r in results if r.object_hits is not None]
    if with_masks:
        object_hits = [hit for r in with_masks for hit in r.object_hits or []]
        metrics["per_object_accuracy"] = sum(object_hits) / len(object_hits) if object_hits else None
        metrics["n_objects"] = len(object_hits)
        by_kind = per_kind_accuracy(with_masks)
        if by_kind:
            metrics["per_kind"] = by_kind
    outcomes, labelled = outcomes_and_labels(results)
    if outcomes:
        figures = background_figures(outcomes, labelled=labelled)
        metrics["background_scenes"] = figures["background_scenes"]
        metrics["on_object_top5"] = figures["on_object_top5"]
        metrics["precision"] = figures["precision"]
    top1 = top1_breakdown(results)
    if top1 is not None:
        metrics["top1_outcome"] = top1
    crowded = [r.objects_in_top3 for r in results if r.objects_in_top3 is not None and r.objects_in_top3[1] >= 3]
    if crowded:
        metrics["top3_on_3_objects"] = sum(hit == 3 for hit, _labelled in crowded) / len(crowded)
        metrics["n_images_3_objects"] = len(crowded)
    answers = sum(r.answers for r in results)
    if answers:
        metrics["invalid_answer_rate"] = sum(r.invalid_answers for r in results) / answers
    return metrics
