"""Which labelled grasps an answer lists, and in what order (training's answers, and the
benchmark's realistic ones)."""

from __future__ import annotations

import numpy as np

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.grasp import Grasp


def object_of(grasp: Grasp, mask: np.ndarray | None) -> int:
    if mask is None:
        return 0
    row = min(max(int(round(grasp.cy)), 0), mask.shape[0] - 1)
    col = min(max(int(round(grasp.cx)), 0), mask.shape[1] - 1)
    return int(mask[row, col])


def answer_grasps(sample: GraspSample, max_grasps: int, choice: str, rng: np.random.Generator) -> list[Grasp]:
    """The labelled grasps an answer lists, best first.

    One grasp: the first label (``choice: first``) or a random one. A list: one grasp per object
    (the mask label under each label's centre), largest object first (the easiest to grasp and
    to see), each the object's label nearest its centroid (``first``) or a random one of its
    labels; without a mask, labels that are different grasps by the rectangle test.
    """
    if max_grasps == 1:
        return [sample.grasps[0] if choice == "first" else sample.grasps[int(rng.integers(len(sample.grasps)))]]
    mask = sample.mask
    by_object: dict[int, list[Grasp]] = {}
    for grasp in sample.grasps:
        by_object.setdefault(object_of(grasp, mask), []).append(grasp)
    if mask is None or set(by_object) == {0}:
        chosen: list[Grasp] = []
        for grasp in sample.grasps:
            if not grasp.is_hit(chosen):
                chosen.append(grasp)
        return chosen[:max_grasps]
    by_object.pop(0, None)  # labels off every object: no object to list them under
    area = {key: int((mask == key).sum()) for key in by_object}
    listed = []
    for key in sorted(by_object, key=lambda key: (-area[key], key))[:max_grasps]:
        labels = by_object[key]
        if choice == "first":
            rows, cols = np.nonzero(mask == key)
            centre = (float(cols.mean()), float(rows.mean()))
            listed.append(min(labels, key=lambda g: (g.cx - centre[0]) ** 2 + (g.cy - centre[1]) ** 2))
        else:
            listed.append(labels[int(rng.integers(len(labels)))])
    return listed
