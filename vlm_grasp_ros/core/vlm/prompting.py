"""The chat the grasp model sees: a system prompt, the image and an instruction, and the answer
(``cx cy theta w h`` per grasp, in the answer format of :mod:`core.vlm.answer_format`). Saved
beside an adapter as ``grasp_prompt.json``, so training and serving use the same words and the
same answer format."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from vlm_grasp_ros.core.vlm.answer_format import ANSWER_FORMATS

PROMPT_FILE = "grasp_prompt.json"


@dataclass(frozen=True)
class PromptConfig:
    system: str = "You are a robot grasp planner."
    #: The instruction without a target; answers are ``cx cy theta w h`` (see core/quantizer.py).
    instruction: str = "Give one grasp for an object in the image as cx cy theta w h."
    #: The instruction when the user names what to grasp ("the red mug"); ``{target}`` is replaced.
    targeted_instruction: str = "Give one grasp for {target} as cx cy theta w h."
    #: How the answer is written in tokens: ``digits`` or ``field_tokens`` (one token per field).
    answer_format: str = "digits"
    #: The most grasps an answer lists (best first, one per object); 1 = a single grasp.
    max_grasps: int = 1

    def __post_init__(self) -> None:
        if "{target}" not in self.targeted_instruction:
            raise ValueError("targeted_instruction must contain {target}")
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {self.answer_format!r}")
        if self.max_grasps < 1:
            raise ValueError(f"max_grasps must be >= 1, got {self.max_grasps}")

    def instruction_for(self, target: str | None) -> str:
        target = (target or "").strip()
        if not target:
            return self.instruction
        # "grasp the red mug" and "the red mug" both name the target.
        for verb in ("grasp ", "pick up ", "pick "):
            if target.lower().startswith(verb):
                target = target[len(verb) :].strip()
                break
        return self.targeted_instruction.replace("{target}", target)

    def messages(self, target: str | None = None, answer: str | None = None) -> list[dict[str, Any]]:
        """The chat as transformers' chat templates take it; with ``answer``, the assistant turn too."""
        chat: list[dict[str, Any]] = [
            {"role": "system", "content": [{"type": "text", "text": self.system}]},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.instruction_for(target)}]},
        ]
        if answer is not None:
            chat.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        return chat

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PROMPT_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> PromptConfig:
        """The prompt saved in ``folder``, or the defaults if it has none."""
        path = Path(folder) / PROMPT_FILE
        if not path.is_file():
            return cls()
        try:
            values = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
