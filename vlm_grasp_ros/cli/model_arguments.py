"""The model arguments shared by `vlm-grasp predict` and `vlm-grasp eval`, and their one mapping
to the registry's :class:`BackendOptions`."""

from __future__ import annotations

import argparse

from vlm_grasp_ros.core.predictors.registry import BackendOptions


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-path", default="", help="model folder for dense/vlm (default: the backend's own; "
                        "dense: the embedded model)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, cuda or cuda:N")
    vlm = parser.add_argument_group("vlm backend")
    vlm.add_argument("--adapter-path", default="", help="LoRA adapter folder (training/train_lora.py's best/)")
    vlm.add_argument("--quantization", default="none", choices=("none", "nf4"), help="4-bit language model (bitsandbytes)")
    vlm.add_argument("--ensemble-size", type=int, default=1, help="views per image, run as one batch and merged")
    vlm.add_argument("--num-grasps", type=int, default=1, help="distinct grasps per image (beam search when > 1)")
    vlm.add_argument("--max-pixels", type=int, default=0,
                     help="image pixel budget, 32x32 pixels per image token (0 = the model folder's own; a 1080p "
                          "frame is about 2,040 image tokens at Qwen3-VL's default)")
    vlm.add_argument("--unconstrained", action="store_true",
                     help="decode without the answer grammar (to measure the invalid answers it prevents)")


def backend_options(args: argparse.Namespace) -> BackendOptions:
    """The model arguments of predict/eval as the registry takes them."""
    return BackendOptions(model_path=args.model_path, device=args.device, adapter_path=args.adapter_path,
                          quantization=args.quantization, ensemble_size=args.ensemble_size,
                          num_grasps=args.num_grasps, constrained=not args.unconstrained, max_pixels=args.max_pixels)
