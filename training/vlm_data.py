"""LoRA training data: a sample -> (image, the grasps its answer lists), and a batch -> model
inputs whose labels cover only the assistant's answer (and its end-of-turn token)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.config import AugmentConfig
from training.data import AugmentedSamples, SampleSource
from training.lora_config import AnswerNoise
from vlm_grasp_ros.core import augment
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspValues
from vlm_grasp_ros.core.vlm.answer_format import AnswerGrammar, answer_values
from vlm_grasp_ros.core.vlm.answer_lists import answer_grasps
from vlm_grasp_ros.core.vlm.prompting import PromptConfig

IGNORE_INDEX = -100  # what torch's cross-entropy skips


@dataclass
class AnswerItem:
    image: np.ndarray
    grasps: list[GraspValues]  # the answer's grasps, best first
    target: str | None = None  # what the instruction names, if anything
    masked_field: int | None = None  # answer field (0..4) left out of the loss, in every grasp


class AnswerDataset(AugmentedSamples):
    """Samples with their answer (one labelled grasp, or a list), augmented anew each epoch."""

    def __init__(
        self,
        source: SampleSource,
        augment_config: AugmentConfig | None,
        noise: AnswerNoise,
        answer_grasp: str,
        seed: int,
        max_grasps: int = 1,
        quantizer: GraspQuantizer = GraspQuantizer(),
    ) -> None:
        super().__init__(source, augment_config, seed)
        self.noise = noise
        self.answer_grasp = answer_grasp
        self.max_grasps = max_grasps
        self.quantizer = quantizer

    def __getitem__(self, index: int) -> AnswerItem:
        sample, rng = self.augmented(index)
        if not sample.grasps:
            raise ValueError(f"{sample.name}: no grasp labels (left after augmentation) to train on")
        listed = []
        for grasp in answer_grasps(sample, self.max_grasps, self.answer_grasp, rng):
            values = answer_values(grasp, sample.width, sample.height, self.quantizer)
            if self.noise.bin_noise_probability > 0:
                values = augment.jitter_bins(values, rng, self.noise.bin_noise_probability, self.quantizer)
                values = values._replace(w=max(values.w, 1), h=max(values.h, 1))
            listed.append(values)
        masked = (
            augment.choose_masked_field(rng, self.noise.masked_field_probability)
            if self.noise.masked_field_probability > 0
            else None
        )
        return AnswerItem(sample.image, listed, None, masked)


def build_training_batch(
    processor, prompt: PromptConfig, grammar: AnswerGrammar, items: list[AnswerItem]
) -> dict[str, torch.Tensor]:
    """Prompt (through the processor: chat template, image tokens) + answer, right-padded.

    The answer's ids are the grammar's own (what decoding writes), ended by ``<|im_end|>``.
    ``labels`` are those ids; everything else (system prompt, image tokens, instruction,
    padding, and a masked field's tokens) is ``IGNORE_INDEX``.
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
        answer = grammar.encode(item.grasps)
        answer_labels = [
            IGNORE_INDEX if field == item.masked_field else token for token, field in zip(answer.ids, answer.fields)
        ]
        rows.append(prompt_ids + answer.ids)
        labels.append([IGNORE_INDEX] * len(prompt_ids) + answer_labels)
        types.append(encoded["mm_token_type_ids"][row][keep].tolist() + [0] * len(answer.ids))
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
