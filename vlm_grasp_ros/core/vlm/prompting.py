"""The chat the grasp model sees: a system prompt, the image and an instruction, and the answer
``cx cy theta w h`` written by the core quantizer. Saved beside an adapter, so training and
serving use the same words."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

PROMPT_FILE = "grasp_prompt.json"


@dataclass(frozen=True)
class PromptConfig:
    system: str = "You are a robot grasp planner."
    #: The instruction without a target; answers are ``cx cy theta w h`` (see core/quantizer.py).
    instruction: str = "Give one grasp for an object in the image as cx cy theta w h."
    #: The instruction when the user names what to grasp ("the red mug"); ``{target}`` is replaced.
    targeted_instruction: str = "Give one grasp for {target} as cx cy theta w h."

    def __post_init__(self) -> None:
        if "{target}" not in self.targeted_instruction:
            raise ValueError("targeted_instruction must contain {target}")

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
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**values)
