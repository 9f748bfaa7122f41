"""The Qwen3-VL processor for still images, buildable without torchvision.

transformers' ``Qwen3VLProcessor`` type-checks its video processor even when none is given,
and the video processor needs torchvision, which does not import beside the pinned CPU torch.
:class:`ImageOnlyQwen3VLProcessor` leaves video out and otherwise runs the stock code: the real
image processor (its PIL backend), tokenizer and chat template.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer, Qwen3VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` with no video processor (images and text only)."""

    attributes = ["image_processor", "tokenizer"]

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs) -> None:
        # Bypass the parent's three-part check: call it with video_processor=None but keep
        # only the two attributes above, so ProcessorMixin never validates a video processor.
        super().__init__(
            image_processor=image_processor,
            tokenizer=tokenizer,
            video_processor=None,
            chat_template=chat_template,
            **kwargs,
        )


def load_processor(folder: str | Path, max_pixels: int | None = None) -> ImageOnlyQwen3VLProcessor:
    """The processor of a local Qwen3-VL folder (tokenizer files, preprocessor_config.json and the
    chat template), never from a hub. ``max_pixels`` caps the image size the model sees."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Qwen3-VL folder not found: {folder}")
    # A released checkpoint keeps the image settings in preprocessor_config.json; a folder that
    # transformers 5 wrote keeps them in processor_config.json. Both load below.
    if not any((folder / name).is_file() for name in ("preprocessor_config.json", "processor_config.json")):
        raise FileNotFoundError(
            f"{folder} has neither preprocessor_config.json nor processor_config.json: "
            "not a Qwen3-VL model or processor folder"
        )
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(folder, local_files_only=True)
    if max_pixels is not None:  # the processor's size is a pixel budget: shortest/longest_edge = min/max pixels
        image_processor.size = {
            "shortest_edge": min(image_processor.size.shortest_edge, max_pixels),  # type: ignore[attr-defined]
            "longest_edge": max_pixels,
        }
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    tokenizer.padding_side = "left"  # generation appends to the right of every row
    template = _read_chat_template(folder) or tokenizer.chat_template
    if not template:
        raise FileNotFoundError(f"{folder} has no chat template (chat_template.jinja or the tokenizer's)")
    return ImageOnlyQwen3VLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)


def _read_chat_template(folder: Path) -> str | None:
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    legacy = folder / "chat_template.json"
    if legacy.is_file():
        return json.loads(legacy.read_text(encoding="utf-8-sig"))["chat_template"]
    return None
