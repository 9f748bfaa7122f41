"""A tiny Qwen3-VL, built from a config, for tests, benchmarks and the overfit check on CPU.

Same architecture and code path as Qwen3-VL-8B (vision tower with deepstack, M-RoPE text
decoder), a few hundred thousand parameters. Its tokenizer is byte-level with no merges, laid
out as Qwen's: the 256 byte tokens in GPT-2 byte-to-unicode order, so the digits are ids 15-24
and the space 220 as in the real tokenizer; then 1,024 rare multi-byte tokens (CJK characters,
which nothing encodes to without merges, as Qwen's last merges are rare symbols), then Qwen's
special tokens. Qwen's pre-tokenizer splits numbers into single digits, so an answer tokenizes
alike in both.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen3VLConfig, Qwen3VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from vlm_grasp_ros.core.vlm.processor import ImageOnlyQwen3VLProcessor

#: Qwen's special tokens in the order they follow the byte tokens here.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Qwen's pre-tokenizer split: contractions, words, single digits, punctuation runs, newlines, spaces.
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: ChatML with Qwen-VL's image placeholder; written for the tiny model (a real checkpoint
#: brings its own template).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _byte_alphabet() -> list[str]:
    """GPT-2's byte -> printable character table, in its id order (printables first)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    others = [b for b in range(256) if b not in printable]
    table = {b: chr(b) for b in printable} | {b: chr(256 + n) for n, b in enumerate(others)}
    return [table[b] for b in printable + others]


#: Regular tokens after the bytes: the answer format with one token per field takes its bins
#: from the last regular tokens, as it does in Qwen's vocabulary.
RARE_TOKEN_COUNT = 1024


def _rare_tokens() -> list[str]:
    """Byte-level spellings of CJK characters U+4E00...: unreachable without merges."""
    alphabet = _byte_alphabet()
    byte_order = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    byte_order += [b for b in range(256) if b not in byte_order]
    char_of_byte = {byte: alphabet[index] for index, byte in enumerate(byte_order)}
    return ["".join(char_of_byte[b] for b in chr(0x4E00 + n).encode()) for n in range(RARE_TOKEN_COUNT)]


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {char: index for index, char in enumerate(_byte_alphabet())}
    for token in _rare_tokens():
        vocab[token] = len(vocab)
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_processor() -> ImageOnlyQwen3VLProcessor:
    tokenizer = build_tiny_tokenizer()
    tokenizer.padding_side = "left"
    # Qwen3-VL's processor settings (patch 16, merge 2), capped small so a CPU step stays cheap.
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        size={"shortest_edge": 64 * 64, "longest_edge": 256 * 256},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    return ImageOnlyQwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)


def tiny_config(tokenizer: PreTrainedTokenizerFast, width: int = 64, layers: int = 2) -> Qwen3VLConfig:
    """A Qwen3-VL config a few hundred thousand parameters big. Widths stay multiples of 64
    (bitsandbytes' 4-bit CPU kernels fail on narrower layers)."""
    ids: dict[str, int] = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}  # type: ignore[misc]
    head_dim = 16
    return Qwen3VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": width,
            "intermediate_size": 2 * width,
            "num_hidden_layers": layers,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": head_dim,
            "max_position_embeddings": 4096,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
            "pad_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            # Wider than the real 0.02: with so narrow a model, a frozen output layer that small caps
            # every logit near 1, and LoRA alone could never make an answer confident.
            "initializer_range": 0.1,
        },
        vision_config={
            "depth": 2,
            "hidden_size": width,
            "intermediate_size": 2 * width,
            "num_heads": 4,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": width,
            "num_position_embeddings": 256,
            "deepstack_visual_indexes": [0, 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def save_tiny_model(folder: str | Path, seed: int = 0, width: int = 64, layers: int = 2) -> Path:
    """Write a randomly initialised tiny Qwen3-VL and its processor to ``folder`` (safetensors)."""
    import torch

    folder = Path(folder)
    processor = build_tiny_processor()
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(tiny_config(processor.tokenizer, width, layers))
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
