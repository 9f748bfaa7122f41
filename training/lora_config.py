"""LoRA fine-tuning configuration for the VLM family (dataclasses loaded from YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from training.config import AugmentConfig, DataSource, load_yaml_config
from vlm_grasp_ros.core.predictors.vlm_options import QUANTIZATIONS
from vlm_grasp_ros.core.vlm.prompting import PromptConfig

#: The seven projections of every decoder layer (attention and MLP); the vision tower's layers
#: are named differently (qkv, proj, linear_fc1/2) and stay frozen.
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))


@dataclass
class AnswerNoise:
    """The seed design's label augmentations on the answer itself."""

    #: Probability that a field moves by one bin (``core.augment.jitter_bins``).
    bin_noise_probability: float = 0.0
    #: Probability that one field is left out of the loss (``core.augment.choose_masked_field``).
    masked_field_probability: float = 0.0


@dataclass
class LoraOptim:
    epochs: int = 3
    batch_size: int = 4
    gradient_accumulation: int = 4
    learning_rate: float = 2e-4
    weight_decay: float = 0.0
    #: Fraction of the optimiser steps spent warming up linearly, then cosine decay to 0.
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0


@dataclass
class LoraEval:
    #: Validate every N optimiser steps (0 = at the end of each epoch only).
    every_steps: int = 0
    #: Also decode without the grammar to measure the invalid-answer rate it prevents.
    measure_unconstrained: bool = True
    ensemble_size: int = 1
    batch_size: int = 8
    overlays: int = 8


@dataclass
class LoraTrainConfig:
    output_dir: str = "out/training/qwen3vl_lora"
    seed: int = 0
    #: A local Qwen3-VL folder, or ``tiny``: a tiny stand-in built from a config into
    #: ``<output_dir>/tiny_base`` (the overfit check; no download either way).
    base_model: str = ""
    #: ``nf4`` = QLoRA: 4-bit base weights (bitsandbytes), LoRA in bf16/fp32.
    quantization: str = "none"
    #: Pixel budget per image (Qwen's processor keeps the aspect); 0 = the processor's own.
    max_pixels: int = 0
    gradient_checkpointing: bool = True
    #: bf16 autocast on GPU (ignored on CPU, where bf16 is slower than fp32).
    bf16: bool = True
    #: Which label becomes the answer: ``random`` (a new one each epoch) or ``first``.
    answer_grasp: str = "random"
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: DataSource = field(default_factory=DataSource)
    val: DataSource = field(default_factory=DataSource)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    noise: AnswerNoise = field(default_factory=AnswerNoise)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    optim: LoraOptim = field(default_factory=LoraOptim)
    eval: LoraEval = field(default_factory=LoraEval)
    num_workers: int = 1

    def __post_init__(self) -> None:
        if self.answer_grasp not in ("random", "first"):
            raise ValueError(f"answer_grasp must be random or first, got {self.answer_grasp!r}")
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be none or nf4, got {self.quantization!r}")
        if not self.base_model:
            raise ValueError("base_model is required: a local Qwen3-VL folder, or 'tiny'")


def load_lora_config(path: str | Path) -> LoraTrainConfig:
    return load_yaml_config(LoraTrainConfig, path)
