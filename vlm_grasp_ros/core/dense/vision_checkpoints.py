"""Vision towers from the folders users download, in whatever layout they were released.

InternViT ships three ways, all loaded here into transformers' ``InternVLVisionModel``
without remote code:

* the original release (``OpenGVLab/InternViT-300M-448px`` and ``-V2_5``, the 6B variants):
  ``"model_type": "intern_vit_6b"``, InternVL's own key names (``embeddings.class_embedding``,
  ``encoder.layers.N.attn.qkv`` fused, ``ls1``, ``norm1``, ...). Its config's field names differ
  too, and the remote code's defaults are the 6B's, so every field is read from the file;
* a transformers-native ``InternVLVisionModel`` folder (``"model_type": "internvl_vision"``);
* a whole InternVL model: ``InternVL3-1B-hf`` and larger (``"model_type": "internvl"``, the
  tower under ``vision_tower.`` or ``model.vision_tower.``), or an original InternVL chat model
  (``"model_type": "internvl_chat"``, the tower under ``vision_model.`` in the original names).

The Qwen2-VL tower loads from a whole ``Qwen2-VL-2B/7B-Instruct`` folder (nobody publishes the
tower alone): ``visual.*`` in the released layout, ``model.visual.*`` as transformers 5 saves
it; or from a vision-only folder (``"model_type": "qwen2_vl_vision"``).

The key and config mappings below are the one place that knows the released layouts; weights
are read from safetensors (sharded or not), or from a PyTorch ``.bin`` with
``torch.load(weights_only=True)``. Whatever does not fit is refused, naming the file and the
first key that is missing or left over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

#: Original InternViT config field -> InternVLVisionConfig field (where the name differs).
_INTERNVIT_CONFIG_FIELDS = {
    "qkv_bias": "attention_bias",
    "qk_normalization": "use_qk_norm",
    "dropout": "hidden_dropout_prob",
}
_INTERNVIT_COPIED_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "layer_norm_eps",
    "norm_type",
    "num_channels",
    "attention_dropout",
    "initializer_factor",
    "image_size",
    "patch_size",
)
#: Original InternViT key (after its prefix) -> transformers key, by regular expression.
_INTERNVIT_KEYS = (
    (r"^embeddings\.class_embedding$", "embeddings.cls_token"),
    (r"^embeddings\.position_embedding$", "embeddings.position_embeddings"),
    (r"^embeddings\.patch_embedding\.", "embeddings.patch_embeddings.projection."),
    (r"^encoder\.layers\.(\d+)\.ls1$", r"encoder.layer.\1.lambda_1"),
    (r"^encoder\.layers\.(\d+)\.ls2$", r"encoder.layer.\1.lambda_2"),
    (r"^encoder\.layers\.(\d+)\.attn\.proj\.", r"encoder.layer.\1.attention.projection_layer."),
    (r"^encoder\.layers\.(\d+)\.attn\.(q_norm|k_norm)\.", r"encoder.layer.\1.attention.\2."),
    (r"^encoder\.layers\.(\d+)\.attn\.qkv\.", r"encoder.layer.\1.attention.qkv."),  # split below
    (r"^encoder\.layers\.(\d+)\.mlp\.", r"encoder.layer.\1.mlp."),
    (r"^encoder\.layers\.(\d+)\.norm1\.", r"encoder.layer.\1.layernorm_before."),
    (r"^encoder\.layers\.(\d+)\.norm2\.", r"encoder.layer.\1.layernorm_after."),
)


class VisionCheckpointError(ValueError):
    """A folder that is not a vision tower this loader knows, or whose weights do not fit."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; errors name the file (and the line)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise VisionCheckpointError(f"{path}: not found") from None
    except UnicodeDecodeError as error:
        raise VisionCheckpointError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise VisionCheckpointError(f"{path}:{error.lineno}: not valid JSON: {error.msg}") from None
    if not isinstance(value, dict):
        raise VisionCheckpointError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def read_weights(folder: Path, keep: Callable[[str], bool] = lambda key: True) -> tuple[dict[str, torch.Tensor], str]:
    """The tensors whose keys ``keep`` accepts, from every weights file of a checkpoint folder
    (an index lists the shards; only shards holding wanted keys are read). Returns them with
    the name of the file(s) they came from, for error messages."""
    for index_name, single_name in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index = folder / index_name
        if index.is_file():
            weight_map = read_json(index).get("weight_map")
            if not isinstance(weight_map, dict):
                raise VisionCheckpointError(f"{index}: no weight_map")
            shards = sorted({shard for key, shard in weight_map.items() if keep(key)})
            files = [folder / shard for shard in shards]
            break
        if (folder / single_name).is_file():
            files = [folder / single_name]
            break
    else:
        raise VisionCheckpointError(f"{folder}: no model.safetensors, pytorch_model.bin or an index of shards")
    tensors: dict[str, torch.Tensor] = {}
    for path in files:
        if not path.is_file():
            raise VisionCheckpointError(f"{path}: listed in the index but missing")
        try:
            # A .bin is a pickle: weights_only refuses anything but tensors and containers.
            shard = (
                load_file(str(path))
                if path.suffix == ".safetensors"
                else torch.load(path, map_location="cpu", weights_only=True)
            )
        except Exception as error:  # safetensors and torch raise several types
            raise VisionCheckpointError(f"{path}: unreadable weights: {type(error).__name__}: {error}") from None
        tensors.update({key: value for key, value in shard.items() if keep(key)})
    return tensors, ", ".join(p.name for p in files)


def _strip(prefix: str) -> Callable[[str], str | None]:
    return lambda key: key[len(prefix) :] if key.startswith(prefix) else None


def internvit_config_from_original(fields: dict[str, Any]) -> dict[str, Any]:
    """An original InternViT config.json's fields -> InternVLVisionConfig's (names, sizes as pairs)."""
    config = {name: fields[name] for name in _INTERNVIT_COPIED_FIELDS if name in fields}
    missing = [
        name
        for name in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "image_size",
            "patch_size",
            "qkv_bias",
            "qk_normalization",
            "norm_type",
        )
        if name not in fields
    ]
    if missing:
        # The remote code's defaults are the 6B's, not the 300M's: never guess them.
        raise VisionCheckpointError(f"the InternViT config lacks {', '.join(missing)}")
    for original, native in _INTERNVIT_CONFIG_FIELDS.items():
        if original in fields:
            config[native] = fields[original]
    for name in ("image_size", "patch_size"):
        config[name] = [int(config[name])] * 2 if isinstance(config[name], int) else list(config[name])
    return config


def _internvit_keys_from_original(tensors: dict[str, torch.Tensor], hidden: int) -> dict[str, torch.Tensor]:
    converted: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        for pattern, replacement in _INTERNVIT_KEYS:
            if re.search(pattern, key):
                key = re.sub(pattern, replacement, key)
                break
        else:
            converted[key] = value  # not a known name: left for the strict load to report
            continue
        if ".attention.qkv." in key:  # InternViT fuses q, k, v by rows
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), value.split(hidden, dim=0)):
                converted[key.replace(".qkv.", f".{part}.")] = chunk
        else:
            converted[key] = value
    return converted


def load_internvit(folder: str | Path) -> nn.Module:
    """An ``InternVLVisionModel`` (float32, eval) from any of the layouts in this module's docstring."""
    from transformers import InternVLVisionConfig, InternVLVisionModel

    folder = Path(folder)
    config_path, fields = _folder_config(folder, "InternViT or InternVL")
    model_type = fields.get("model_type")
    if model_type == "internvl_vision":
        native_config, rename, original_names = fields, _strip(""), False
    elif model_type == "intern_vit_6b":
        native_config, rename, original_names = internvit_config_from_original(fields), _strip(""), True
    elif model_type == "internvl" and isinstance(fields.get("vision_config"), dict):
        prefix = _vision_prefix(folder, ("model.vision_tower.", "vision_tower."))
        native_config, rename, original_names = fields["vision_config"], _strip(prefix), False
    elif model_type == "internvl_chat" and isinstance(fields.get("vision_config"), dict):
        native_config = internvit_config_from_original(fields["vision_config"])
        rename, original_names = _strip("vision_model."), True
    else:
        raise VisionCheckpointError(
            f"{config_path}: model_type {model_type!r} is not an InternViT or InternVL model "
            "(intern_vit_6b, internvl_vision, internvl, internvl_chat)"
        )
    config = _config_of(InternVLVisionConfig, native_config)
    tensors, source = _renamed_weights(folder, rename)
    if original_names:
        tensors = _internvit_keys_from_original(tensors, config.hidden_size)
    model = InternVLVisionModel(config)
    note = " (keys in transformers' names: InternViT's attn.qkv is q_proj, k_proj, v_proj)" if original_names else ""
    _load_strict(model, tensors, source, note)
    return model.float().eval()


def _folder_config(folder: Path, what: str) -> tuple[Path, dict[str, Any]]:
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise VisionCheckpointError(f"{folder}: no config.json; expected a downloaded {what} folder")
    return config_path, read_json(config_path)


def _vision_prefix(folder: Path, candidates: tuple[str, ...]) -> str:
    """Which of ``candidates`` the folder's weight keys use (hub repos differ by age)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        keys = list(read_json(index).get("weight_map", {}))
    else:
        from safetensors import safe_open

        single = folder / "model.safetensors"
        if not single.is_file():
            raise VisionCheckpointError(f"{folder}: no model.safetensors or model.safetensors.index.json")
        with safe_open(str(single), "pt") as handle:
            keys = list(handle.keys())
    for prefix in candidates:
        if any(key.startswith(prefix) for key in keys):
            return prefix
    raise VisionCheckpointError(f"{folder}: no weights under {' or '.join(candidates)}")


def _config_of(config_class: Any, fields: dict[str, Any]) -> Any:
    """``config_class`` from the fields it knows (released configs carry others: architectures, ...)."""
    known = set(config_class().to_dict())
    return config_class(**{k: v for k, v in fields.items() if k in known and k != "model_type"})


def _renamed_weights(folder: Path, rename: Callable[[str], str | None]) -> tuple[dict[str, torch.Tensor], Path]:
    """The tensors ``rename`` keeps, under their new names, and the file (or folder) they came from."""
    raw, source = read_weights(folder, lambda key: rename(key) is not None)
    tensors = {name: value for key, value in raw.items() if (name := rename(key)) is not None}
    return tensors, folder / source if "," not in source else folder


def _load_strict(model: nn.Module, tensors: dict[str, torch.Tensor], source: Path, note: str = "") -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        what = (
            (f"{len(missing)} missing, first {missing[0]!r}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"{len(unexpected)} not in {type(model).__name__}, first {unexpected[0]!r}" if unexpected else "")
        )
        raise VisionCheckpointError(f"{source}: the weights do not fit {type(model).__name__} ({what}){note}")
    wrong = [key for key, value in tensors.items() if tuple(value.shape) != tuple(expected[key].shape)]
    if wrong:
        key = wrong[0]
        raise VisionCheckpointError(
            f"{source}: {key} has shape {tuple(tensors[key].shape)}, the config gives {tuple(expected[key].shape)}"
        )
    model.load_state_dict({key: value.to(expected[key].dtype) for key, value in tensors.items()}, strict=True)


#: Released Qwen2-VL vision_config field -> Qwen2VLVisionConfig field (where the name differs).
_QWEN2VL_CONFIG_FIELDS = {"in_chans": "in_channels"}


def load_qwen2vl_vision(folder: str | Path) -> nn.Module:
    """A ``Qwen2VisionTransformerPretrainedModel`` (float32, eval) from a whole Qwen2-VL folder or a
    vision-only one."""
    from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    folder = Path(folder)
    config_path, fields = _folder_config(folder, "Qwen2-VL")
    model_type = fields.get("model_type")
    if model_type == "qwen2_vl" and isinstance(fields.get("vision_config"), dict):
        vision = {_QWEN2VL_CONFIG_FIELDS.get(k, k): v for k, v in fields["vision_config"].items()}
        rename = _strip(_vision_prefix(folder, ("model.visual.", "visual.")))
    elif model_type == "qwen2_vl_vision":
        vision, rename = fields, _strip("")
    else:
        raise VisionCheckpointError(
            f"{config_path}: model_type {model_type!r} is not a Qwen2-VL model "
            "(qwen2_vl with a vision_config, or qwen2_vl_vision)"
        )
    model = Qwen2VisionTransformerPretrainedModel(_config_of(Qwen2VLVisionConfig, vision))
    _load_strict(model, *_renamed_weights(folder, rename))
    return model.float().eval()
