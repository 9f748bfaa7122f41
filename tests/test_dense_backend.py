"""The embedded default model behind ``backend: dense``: it ships in the package, finds grasps
on held-out synthetic scenes, and the node serves exactly what the predictor computes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.ros_probe import CameraLink, RosProbe, running_node
from vlm_grasp_ros.core.dense.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from vlm_grasp_ros.core.metrics import top_k_hit
from vlm_grasp_ros.core.predictors.dense import EMBEDDED_MODEL
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.ros.node_process import GraspNodeProcess

HELD_OUT_SEED = 1000  # the README's top-down test set
HELD_OUT_ROBOT_SEED = 1001  # the README's robot-view test sets (drawn and PyBullet)


@pytest.fixture(scope="module")
def predictor():
    return create_predictor("dense")


def test_the_embedded_model_ships_small_and_trained_on_synthetic_scenes_only() -> None:
    config = json.loads((EMBEDDED_MODEL / CONFIG_NAME).read_text())
    assert (EMBEDDED_MODEL / WEIGHTS_NAME).stat().st_size < 8 * 2**20
    # A trained checkpoint records its training; an average of several records each one's.
    records = [config["training"]] if "training" in config else [part["training"] for part in config["averaged_from"]]
    assert records
    for record in records:
        training = record["config"]
        assert training["train"]["dataset"] == "generated" and training["val"]["dataset"] == "generated"
        assert not {HELD_OUT_SEED, HELD_OUT_ROBOT_SEED} & {training["train"]["seed"], training["val"]["seed"]}
    assert config["model"]["encoder"]["name"] == "efficientnet_lite0"


def test_it_finds_grasps_on_held_out_scenes(predictor) -> None:
    assert predictor.model_id == "embedded:dense_lite0_synthetic"
    hits = 0
    for index in range(10):
        scene = render_scene(HELD_OUT_SEED, index)
        grasps = predictor.predict(scene.image, max_grasps=5)
        assert grasps == sorted(grasps, key=lambda g: -g.score)
        hits += top_k_hit(grasps, scene.grasps, 1)
    assert hits >= 8  # the README's 200-scene figure is measured by `vlm-grasp eval`, not here


def test_a_mask_threshold_option_loosens_the_models_own_for_this_predictor_only(predictor) -> None:
    """dense.mask_threshold (for robots with depth) changes the post-processing, not the network."""
    shipped = json.loads((EMBEDDED_MODEL / CONFIG_NAME).read_text())["model"]["postprocess"]["mask_threshold"]
    loose = create_predictor("dense", dict(mask_threshold=0.5))
    assert loose.model.config.postprocess.mask_threshold == 0.5 < shipped
    assert predictor.model.config.postprocess.mask_threshold == shipped  # the files and other predictors keep it
    with pytest.raises(ValueError, match=r"mask_threshold: must be -1 \(the model's own\) or within \[0, 1\]"):
        create_predictor("dense", dict(mask_threshold=-0.5))  # would otherwise mean the model's own, silently
    # Without the relative cut (whose floor follows the best grasp, which a looser mask can change),
    # the same peaks, fewer of them dropped.
    strict_all = create_predictor("dense", dict(min_relative_quality=0.0))
    loose_all = create_predictor("dense", dict(mask_threshold=0.5, min_relative_quality=0.0))
    gained = 0
    for index in range(4):
        scene = render_scene(HELD_OUT_SEED, index, SceneConfig(view="robot"))
        strict, free = strict_all.predict(scene.image, max_grasps=100), loose_all.predict(scene.image, max_grasps=100)
        assert all(grasp in free for grasp in strict)
        gained += len(free) - len(strict)
    assert gained > 0


def test_a_relative_quality_option_of_zero_keeps_the_weaker_objects_grasps(predictor) -> None:
    """dense.min_relative_quality 0 publishes every grasp the model's own relative cut drops."""
    shipped = json.loads((EMBEDDED_MODEL / CONFIG_NAME).read_text())["model"]["postprocess"]
    assert predictor.model.config.postprocess.min_relative_quality == shipped.get("min_relative_quality", 0.0)
    every = create_predictor("dense", dict(min_relative_quality=0.0))
    assert every.model.config.postprocess.min_relative_quality == 0.0
    kept_more = 0
    for index in range(4):
        scene = render_scene(HELD_OUT_SEED, index, SceneConfig(view="robot"))
        cut, all_grasps = predictor.predict(scene.image, max_grasps=100), every.predict(scene.image, max_grasps=100)
        assert cut == all_grasps[: len(cut)]  # the cut keeps a prefix of the ranking
        kept_more += len(all_grasps) - len(cut)
    assert kept_more > 0 or shipped.get("min_relative_quality", 0.0) == 0.0
    with pytest.raises(ValueError, match=r"min_relative_quality: must be -1 \(the model's own\) or within \[0, 1\]"):
        create_predictor("dense", dict(min_relative_quality=-0.2))


def test_a_frame_with_no_grasp_on_the_strict_mask_gets_the_looser_masks_best_alone() -> None:
    """dense.fallback_mask_threshold: only frames left empty by mask_threshold change, by one grasp."""
    strict = create_predictor("dense", dict(mask_threshold=0.999, fallback_mask_threshold=1.0))
    fallback = create_predictor("dense", dict(mask_threshold=0.999, fallback_mask_threshold=0.5))
    loose = create_predictor("dense", dict(mask_threshold=0.5, min_relative_quality=0.0))
    assert fallback.model.config.postprocess.fallback_mask_threshold == 0.5
    filled = 0
    for index in range(4):
        scene = render_scene(HELD_OUT_SEED, index, SceneConfig(view="robot"))
        sure, rescued, every = (p.predict(scene.image, max_grasps=10) for p in (strict, fallback, loose))
        assert rescued == (sure or every[:1])
        filled += not sure and bool(every)
    assert filled > 0
    with pytest.raises(ValueError, match=r"fallback_mask_threshold: must be -1 \(the model's own\) or within"):
        create_predictor("dense", dict(fallback_mask_threshold=-0.5))


def test_the_flip_average_option_overrides_the_models_own_choice(predictor) -> None:
    """dense.flip_average on/off sets test-time flipping for this predictor; model keeps the file's."""
    shipped = json.loads((EMBEDDED_MODEL / CONFIG_NAME).read_text())["model"].get("flip_average", False)
    assert predictor.model.config.flip_average == shipped
    on, off = create_predictor("dense", dict(flip_average="on")), create_predictor("dense", dict(flip_average="off"))
    assert (on.model.config.flip_average, off.model.config.flip_average) == (True, False)
    scene = render_scene(HELD_OUT_SEED, 0, SceneConfig(view="robot"))
    mirror = np.ascontiguousarray(scene.image[:, ::-1])
    # Flipped and averaged, a scene and its mirror image give mirrored maps (up to resize rounding).
    maps, mirrored = on.predict_maps(scene.image)[0], on.predict_maps(mirror)[0].mirrored()
    assert np.abs(maps.quality - mirrored.quality).mean() < 1e-3
    plain, plain_mirrored = off.predict_maps(scene.image)[0], off.predict_maps(mirror)[0].mirrored()
    assert np.abs(plain.quality - plain_mirrored.quality).mean() > 10 * np.abs(maps.quality - mirrored.quality).mean()
    with pytest.raises(ValueError, match="flip_average must be one of model, on, off"):
        create_predictor("dense", dict(flip_average="yes"))


def test_it_refuses_what_is_not_an_rgb_image(predictor) -> None:
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        predictor.predict(np.zeros((48, 64), np.uint8))


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        create_predictor("dense", dict(device="cuda:3"))


def test_a_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"{tmp_path / 'nothing'}: no such checkpoint folder"):
        create_predictor("dense", dict(model_path=str(tmp_path / "nothing")))


@pytest.fixture(scope="module")
def dense_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraspNodeProcess]:
    with running_node(tmp_path_factory.mktemp("dense_node"), {"backend": "dense", "dense.device": "cpu"}) as process:
        yield process


def test_the_node_serves_the_dense_models_grasps(dense_node: GraspNodeProcess, predictor) -> None:
    probe = RosProbe("test_dense_probe")
    try:
        rgb = render_scene(HELD_OUT_SEED, 3).image
        result = CameraLink(probe).ask(rgb)
        expected = predictor.predict(rgb, max_grasps=10)
        assert (result.backend, result.model) == ("dense", "embedded:dense_lite0_synthetic")
        assert len(result.grasps) == len(expected) > 0
        for got, want in zip(result.grasps, expected):
            assert (got.center_x, got.center_y, got.theta, got.width, got.score) == pytest.approx(
                (want.cx, want.cy, want.theta, want.width, want.score), abs=1e-3
            )
    finally:
        probe.close()
