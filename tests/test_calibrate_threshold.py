"""Choosing a dense model's score and mask thresholds on validation scenes, and storing them."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training import calibrate_threshold
from vlm_grasp_ros.core.dense.checkpoint import load_checkpoint, save_checkpoint
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig
from vlm_grasp_ros.core.predictors.dense import DensePredictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig
from vlm_grasp_ros.core.synthetic.writer import write_synthetic_dataset


def _tiny_model(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    config = DenseModelConfig(
        encoder=EncoderConfig("efficientnet_lite0", "", strides=(4, 8, 16)),
        decoder=DecoderConfig(channels=16, head_channels=8, context_blocks=1),
        input_long_side=96,
    )
    return save_checkpoint(DenseGraspModel(config).eval(), folder)


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["calibrate_threshold", *args])
    calibrate_threshold.main()


def test_both_thresholds_are_chosen_together_and_written_into_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenes = tmp_path / "val"
    write_synthetic_dataset(scenes, 4, seed=5, config=SceneConfig(width=160, height=120, view="robot"), progress=False)
    model_folder = _tiny_model(tmp_path / "model", seed=0)
    out = tmp_path / "calibration"
    _run(monkeypatch, "--root", str(scenes), "--out", str(out), "--model-path", str(model_folder),
         "--mask-thresholds", "0.5", "0.9", "--max-background", "0.5", "--write")  # fmt: skip

    report = json.loads((out / "calibration.json").read_text())
    rows, chosen = report["rows"], report["chosen"]
    assert {row["mask_threshold"] for row in rows} == {0.5, 0.9} and chosen in rows
    passing = [row for row in rows if row["background_scenes"] <= 0.5]
    if passing:  # the best top-1 under the target, whichever mask threshold gives it
        assert chosen["top1_hit"] == max(row["top1_hit"] for row in passing)
    else:
        assert chosen["background_scenes"] == min(row["background_scenes"] for row in rows)
    saved = load_checkpoint(model_folder, torch.device("cpu")).config
    postprocess = saved.postprocess
    assert (
        postprocess.min_quality,
        postprocess.mask_threshold,
        postprocess.min_relative_quality,
        postprocess.fallback_mask_threshold,
    ) == (chosen["threshold"], chosen["mask_threshold"], chosen["relative_threshold"], chosen["fallback_threshold"])
    # A relative cut only removes a frame's weaker grasps: never more grasps, never another top-1.
    for mask_threshold in (0.5, 0.9):
        by_relative = {
            row["relative_threshold"]: row for row in rows if row["mask_threshold"] == mask_threshold
            and row["threshold"] == 0.05 and row["fallback_threshold"] == 1.0
        }  # fmt: skip
        assert (
            by_relative[0.7]["grasps_per_image"]
            <= by_relative[0.5]["grasps_per_image"]
            <= by_relative[0.0]["grasps_per_image"]
        )
        assert by_relative[0.7]["top1_hit"] == by_relative[0.0]["top1_hit"]
    # Fallbacks are tried below each mask threshold only (at 0.5 every default one would never fire);
    # one only adds a grasp to frames that had none: never fewer grasps, hits or background scenes.
    assert {row["fallback_threshold"] for row in rows if row["mask_threshold"] == 0.5} == {1.0}
    assert {row["fallback_threshold"] for row in rows if row["mask_threshold"] == 0.9} == {1.0, 0.5, 0.7, 0.8}
    strict = [row for row in rows if row["mask_threshold"] == 0.9 and row["fallback_threshold"] == 1.0]
    for fallback in (0.5, 0.7, 0.8):
        looser = [row for row in rows if row["mask_threshold"] == 0.9 and row["fallback_threshold"] == fallback]
        assert [(r["relative_threshold"], r["threshold"]) for r in looser] == [
            (r["relative_threshold"], r["threshold"]) for r in strict
        ]
        for with_fallback, without in zip(looser, strict):
            for figure in ("top1_hit", "background_scenes", "grasps_per_image"):
                assert with_fallback[figure] >= without[figure]
            assert with_fallback["grasps_per_image"] <= without["grasps_per_image"] + 1
    assert f"mask {chosen['mask_threshold']:.2f}" in (out / "calibration.md").read_text()
    assert saved.flip_average is False and report["flip_average"] is False

    # Calibrated with test-time flipping, the checkpoint keeps flipping with its new thresholds.
    _run(monkeypatch, "--root", str(scenes), "--out", str(out), "--model-path", str(model_folder),
         "--mask-thresholds", "0.5", "--max-background", "0.5", "--flip-average", "on", "--write")  # fmt: skip
    flipped = json.loads((out / "calibration.json").read_text())
    assert flipped["flip_average"] is True and "test-time flip on" in (out / "calibration.md").read_text()
    assert flipped["rows"] != [row for row in rows if row["mask_threshold"] == 0.5]  # other maps, other figures
    assert load_checkpoint(model_folder, torch.device("cpu")).config.flip_average is True


def test_mask_thresholds_outside_zero_to_one_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="mask-thresholds"):
        _run(monkeypatch, "--root", str(tmp_path), "--out", str(tmp_path / "o"), "--mask-thresholds", "1.5")


def test_several_roots_are_calibrated_as_one_set_of_scenes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    robot = SceneConfig(width=160, height=120, view="robot")
    first, second, together = tmp_path / "a", tmp_path / "b", tmp_path / "ab"
    write_synthetic_dataset(first, 3, seed=5, config=robot, progress=False)
    write_synthetic_dataset(second, 2, seed=6, config=SceneConfig(width=160, height=120, view="bullet"), progress=False)
    together.mkdir()
    for path in [*first.iterdir(), *second.iterdir()]:
        (together / path.name).write_bytes(path.read_bytes())
    model_folder = str(_tiny_model(tmp_path / "model", seed=1))
    common = ["--model-path", model_folder, "--mask-thresholds", "0.5", "--max-background", "0.5"]
    _run(monkeypatch, "--root", str(first), str(second), "--out", str(tmp_path / "two"), *common)
    _run(monkeypatch, "--root", str(together), "--out", str(tmp_path / "one"), *common)
    two = json.loads((tmp_path / "two" / "calibration.json").read_text())
    one = json.loads((tmp_path / "one" / "calibration.json").read_text())
    assert two["rows"] == one["rows"] and two["chosen"] == one["chosen"]
    assert f"`{first}`, `{second}`" in (tmp_path / "two" / "calibration.md").read_text()


def test_empty_scenes_are_priced_as_background_and_leave_top1_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scenes with no objects enter only the background share, each one with any grasp counting."""
    robot = SceneConfig(width=160, height=120, view="robot")
    objects, empty = tmp_path / "objects", tmp_path / "empty"
    write_synthetic_dataset(objects, 3, seed=5, config=robot, progress=False)
    write_synthetic_dataset(empty, 3, seed=8, config=dataclasses.replace(robot, empty_share=1.0), progress=False)
    model_folder = str(_tiny_model(tmp_path / "model", seed=3))
    common = ["--model-path", model_folder, "--mask-thresholds", "0.0", "0.9", "--max-background", "0.5"]
    _run(monkeypatch, "--root", str(objects), "--out", str(tmp_path / "alone"), *common)
    _run(monkeypatch, "--root", str(objects), str(empty), "--out", str(tmp_path / "with_empty"), *common)
    alone = json.loads((tmp_path / "alone" / "calibration.json").read_text())["rows"]
    with_empty = json.loads((tmp_path / "with_empty" / "calibration.json").read_text())["rows"]
    assert len(alone) == len(with_empty)
    for without, row in zip(alone, with_empty):
        for figure in ("top1_hit", "precision", "on_object_top5", "grasps_per_image"):
            assert row[figure] == without[figure]
        assert without["unlabelled_with_grasp"] is None and row["unlabelled_with_grasp"] is not None
        assert row["background_scenes"] == pytest.approx(
            (3 * without["background_scenes"] + 3 * row["unlabelled_with_grasp"]) / 6
        )
    assert any(
        row["unlabelled_with_grasp"] > 0 for row in with_empty
    )  # with no mask threshold a random model grasps the room
    assert "empty scenes with a grasp" in (tmp_path / "with_empty" / "calibration.md").read_text()
    # A limit on empty tables with a grasp: the pick honours it (high score thresholds give none).
    quiet = tmp_path / "quiet"
    _run(monkeypatch, "--root", str(objects), str(empty), "--out", str(quiet), *common, "--max-empty-with-grasp", "0")
    chosen = json.loads((quiet / "calibration.json").read_text())["chosen"]
    assert chosen["unlabelled_with_grasp"] == 0.0 and chosen["background_scenes"] <= 0.5
    assert "a grasp on at most 0% of the scenes with no objects" in (quiet / "calibration.md").read_text()
    with pytest.raises(SystemExit, match="--max-empty-with-grasp must lie in"):
        _run(monkeypatch, "--root", str(objects), "--out", str(quiet), *common, "--max-empty-with-grasp", "1.5")
    with pytest.raises(SystemExit, match="no scene has labels"):
        _run(monkeypatch, "--root", str(empty), "--out", str(tmp_path / "only_empty"), *common)


def test_the_network_runs_once_per_scene_and_each_threshold_gives_what_a_fresh_predictor_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic_dataset(tmp_path / "val", 3, seed=7, config=SceneConfig(width=160, height=120), progress=False)
    samples = calibrate_threshold._load_scenes([str(tmp_path / "val")])
    model_folder = _tiny_model(tmp_path / "model", seed=2)
    cached = calibrate_threshold.MapsOnce(DensePredictor.from_path(str(model_folder), "cpu", "torch"))
    network_runs = 0
    predict_maps = cached.predictor.predict_maps

    def counted(image: np.ndarray) -> tuple:
        nonlocal network_runs
        network_runs += 1
        return predict_maps(image)

    monkeypatch.setattr(cached.predictor, "predict_maps", counted)
    for mask_threshold in (0.0, 0.5):
        fresh = DensePredictor.from_path(str(model_folder), "cpu", "torch")
        postprocess = dataclasses.replace(
            fresh.model.config.postprocess, min_quality=0.05, mask_threshold=mask_threshold
        )
        fresh.model.config.postprocess = postprocess
        cached.predictor.model.config.postprocess = postprocess
        for sample in samples:
            assert cached.predict(sample.image, max_grasps=10) == fresh.predict(sample.image, max_grasps=10)
    assert network_runs == len(samples) == 3
    assert cached.predict(samples[0].image, max_grasps=10)  # a random model still gives grasps at mask 0.5
    calibrate_threshold._sweep(cached, samples, 0.9, 0.5, 0.5, max_grasps=10)  # the scoring path reuses the maps too
    assert network_runs == 3


def test_with_the_support_plane_check_background_only_falls_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check only removes grasps, so no threshold pair can gain a background scene; its
    thresholds hold only with depth, so they are never written into the checkpoint."""
    scenes = tmp_path / "val"
    write_synthetic_dataset(scenes, 4, seed=5, config=SceneConfig(width=160, height=120, view="robot"), progress=False)
    model_folder = str(_tiny_model(tmp_path / "model", seed=3))
    common = [
        "--root",
        str(scenes),
        "--model-path",
        model_folder,
        "--mask-thresholds",
        "0.0",
        "0.5",
    ]  # 0: the untrained mask passes every peak
    _run(monkeypatch, *common, "--out", str(tmp_path / "colour"))
    _run(monkeypatch, *common, "--out", str(tmp_path / "depth"), "--support-plane")
    colour = json.loads((tmp_path / "colour" / "calibration.json").read_text())
    depth = json.loads((tmp_path / "depth" / "calibration.json").read_text())
    assert (colour["support_plane"], depth["support_plane"]) == (False, True)
    # The node has no relative threshold of its own: with depth the checkpoint's (0 here) is kept.
    assert {row["relative_threshold"] for row in depth["rows"]} == {0.0}
    assert {row["relative_threshold"] for row in colour["rows"]} == set(calibrate_threshold.RELATIVE_THRESHOLDS)
    colour_rows = [row for row in colour["rows"] if row["relative_threshold"] == 0.0]
    pairs = [(c, d) for c, d in zip(colour_rows, depth["rows"], strict=True)]
    assert all((c["mask_threshold"], c["threshold"]) == (d["mask_threshold"], d["threshold"]) for c, d in pairs)
    assert all(d["background_scenes"] <= c["background_scenes"] for c, d in pairs)
    assert any(d["background_scenes"] < c["background_scenes"] for c, d in pairs)
    with pytest.raises(SystemExit, match="set them as dense.mask_threshold"):
        _run(monkeypatch, *common, "--out", str(tmp_path / "x"), "--support-plane", "--write")
    top_down = tmp_path / "top_down"
    write_synthetic_dataset(top_down, 2, seed=5, config=SceneConfig(width=160, height=120), progress=False)
    with pytest.raises(SystemExit, match="2 scenes could not be checked"):
        _run(monkeypatch, "--root", str(top_down), "--model-path", model_folder, "--out", str(tmp_path / "y"),
             "--mask-thresholds", "0.5", "--support-plane")  # fmt: skip
