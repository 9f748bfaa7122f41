"""Loading Qwen3-VL (+ LoRA adapter) from local folders and generating grasp answers in batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.predictors.vlm_options import QUANTIZATIONS
from vlm_grasp_ros.core.vlm.constrained import AnswerTokens, GraspGrammar, GraspLogitsProcessor, longest_answer_tokens
from vlm_grasp_ros.core.vlm.processor import ImageOnlyQwen3VLProcessor, load_processor
from vlm_grasp_ros.core.vlm.prompting import PROMPT_FILE, PromptConfig


@dataclass(frozen=True)
class VlmLoadOptions:
    model_path: str
    adapter_path: str = ""
    #: ``nf4``: 4-bit NormalFloat weights (bitsandbytes, double quantisation) in the language
    #: model; the vision tower and the output layer stay in full precision.
    quantization: str = "none"
    device: str = "auto"
    #: Cap on the pixels an image is resized to (Qwen's processor keeps the aspect ratio and a
    #: multiple of 32); fewer pixels, fewer image tokens, faster prefill. None = the folder's own.
    max_pixels: int | None = None
    #: Fold the LoRA weights into the base model (faster); not possible on 4-bit weights.
    merge_adapter: bool = True


@dataclass(frozen=True)
class Answer:
    """One generated answer: its text and the geometric-mean probability of its tokens."""

    text: str
    score: float


def _quantization_config(kind: str, dtype: torch.dtype):
    if kind == "none":
        return None
    if kind != "nf4":
        raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, got {kind!r}")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        # the vision tower and lm_head stay unquantised (accuracy; tiny share of memory)
        llm_int8_skip_modules=["model.visual", "lm_head"],
    )


def load_base_model(
    model_path: str | Path, device: torch.device, quantization: str = "none", dtype: torch.dtype | None = None
):
    """``Qwen3VLForConditionalGeneration.from_pretrained`` from a local folder, bf16 on GPU."""
    from transformers import Qwen3VLForConditionalGeneration

    folder = Path(model_path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no Qwen3-VL model at {folder} (config.json missing)")
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    quantization_config = _quantization_config(quantization, dtype)
    return Qwen3VLForConditionalGeneration.from_pretrained(
        folder,
        dtype=dtype,
        local_files_only=True,
        trust_remote_code=False,
        quantization_config=quantization_config,
        device_map={"": str(device)} if quantization_config is not None else None,
    )


class QwenGraspModel:
    """A Qwen3-VL that answers ``cx cy theta w h``; :meth:`generate` runs many images in one batch."""

    def __init__(self, model, processor: ImageOnlyQwen3VLProcessor, prompt: PromptConfig, model_id: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.prompt = prompt
        self.model_id = model_id
        self.grammar = GraspGrammar(AnswerTokens.from_tokenizer(processor.tokenizer))
        self._prompt_texts: dict[str | None, str] = {}  # the chat template renders once per target, not per frame

    @classmethod
    def load(cls, options: VlmLoadOptions) -> QwenGraspModel:
        if not options.model_path:
            raise ValueError("the vlm backend needs model_path: a local Qwen3-VL folder (e.g. Qwen3-VL-8B-Instruct)")
        device = resolve_device(options.device)
        model = load_base_model(options.model_path, device, options.quantization)
        if options.quantization == "none":
            model.to(device)
        # The processor and prompt travel with the adapter (training saves them there).
        processor_folder, prompt = Path(options.model_path), PromptConfig()
        model_id = str(options.model_path)
        if options.adapter_path:
            model = _attach_adapter(
                model, Path(options.adapter_path), merge=options.merge_adapter and options.quantization == "none"
            )
            adapter = Path(options.adapter_path)
            if any((adapter / name).is_file() for name in ("processor_config.json", "preprocessor_config.json")):
                processor_folder = adapter
            prompt = PromptConfig.load(adapter)
            model_id += f" + {adapter}"
        elif (Path(options.model_path) / PROMPT_FILE).is_file():
            prompt = PromptConfig.load(options.model_path)
        return cls(model, load_processor(processor_folder, options.max_pixels), prompt, model_id)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, images: list[np.ndarray], targets: list[str | None]):
        """Processor inputs (left-padded) for one image and instruction per row."""
        texts = [self._prompt_text(target) for target in targets]
        inputs = self.processor(text=texts, images=list(images), return_tensors="pt", padding=True)
        return inputs.to(self.device)

    def _prompt_text(self, target: str | None) -> str:
        if target not in self._prompt_texts:
            if len(self._prompt_texts) > 256:  # run-time prompts are free text: keep the cache bounded
                self._prompt_texts.clear()
            self._prompt_texts[target] = self.processor.apply_chat_template(
                self.prompt.messages(target), add_generation_prompt=True, tokenize=False
            )
        return self._prompt_texts[target]

    @torch.inference_mode()
    def generate(
        self,
        images: list[np.ndarray],
        targets: list[str | None] | None = None,
        constrained: bool = True,
        num_answers: int = 1,
        num_beams: int | None = None,
    ) -> list[list[Answer]]:
        """``num_answers`` answers per image, best first, all images in one batch. More than one
        answer comes from beam search over ``num_beams`` (default ``num_answers``) beams."""
        if not images:
            return []
        targets = targets or [None] * len(images)
        inputs = self.encode(images, targets)
        prompt_length = inputs["input_ids"].shape[1]
        tokenizer = self.processor.tokenizer
        processors = [GraspLogitsProcessor(self.grammar, prompt_length)] if constrained else []
        output = self.model.generate(
            **inputs,
            logits_processor=processors,
            do_sample=False,
            num_beams=max(num_beams or num_answers, num_answers),
            num_return_sequences=num_answers,
            max_new_tokens=longest_answer_tokens(),
            eos_token_id=self.grammar.tokens.end,
            pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_scores=True,
            output_logits=True,
            length_penalty=1.0,
        )
        generated = output.sequences[:, prompt_length:]
        scores = _answer_scores(output, generated, self.grammar.tokens.end, tokenizer.pad_token_id, num_answers > 1)
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        answers = [Answer(text, float(score)) for text, score in zip(texts, scores)]
        return [answers[index * num_answers : (index + 1) * num_answers] for index in range(len(images))]

    def release(self) -> None:
        if not getattr(self.model, "is_quantized", False):  # 4-bit weights cannot be moved
            self.model.to("cpu")
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _answer_scores(output, generated: torch.Tensor, end: int, pad: int, beam: bool) -> torch.Tensor:
    """Geometric-mean probability of each answer's tokens (end token included), under the model's
    own distribution: mass it put on tokens the grammar masked counts against it."""
    if beam:  # beam search scores unmasked log-probs; with length_penalty=1 this is their mean
        return output.sequences_scores.float().exp().cpu()
    log_probs = torch.stack([step.float().log_softmax(-1) for step in output.logits], dim=1)  # (rows, steps, vocab)
    chosen = log_probs.gather(-1, generated[:, : log_probs.shape[1], None]).squeeze(-1)
    # Count tokens up to and including the first end token; padding after it is not the model's.
    finished_before = (
        torch.cumsum((generated[:, : chosen.shape[1]] == end).int(), dim=1)
        - (generated[:, : chosen.shape[1]] == end).int()
    )
    valid = (finished_before == 0) & (generated[:, : chosen.shape[1]] != pad)
    chosen = torch.where(valid, chosen, torch.zeros_like(chosen))
    return (chosen.sum(1) / valid.sum(1).clamp(min=1)).exp().cpu()


def _attach_adapter(model, adapter: Path, merge: bool):
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no LoRA adapter at {adapter} (adapter_config.json missing)")
    if not (adapter / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{adapter} has no adapter_model.safetensors (only safetensors adapters are read)")
    peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False, local_files_only=True)
    return peft_model.merge_and_unload() if merge else peft_model
