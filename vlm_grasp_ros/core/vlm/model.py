"""Loading Qwen3-VL (+ LoRA adapter) from local folders and decoding grasp answers in batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vlm_grasp_ros.core.dense.vision_checkpoints import read_json
from vlm_grasp_ros.core.device import resolve_device
from vlm_grasp_ros.core.predictors.vlm_options import QUANTIZATIONS
from vlm_grasp_ros.core.quantizer import GraspValues
from vlm_grasp_ros.core.vlm.answer_format import (
    AnswerGrammar,
    AnswerVocabulary,
    answer_text,
    geometric_mean_probability,
    make_grammar,
)
from vlm_grasp_ros.core.vlm.decoding import DecodeBuckets, DecodedRow, GrammarDecoder
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
class AnswerGrasp:
    """One grasp of an answer and its score: the geometric-mean probability, under the model's
    full distribution, of the tokens the model chose to write it (mass on masked tokens counts
    against it; forced tokens, which no forward pass scored, do not count)."""

    values: GraspValues
    score: float


@dataclass(frozen=True)
class Answer:
    """One prompt row's answer: its grasps, best first as the model listed them, and its text
    (``cx cy theta w h; ...`` whatever the format; the raw decoded text when it is invalid)."""

    text: str
    grasps: tuple[AnswerGrasp, ...]
    error: str = ""  # why the answer is invalid ("" when valid)
    forwards: int = 0  # decoder forward passes, the prefill included
    tokens: int = 0


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
    check_qwen3_vl_folder(folder)
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    quantization_config = _quantization_config(quantization, dtype)
    return Qwen3VLForConditionalGeneration.from_pretrained(
        folder,
        dtype=dtype,
        local_files_only=True,
        trust_remote_code=False,
        quantization_config=quantization_config,
        device_map={"": str(device)} if quantization_config is not None else None,
        use_safetensors=True,  # never a pickled pytorch_model.bin
    )


def check_qwen3_vl_folder(folder: Path) -> None:
    """Refuse, by name, what would otherwise load wrong: another architecture's folder (transformers
    would warn and initialise the weights it cannot map at random) or one without safetensors weights."""
    config = folder / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"no Qwen3-VL model at {folder} (config.json missing)")
    model_type = read_json(config).get("model_type")  # names the file and line of bad JSON
    if model_type != "qwen3_vl":
        raise ValueError(
            f"{config}: model_type {model_type!r}; the vlm backend loads Qwen3-VL (dense) models, model_type 'qwen3_vl'"
        )
    if not ((folder / "model.safetensors").is_file() or (folder / "model.safetensors.index.json").is_file()):
        found = sorted(p.name for p in folder.glob("*.bin")) or ["no weights"]
        raise FileNotFoundError(
            f"{folder}: no model.safetensors or model.safetensors.index.json (found: {', '.join(found)}); "
            "weights are read from safetensors only"
        )


class QwenGraspModel:
    """A Qwen3-VL that answers ``cx cy theta w h``; :meth:`generate` runs many images in one batch."""

    def __init__(self, model, processor: ImageOnlyQwen3VLProcessor, prompt: PromptConfig, model_id: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.prompt = prompt
        self.model_id = model_id
        self.vocabulary = AnswerVocabulary.from_tokenizer(processor.tokenizer)
        self._grammars: dict[tuple[str, int], AnswerGrammar] = {}
        self.grammar(prompt.max_grasps)  # a format the tokenizer cannot write fails at load time
        self.decoder = GrammarDecoder(self.model, processor.tokenizer.pad_token_id, DecodeBuckets())
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

    def grammar(self, max_grasps: int = 1) -> AnswerGrammar:
        """The grammar of this model's answer format (``grasp_prompt.json``) for lists of up to
        ``max_grasps`` grasps."""
        key = (self.prompt.answer_format, max_grasps)
        if key not in self._grammars:
            self._grammars[key] = make_grammar(self.prompt.answer_format, self.vocabulary, max_grasps)
        return self._grammars[key]

    @torch.inference_mode()
    def generate(
        self,
        images: list[np.ndarray],
        targets: list[str | None] | None = None,
        constrained: bool = True,
        max_grasps: int = 1,
        teacher: list[list[int]] | None = None,
    ) -> list[Answer]:
        """One answer per image, all images in one batch: up to ``max_grasps`` grasps, greedy.
        ``teacher`` (benchmarks only) makes each row write the given answer tokens."""
        if not images:
            return []
        grammar = self.grammar(max_grasps)
        inputs = self.encode(images, targets or [None] * len(images))
        rows = self.decoder.decode(
            inputs, grammar if constrained else None, grammar.end, grammar.longest_answer_tokens(), teacher
        )
        return [self._answer(row, grammar) for row in rows]

    def _answer(self, row: DecodedRow, grammar: AnswerGrammar) -> Answer:
        parsed = grammar.parse(row.tokens)
        if parsed.error:
            text = self.processor.tokenizer.decode(row.tokens, skip_special_tokens=True)
            return Answer(text, (), parsed.error, row.forwards, len(row.tokens))
        grasps = []
        for values, (start, stop) in zip(parsed.grasps, parsed.spans):
            scored = [value for value in row.log_probs[start:stop] if value is not None]
            grasps.append(AnswerGrasp(values, geometric_mean_probability(scored)))
        return Answer(answer_text(parsed.grasps), tuple(grasps), "", row.forwards, len(row.tokens))

    def release(self) -> None:
        if not getattr(self.model, "is_quantized", False):  # 4-bit weights cannot be moved
            self.model.to("cpu")
        self.decoder.release()  # its KV caches and its reference to the model
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _attach_adapter(model, adapter: Path, merge: bool):
    from peft import PeftModel

    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no LoRA adapter at {adapter} (adapter_config.json missing)")
    if not (adapter / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{adapter} has no adapter_model.safetensors (only safetensors adapters are read)")
    peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False, local_files_only=True)
    return peft_model.merge_and_unload() if merge else peft_model
