"""Averaging dense checkpoints: the mean of the decoders, one architecture only, provenance kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training.average_checkpoints import average_checkpoints, main
from vlm_grasp_ros.core.dense.checkpoint import WEIGHTS_NAME, CheckpointError, load_checkpoint, save_checkpoint
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig


def _checkpoint(folder: Path, seed: int, channels: int = 16) -> Path:
    torch.manual_seed(seed)
    config = DenseModelConfig(
        encoder=EncoderConfig("efficientnet_lite0", strides=(4, 8, 16)),
        decoder=DecoderConfig(channels=channels, head_channels=8, context_blocks=1),
        input_long_side=96,
    )
    model = DenseGraspModel(config)
    with torch.no_grad():  # BatchNorm statistics differ between the two, as after training
        for module in model.decoder.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                assert module.num_batches_tracked is not None
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.num_batches_tracked.fill_(seed + 1)
    return save_checkpoint(model, folder, extra={"training": {"seed": seed}})


def test_the_average_is_the_mean_of_every_weight_and_statistic(tmp_path: Path) -> None:
    first, second = _checkpoint(tmp_path / "a", seed=1), _checkpoint(tmp_path / "b", seed=2)
    main([str(first), str(second), "--out", str(tmp_path / "soup")])
    a, b = load_file(first / WEIGHTS_NAME), load_file(second / WEIGHTS_NAME)
    soup = load_file(tmp_path / "soup" / WEIGHTS_NAME)
    assert set(soup) == set(a)
    floating = [name for name in a if a[name].is_floating_point()]
    assert any("running_var" in name for name in floating) and len(floating) < len(a)
    assert sum(not torch.equal(a[name], b[name]) for name in floating) > len(floating) // 2
    for name in floating:
        torch.testing.assert_close(soup[name], (a[name] + b[name]) / 2)
    for name in set(a) - set(floating):  # integer step counters: the first checkpoint's
        assert torch.equal(soup[name], a[name])
    # The result loads through the released path, and records where it came from.
    loaded = load_checkpoint(tmp_path / "soup")
    assert loaded.config.decoder == load_checkpoint(first).config.decoder
    provenance = json.loads((tmp_path / "soup" / "config.json").read_text())["averaged_from"]
    assert provenance == [
        {"folder": str(first), "training": {"seed": 1}},
        {"folder": str(second), "training": {"seed": 2}},
    ]


def test_a_checkpoint_averaged_with_itself_gives_the_same_maps(tmp_path: Path) -> None:
    first = _checkpoint(tmp_path / "a", seed=3)
    model = average_checkpoints([first, first])
    reference = load_checkpoint(first)
    images = torch.randint(0, 255, (1, 64, 96, 3), dtype=torch.uint8)
    with torch.inference_mode():
        torch.testing.assert_close(model.eval()(images), reference(images))


def test_other_architectures_and_single_inputs_are_refused_by_name(tmp_path: Path) -> None:
    first, wider = _checkpoint(tmp_path / "a", seed=1), _checkpoint(tmp_path / "w", seed=2, channels=24)
    with pytest.raises(CheckpointError, match=rf"{wider}/config.json: model.decoder is .*channels=24"):
        average_checkpoints([first, wider])
    with pytest.raises(ValueError, match="at least two checkpoints, got 1"):
        average_checkpoints([first])
    with pytest.raises(SystemExit, match=rf"{tmp_path / 'missing'}: no such checkpoint folder"):
        main([str(first), str(tmp_path / "missing"), "--out", str(tmp_path / "soup")])
    assert not (tmp_path / "soup").exists()


def test_tuned_encoder_blocks_are_averaged_with_the_decoders(tmp_path: Path) -> None:
    folders = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        config = DenseModelConfig(
            encoder=EncoderConfig("efficientnet_lite0", strides=(4, 8, 16), tune_from_stride=16),
            decoder=DecoderConfig(channels=16, head_channels=8, context_blocks=1),
            input_long_side=96,
        )
        model = DenseGraspModel(config)
        with torch.no_grad():
            for parameter in model.encoder.tuned_parameters():
                parameter.add_(torch.randn_like(parameter) * 0.05)
        folders.append(save_checkpoint(model, tmp_path / str(seed)))
    soup = average_checkpoints(folders)
    a, b = (load_file(folder / WEIGHTS_NAME) for folder in folders)
    averaged = soup.trainable_state()
    encoder_keys = [name for name in a if name.startswith("encoder.")]
    assert encoder_keys and set(averaged) == set(a)
    for name in encoder_keys:
        assert not torch.equal(a[name], b[name])
        torch.testing.assert_close(averaged[name], (a[name] + b[name]) / 2)
