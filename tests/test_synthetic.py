"""The synthetic generator: deterministic, labelled on the objects, readable as Jacquard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlm_grasp_ros.core.datasets import DatasetFormatError, open_dataset
from vlm_grasp_ros.core.evaluation import SupportPlaneFilter, score_image
from vlm_grasp_ros.core.grasp import Grasp, angle_difference
from vlm_grasp_ros.core.metrics import per_kind_accuracy
from vlm_grasp_ros.core.synthetic import robot_view
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset

SMALL = SceneConfig(width=320, height=240)


def test_same_seed_and_index_give_the_same_scene() -> None:
    a, b = render_scene(5, 3, SMALL), render_scene(5, 3, SMALL)
    assert np.array_equal(a.image, b.image) and a.grasps == b.grasps
    assert not np.array_equal(a.image, render_scene(6, 3, SMALL).image)
    assert not np.array_equal(a.image, render_scene(5, 4, SMALL).image)


@pytest.mark.parametrize("index", range(8))
def test_every_grasp_is_centred_on_an_object_and_spans_it(index: int) -> None:
    sample = render_scene(11, index, SMALL)
    assert sample.grasps, "every scene has at least one graspable object"
    assert sample.mask.max() >= 1
    for grasp in sample.grasps:
        assert sample.mask[int(round(grasp.cy)), int(round(grasp.cx))] > 0
        # Both jaws start off the object: the rectangle's ends along the opening axis are on the table.
        for sign in (-1, 1):
            end = np.array([grasp.cx, grasp.cy]) + sign * grasp.opening_axis * (grasp.width / 2 + 1)
            x, y = int(round(end[0])), int(round(end[1]))
            if 0 <= x < SMALL.width and 0 <= y < SMALL.height:
                assert sample.mask[y, x] == 0
    assert np.all(sample.depth[sample.mask > 0] < sample.depth[sample.mask == 0].min())


def test_written_scenes_read_back_through_the_jacquard_loader(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, 3, seed=2, config=SMALL, progress=False)
    dataset = open_dataset("synthetic", tmp_path)
    assert len(dataset) == 3
    for index, sample in enumerate(dataset):
        original = render_scene(2, index, SMALL)
        assert np.array_equal(sample.image, original.image)
        assert np.array_equal(sample.mask, original.mask)
        assert np.allclose(sample.depth, original.depth)
        assert sample.object_kinds == original.object_kinds and original.object_kinds is not None
        assert len(original.object_kinds) == original.mask.max()  # one name per mask label
        assert len(sample.grasps) == len(original.grasps)
        for read, made in zip(sample.grasps, original.grasps):
            assert (read.cx, read.cy, read.width) == pytest.approx((made.cx, made.cy, made.width), abs=1e-3)
            assert angle_difference(read.theta, made.theta) < 1e-4


def test_robot_view_kinds_name_each_mask_label_and_eval_reports_accuracy_by_kind() -> None:
    config = SceneConfig(width=320, height=240, view="robot")
    samples = [render_scene(4, index, config) for index in range(6)]
    for sample in samples:
        assert sample.object_kinds is not None and len(sample.object_kinds) == sample.mask.max()
    kinds = {kind for sample in samples for kind in sample.object_kinds or ()}
    assert kinds and kinds <= set(robot_view._OBJECT_KINDS)
    # Grasping exactly at each scene's first label hits that object and only that one.
    results = []
    for sample in samples:
        first_object = int(sample.mask[round(sample.grasps[0].cy), round(sample.grasps[0].cx)])
        assert first_object > 0
        results.append(
            score_image(sample.name, [sample.grasps[0]], sample.grasps, sample.mask, object_kinds=sample.object_kinds)
        )
        assert results[-1].object_kinds is not None and sample.object_kinds is not None
        hit_kinds = [k for k, hit in zip(results[-1].object_kinds, results[-1].object_hits or []) if hit]
        assert hit_kinds == [sample.object_kinds[first_object - 1]]
    table = per_kind_accuracy(results)
    assert sum(row["objects"] for row in table.values()) == sum(len(r.object_hits or []) for r in results)
    assert sum(row["accuracy"] * row["objects"] for row in table.values()) == pytest.approx(len(samples))


def test_a_bad_object_kinds_file_names_the_file_and_line(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path, 1, seed=2, config=SMALL, progress=False)
    kinds_file = next(tmp_path.glob("*_objects.txt"))
    kinds_file.write_text("box\nnot a name\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"_objects.txt:2: expected one object name"):
        open_dataset("synthetic", tmp_path)[0]


@pytest.mark.parametrize("view", ["robot", "bullet"])
def test_camera_views_carry_intrinsics_that_let_depth_tell_objects_from_the_room(tmp_path: Path, view: str) -> None:
    """Written and read back with their intrinsics; with them, the node's support-plane check keeps
    the labelled grasps and drops grasps centred on unlabelled pixels (floor, walls, clutter)."""
    config = SceneConfig(width=320, height=240, view=view)
    write_synthetic_dataset(tmp_path, 4, seed=4, config=config, progress=False)
    check = SupportPlaneFilter()
    labels = labels_kept = background = background_kept = 0
    for index, sample in enumerate(open_dataset("synthetic", tmp_path)):
        made = render_scene(4, index, config).camera
        assert made is not None and sample.camera is not None
        assert (sample.camera.fx, sample.camera.cx, sample.camera.cy) == pytest.approx((made.fx, made.cx, made.cy))
        labels += len(sample.grasps)
        labels_kept += len(check(sample, sample.grasps))
        rows, cols = np.nonzero((sample.mask == 0) & (sample.depth > 0))
        pick = np.random.default_rng(index).choice(len(rows), 40, replace=False)
        off_objects = [Grasp(float(cols[k]), float(rows[k]), 0.0, 12.0, 6.0) for k in pick]
        background += len(off_objects)
        background_kept += len(check(sample, off_objects))
    assert not check.unchecked
    assert labels_kept >= 0.9 * labels
    assert background_kept <= 0.1 * background
    assert check.dropped == labels - labels_kept + background - background_kept
    top_down = render_scene(4, 0, SMALL)  # drawn from above without a camera model: nothing to check with
    assert top_down.camera is None and check(top_down, top_down.grasps) == top_down.grasps
    assert check.unchecked == [top_down.name]
