"""LoRA training data: a sample -> (image, answer text), and a batch -> model inputs whose labels
cover only the assistant's answer (and its end-of-turn token)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.config import AugmentConfig
from training.data import AugmentedSamples, SampleSource
from training.lora_config import AnswerNoise
from vlm_grasp_ros.core import augment
from vlm_grasp_ros.core.quantizer import GraspQuantizer
from vlm_grasp_ros.core.vlm.prompting import PromptConfig

IGNORE_INDEX = -100  # what torch's cross-entropy skips


@dataclass
class AnswerItem:
    image: np.ndarray
    answer: str
    target: str | None = None  # what the instruction names, if anything
    masked_field: int | None = None  # answer field (0..4) left out of the loss


class AnswerDataset(AugmentedSamples):
    """Samples with one labelled grasp each as the answer, augmented anew each epoch."""

    def __init__(
        self,
        source: SampleSource,
        augment_config: AugmentConfig | None,
        noise: AnswerNoise,
        answer_grasp: str,
        seed: int,
        quantizer: GraspQuantizer = GraspQuantizer(),
    ) -> None:
        super().__init__(source, augment_config, seed)
        self.noise = noise
        self.answer_grasp = answer_grasp
        self.quantizer = quantizer

    def __getitem__(self, index: int) -> AnswerItem:
        sample, rng = self.augmented(index)
        if not sample.grasps:
            raise ValueError(f"{sample.name}: no grasp labels (left after augmentation) to train on")
        grasp = (
            sample.grasps[0] if self.answer_grasp == "first" else sample.grasps[int(rng.integers(len(sample.grasps)))]
        )
        values = self.quantizer.encode(grasp, sample.width, sample.height, clip=True)
        if self.noise.bin_noise_probability > 0:
            values = augment.jitter_bins(values, rng, self.noise.bin_noise_probability, self.quantizer)
        masked = (
            augment.choose_masked_field(rng, self.noise.masked_field_probability)
            if self.noise.masked_field_probability > 0
            else None
        )
        return AnswerItem(sample.image, self.quantizer.to_text(values), None, masked)


def answer_token_ids(tokenizer, answer: str) -> list[int]:
    """The answer and the end of turn as token ids: one token per character (checked)."""
    ids = tokenizer.encode(answer, add_special_tokens=False)
    if len(ids) != len(answer):
        raise ValueError(f"the tokenizer does not write {answer!r} one token per character")
    return ids + [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def build_training_batch(processor, prompt: PromptConfig, items: list[AnswerItem]) -> dict[str, torch.Tensor]:
    """Prompt (through the processor: chat template, image tokens) + answer, right-padded.

    ``labels`` are the answer's ids and the end-of-turn id; everything else (system prompt,
    image tokens, instruction, padding, and a masked field's digits) is ``IGNORE_INDEX``.
    """
    tokenizer = processor.tokenizer
    texts = [
        processor.apply_chat_template(prompt.messages(item.target), add_generation_prompt=True, tokenize=False)
        for item in items
    ]
    encoded = processor(text=texts, images=[item.image for item in items], return_tensors="pt", padding=True)
    rows, labels, types = [], [], []
    for row, item in enumerate(items):
        keep = encoded["attention_mask"][row].bool()  # drop the processor's (left) padding
        prompt_ids = encoded["input_ids"][row][keep].tolist()
        answer_ids = answer_token_ids(tokenizer, item.answer)
        answer_labels = list(answer_ids)
        if item.masked_field is not None:
            field = 0
            for position, char in enumerate(item.answer):
                if char == " ":
                    field += 1
                elif field == item.masked_field:
                    answer_labels[position] = IGNORE_INDEX
        rows.append(prompt_ids + answer_ids)
        labels.append([IGNORE_INDEX] * len(prompt_ids) + answer_labels)
        types.append(encoded["mm_token_type_ids"][row][keep].tolist() + [0] * len(answer_ids))
    length = max(len(row) for row in rows)

    def pad(sequences: list[list[int]], value: int) -> torch.Tensor:
        return torch.tensor([sequence + [value] * (length - len(sequence)) for sequence in sequences])

    return {
        "input_ids": pad(rows, tokenizer.pad_token_id),
        "attention_mask": pad([[1] * len(row) for row in rows], 0),
        "mm_token_type_ids": pad(types, 0),
        "labels": pad(labels, IGNORE_INDEX),
        "pixel_values": encoded["pixel_values"],
        "image_grid_thw": encoded["image_grid_thw"],
    }
