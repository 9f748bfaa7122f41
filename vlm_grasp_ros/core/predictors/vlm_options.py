"""The ``vlm`` backend's options (read by :mod:`core.predictors.vlm`); kept free of torch so
that the CLI and the node can list them without loading a model."""

from __future__ import annotations

from dataclasses import dataclass

from vlm_grasp_ros.core.options import DEVICE_HELP, check_device, option

QUANTIZATIONS = ("none", "nf4")
NUM_GRASPS_HELP = "grasps the model may list per image, best first (up to the max_grasps its adapter was trained with)"


@dataclass(frozen=True)
class VlmOptions:
    model_path: str = option("", "the Qwen3-VL base model folder as downloaded (required)", load_time=True)
    adapter_path: str = option(
        "", "LoRA adapter folder (training/train_lora.py's best/); empty = the base alone", load_time=True
    )
    quantization: str = option(
        "none",
        "none, or nf4: a 4-bit language model via bitsandbytes (vision tower unquantised)",
        choices=QUANTIZATIONS,
        load_time=True,
    )
    device: str = option("auto", DEVICE_HELP, check=check_device, load_time=True)
    ensemble_size: int = option(
        1,
        "test-time ensemble: views of each image (shifted crops) run as one batch and merged",
        low=1,
        high=32,
        load_time=True,
    )
    num_grasps: int = option(1, NUM_GRASPS_HELP, low=1, high=20, load_time=True)
    max_pixels: int = option(
        0,
        "image pixel budget (each view resized to at most this many pixels, one image token "
        "per 32x32); 0 = the adapter's or model folder's own",
        low=0,
        high=100_000_000,
        load_time=True,
    )
    constrained: bool = option(
        True, "decode with the answer grammar (false: measure the invalid answers it prevents)", load_time=True
    )
