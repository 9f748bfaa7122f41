"""Vision towers load from the folders users download: InternViT in its original release layout,
as a transformers-native folder and inside whole InternVL models, each giving the same features
as the native model with the same weights; folders that do not fit are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tests.helpers.tiny_vits import (
    INTERNVIT_HIDDEN,
    INTERNVIT_LAYERS,
    TINY_INTERNVIT,
    tiny_internvit,
    tiny_qwen2vl_tower,
)
from vlm_grasp_ros.core.dense.encoders import EncoderConfig, build_encoder
from vlm_grasp_ros.core.dense.vision_checkpoints import VisionCheckpointError, load_internvit

HIDDEN, LAYERS = INTERNVIT_HIDDEN, INTERNVIT_LAYERS
# The released InternViT-300M-448px key names (shared/reference/InternViT-300M-448px/keys.txt).
RELEASED_EMBEDDING_KEYS = {
    "embeddings.class_embedding",
    "embeddings.position_embedding",
    "embeddings.patch_embedding.weight",
    "embeddings.patch_embedding.bias",
}
RELEASED_LAYER_KEYS = {
    "ls1",
    "ls2",
    "attn.qkv.weight",
    "attn.qkv.bias",
    "attn.proj.weight",
    "attn.proj.bias",
    "mlp.fc1.weight",
    "mlp.fc1.bias",
    "mlp.fc2.weight",
    "mlp.fc2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
}
# The released config's fields (InternVisionConfig of InternVL's remote code), shrunk.
ORIGINAL_CONFIG = {
    "architectures": ["InternVisionModel"],
    "model_type": "intern_vit_6b",
    "auto_map": {
        "AutoConfig": "configuration_intern_vit.InternVisionConfig",
        "AutoModel": "modeling_intern_vit.InternVisionModel",
    },
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 56,
    "patch_size": 14,
    "qkv_bias": True,
    "qk_normalization": False,
    "norm_type": "layer_norm",
    "layer_norm_eps": 1e-6,
    "hidden_act": "gelu",
    "num_channels": 3,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "drop_path_rate": 0.0,
    "initializer_factor": 0.1,
    "initializer_range": 1e-10,
    "use_flash_attn": True,
    "torch_dtype": "bfloat16",
}


def original_keys(native: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' InternVLVisionModel weights under InternViT's released names (q, k, v fused)."""
    renames = {
        "cls_token": "class_embedding",
        "position_embeddings": "position_embedding",
        "patch_embeddings.projection": "patch_embedding",
        "lambda_1": "ls1",
        "lambda_2": "ls2",
        "attention.projection_layer": "attn.proj",
        "attention.q_norm": "attn.q_norm",
        "attention.k_norm": "attn.k_norm",
        "layernorm_before": "norm1",
        "layernorm_after": "norm2",
    }
    released: dict[str, torch.Tensor] = {}
    for key, value in native.items():
        if ".attention.k_proj." in key or ".attention.v_proj." in key:
            continue
        if ".attention.q_proj." in key:
            parts = [native[key.replace("q_proj", name)] for name in ("q_proj", "k_proj", "v_proj")]
            key, value = key.replace("attention.q_proj", "attn.qkv"), torch.cat(parts)
        for old, new in renames.items():
            key = key.replace(old, new)
        released[key.replace("encoder.layer.", "encoder.layers.")] = value.clone()
    return released


def write_sharded(folder: Path, tensors: dict[str, torch.Tensor]) -> None:
    keys = sorted(tensors)
    halves = {
        "model-00001-of-00002.safetensors": keys[: len(keys) // 2],
        "model-00002-of-00002.safetensors": keys[len(keys) // 2 :],
    }
    for name, part in halves.items():
        save_file({key: tensors[key].contiguous() for key in part}, str(folder / name), metadata={"format": "pt"})
    index = {"metadata": {"total_size": 0}, "weight_map": {key: name for name, part in halves.items() for key in part}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from transformers import InternVLVisionConfig

    root = tmp_path_factory.mktemp("internvit_layouts")
    native_config = InternVLVisionConfig(**TINY_INTERNVIT, attention_bias=True)
    model = tiny_internvit(seed=0, jitter=0.05, attention_bias=True)
    model.save_pretrained(root / "native")
    state = model.state_dict()
    released = original_keys(state)

    (root / "original").mkdir()
    (root / "original" / "config.json").write_text(json.dumps(ORIGINAL_CONFIG, indent=2))
    save_file(released, str(root / "original" / "model.safetensors"), metadata={"format": "pt"})

    (root / "internvl_hf").mkdir()
    vision = native_config.to_dict()
    (root / "internvl_hf" / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["InternVLForConditionalGeneration"],
                "model_type": "internvl",
                "vision_config": vision,
                "text_config": {"model_type": "qwen2", "hidden_size": 64},
                "image_token_id": 151667,
            }
        )
    )
    whole = {f"vision_tower.{key}": value for key, value in state.items()}
    whole.update(
        {
            "multi_modal_projector.linear_1.weight": torch.zeros(64, HIDDEN * 4),
            "language_model.model.embed_tokens.weight": torch.zeros(10, 64),
            "language_model.lm_head.weight": torch.zeros(10, 64),
        }
    )
    write_sharded(root / "internvl_hf", whole)

    (root / "internvl_chat").mkdir()
    (root / "internvl_chat" / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["InternVLChatModel"],
                "model_type": "internvl_chat",
                "vision_config": ORIGINAL_CONFIG,
                "llm_config": {"model_type": "qwen2"},
            }
        )
    )
    chat = {f"vision_model.{key}": value for key, value in released.items()}
    chat["mlp1.0.weight"] = torch.zeros(HIDDEN * 4)
    save_file(chat, str(root / "internvl_chat" / "model.safetensors"))
    return {
        "native": root / "native",
        "original": root / "original",
        "internvl_hf": root / "internvl_hf",
        "internvl_chat": root / "internvl_chat",
    }


def test_the_tiny_release_uses_the_released_names(folders: dict[str, Path]) -> None:
    from safetensors import safe_open

    with safe_open(str(folders["original"] / "model.safetensors"), "pt") as handle:
        keys = set(handle.keys())
    assert {k for k in keys if k.startswith("embeddings.")} == RELEASED_EMBEDDING_KEYS
    for layer in range(LAYERS):
        prefix = f"encoder.layers.{layer}."
        assert {k[len(prefix) :] for k in keys if k.startswith(prefix)} == RELEASED_LAYER_KEYS


@pytest.mark.parametrize("layout", ["original", "internvl_hf", "internvl_chat"])
def test_every_layout_gives_the_native_models_features(folders: dict[str, Path], layout: str) -> None:
    pixels = torch.randn(1, 3, 56, 56)
    native = build_encoder(EncoderConfig("internvit", str(folders["native"]), strides=(4, 8, 16)))
    loaded = build_encoder(EncoderConfig("internvit", str(folders[layout]), strides=(4, 8, 16)))
    with torch.no_grad():
        for expected, got in zip(native(pixels), loaded(pixels)):
            assert got.shape == expected.shape
            assert torch.allclose(got, expected, atol=1e-4), float((got - expected).abs().max())


def test_the_6b_variants_layout_rms_norm_and_qk_norm_loads_too(tmp_path: Path) -> None:
    """InternViT-6B: RMSNorm (weights only), q/k normalisation over the whole width, no qkv bias."""
    native = tiny_internvit(
        seed=2, jitter=0.05, num_hidden_layers=2, attention_bias=False, use_qk_norm=True, norm_type="rms_norm"
    )
    released = original_keys(native.state_dict())
    assert "encoder.layers.0.attn.q_norm.weight" in released and "encoder.layers.0.norm1.bias" not in released
    (tmp_path / "config.json").write_text(
        json.dumps(
            dict(ORIGINAL_CONFIG, num_hidden_layers=2, qkv_bias=False, qk_normalization=True, norm_type="rms_norm")
        )
    )
    save_file(released, str(tmp_path / "model.safetensors"))
    loaded = load_internvit(tmp_path)
    pixels = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.allclose(
            loaded(pixel_values=pixels).last_hidden_state, native(pixel_values=pixels).last_hidden_state, atol=1e-4
        )


def test_a_folder_that_does_not_fit_is_refused_by_file_and_key(folders: dict[str, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps(ORIGINAL_CONFIG))
    tensors = load_file(str(folders["original"] / "model.safetensors"))
    del tensors["encoder.layers.1.attn.qkv.weight"]
    save_file(tensors, str(broken / "model.safetensors"))
    with pytest.raises(
        VisionCheckpointError,
        match=r"model\.safetensors: the weights do not fit .*3 missing, "
        r"first 'encoder\.layer\.1\.attention\.k_proj\.weight'.*qkv",
    ):
        load_internvit(broken)

    deeper = dict(ORIGINAL_CONFIG, num_hidden_layers=LAYERS + 1)  # a config the weights do not match
    (broken / "config.json").write_text(json.dumps(deeper))
    with pytest.raises(VisionCheckpointError, match="missing"):
        load_internvit(broken)

    no_defaults = {k: v for k, v in ORIGINAL_CONFIG.items() if k != "qk_normalization"}
    (broken / "config.json").write_text(json.dumps(no_defaults))
    with pytest.raises(VisionCheckpointError, match="lacks qk_normalization"):
        load_internvit(broken)

    (broken / "config.json").write_text('{\n  "model_type": "intern_vit_6b",\n  oops\n}')
    with pytest.raises(VisionCheckpointError, match=r"config\.json:3: not valid JSON"):
        load_internvit(broken)

    (broken / "config.json").write_text(json.dumps({"model_type": "clip_vision_model"}))
    with pytest.raises(VisionCheckpointError, match="'clip_vision_model' is not an InternViT"):
        load_internvit(broken)


# Qwen2-VL: nobody publishes the tower alone; users have the whole Qwen2-VL-2B-Instruct folder.
QWEN2VL_RELEASED_VISION_CONFIG = {
    "depth": 2,
    "embed_dim": 32,
    "mlp_ratio": 2,
    "num_heads": 2,
    "in_chans": 3,
    "hidden_size": 48,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "spatial_patch_size": 14,
    "temporal_patch_size": 2,
}


@pytest.fixture(scope="module")
def qwen2vl_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen2vl_layouts")
    tower = tiny_qwen2vl_tower(seed=1, hidden_size=48)
    tower.save_pretrained(root / "vision_only")
    folders = {"vision_only": root / "vision_only"}
    # The released config.json (shrunk), with the language model beside the tower.
    config = {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        "hidden_size": 48,
        "num_hidden_layers": 1,
        "vocab_size": 10,
        "tie_word_embeddings": True,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 2, 2]},
        "torch_dtype": "bfloat16",
        "vision_config": QWEN2VL_RELEASED_VISION_CONFIG,
    }
    for layout, prefix in (("released", "visual."), ("transformers5", "model.visual.")):
        folder = root / layout
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config))
        language = "model.language_model." if layout == "transformers5" else "model."
        tensors = {f"{prefix}{key}": value.clone() for key, value in tower.state_dict().items()}
        tensors.update(
            {
                f"{language}embed_tokens.weight": torch.zeros(10, 48),
                f"{language}layers.0.mlp.up_proj.weight": torch.zeros(8, 48),
            }
        )
        write_sharded(folder, tensors)
        folders[layout] = folder
    return folders


@pytest.mark.parametrize("layout", ["released", "transformers5"])
def test_a_whole_qwen2vl_folder_gives_the_vision_only_towers_features(
    qwen2vl_folders: dict[str, Path], layout: str
) -> None:
    pixels = torch.randn(1, 3, 56, 84)
    alone = build_encoder(EncoderConfig("qwen2vl_vit", str(qwen2vl_folders["vision_only"]), strides=(8, 16)))
    whole = build_encoder(EncoderConfig("qwen2vl_vit", str(qwen2vl_folders[layout]), strides=(8, 16)))
    with torch.no_grad():
        for expected, got in zip(alone(pixels), whole(pixels)):
            assert torch.allclose(got, expected, atol=1e-4)


def test_a_qwen2vl_folder_without_the_tower_is_refused(qwen2vl_folders: dict[str, Path], tmp_path: Path) -> None:
    from vlm_grasp_ros.core.dense.vision_checkpoints import load_qwen2vl_vision

    folder = tmp_path / "language_only"
    folder.mkdir()
    (folder / "config.json").write_text((qwen2vl_folders["released"] / "config.json").read_text())
    save_file({"model.embed_tokens.weight": torch.zeros(10, 48)}, str(folder / "model.safetensors"))
    with pytest.raises(VisionCheckpointError, match="no weights under model.visual. or visual."):
        load_qwen2vl_vision(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    with pytest.raises(VisionCheckpointError, match="'qwen2_5_vl' is not a Qwen2-VL model"):
        load_qwen2vl_vision(folder)
