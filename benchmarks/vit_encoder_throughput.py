"""Milliseconds per frame of the ``internvit`` dense model (encoder + decoder) at real size.

    python benchmarks/vit_encoder_throughput.py --device cuda --dtype bfloat16 --batch 1 8

InternViT-300M-448px is built from its published configuration with random weights (the
cost is the same as the trained model's; nothing is downloaded), written as the release is laid
out (``--layout original``: InternViT's config fields and key names, fused qkv, bf16 safetensors)
or as transformers saves it (``native``), and loaded through the encoder's own loader, as a
user's download would be; then run at 448x448.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from vlm_grasp_ros.core.dense.decoder import DecoderConfig, parameter_count
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig
from vlm_grasp_ros.core.dense.vision_checkpoints import internvit_config_from_original

#: The config.json of OpenGVLab/InternViT-300M-448px as released (InternVL's remote-code field names).
RELEASED_CONFIG_PATH = Path(__file__).parent / "configs" / "InternViT-300M-448px.config.json"
_RELEASED_NAMES = (
    ("embeddings.cls_token", "embeddings.class_embedding"),
    ("embeddings.position_embeddings", "embeddings.position_embedding"),
    ("patch_embeddings.projection", "patch_embedding"),
    ("encoder.layer.", "encoder.layers."),
    ("lambda_1", "ls1"),
    ("lambda_2", "ls2"),
    ("attention.projection_layer", "attn.proj"),
    ("layernorm_before", "norm1"),
    ("layernorm_after", "norm2"),
)


def write_released_layout(native: dict[str, torch.Tensor], folder: Path) -> None:
    """transformers-native InternViT weights as the release stores them: q, k, v fused, its names, bf16."""
    released = {}
    for key, value in native.items():
        if ".attention.k_proj." in key or ".attention.v_proj." in key:
            continue
        if ".attention.q_proj." in key:
            value = torch.cat([native[key.replace("q_proj", part)] for part in ("q_proj", "k_proj", "v_proj")])
            key = key.replace("attention.q_proj", "attn.qkv")
        for old, new in _RELEASED_NAMES:
            key = key.replace(old, new)
        released[key] = value.to(torch.bfloat16).contiguous()
    (folder / "config.json").write_text(RELEASED_CONFIG_PATH.read_text())
    save_file(released, str(folder / "model.safetensors"), metadata={"format": "pt"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument(
        "--layout",
        default="original",
        choices=["original", "native"],
        help="the folder the encoder loads: as released (default) or as transformers saves it",
    )
    args = parser.parse_args()
    from transformers import InternVLVisionConfig, InternVLVisionModel

    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        native_fields = internvit_config_from_original(json.loads(RELEASED_CONFIG_PATH.read_text()))
        tower = InternVLVisionModel(InternVLVisionConfig(**native_fields))
        if args.layout == "original":
            write_released_layout(tower.state_dict(), Path(folder))
        else:
            tower.save_pretrained(folder)
        del tower
        config = DenseModelConfig(
            encoder=EncoderConfig("internvit", folder, strides=(4, 8, 16, 32)),
            decoder=DecoderConfig(channels=256, head_channels=48, context_blocks=6),
        )
        model = DenseGraspModel(config).to(device=device, dtype=dtype).eval()
    encoder_params = sum(p.numel() for p in model.encoder.parameters())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"internvit {encoder_params / 1e6:.1f} M + decoder {parameter_count(model.decoder) / 1e6:.2f} M params, "
        f"{args.dtype}, 448x448, loaded from the {args.layout} layout, on {name}"
    )
    print("| batch | ms per batch | ms per frame | frames/s |\n|---|---|---|---|")
    for batch in args.batch:
        images = torch.randint(0, 255, (batch, 448, 448, 3), dtype=torch.uint8, device=device)
        with torch.inference_mode():
            for _ in range(3):
                model.decode([f.to(dtype) for f in model.encoder(model.normalise(images).to(dtype))], (448, 448))
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(args.iterations):
                model.decode([f.to(dtype) for f in model.encoder(model.normalise(images).to(dtype))], (448, 448))
            if device.type == "cuda":
                torch.cuda.synchronize()
        per_batch = (time.perf_counter() - start) * 1000 / args.iterations
        print(f"| {batch} | {per_batch:.2f} | {per_batch / batch:.2f} | {1000 * batch / per_batch:.1f} |")


if __name__ == "__main__":
    main()
