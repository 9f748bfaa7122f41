"""The synthetic generator: deterministic, labelled on the objects, readable as Jacquard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlm_grasp_ros.core.datasets import open_dataset
from vlm_grasp_ros.core.grasp import angle_difference
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
        assert len(sample.grasps) == len(original.grasps)
        for read, made in zip(sample.grasps, original.grasps):
            assert (read.cx, read.cy, read.width) == pytest.approx((made.cx, made.cy, made.width), abs=1e-3)
            assert angle_difference(read.theta, made.theta) < 1e-4
