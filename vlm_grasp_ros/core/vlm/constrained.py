"""Constrained decoding: the model may only write five in-range integers, then end its turn.

The grammar is ``INT SP INT SP INT SP INT SP INT END`` with each integer in its quantizer range
and no leading zeros. Qwen's tokenizer writes every digit and the space as tokens of their
own, so the grammar is a small automaton over 12 token ids; every other logit is masked.
A transformers grammar library would do the same for any grammar, at the price of a compiled
dependency for a 12-token language: this stays in a few lines here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from transformers import LogitsProcessor

from vlm_grasp_ros.core.quantizer import GraspQuantizer

FIELD_COUNT = 5


@dataclass(frozen=True)
class AnswerTokens:
    """The token ids the grammar is written in."""

    digits: tuple[int, ...]  # ids of "0".."9", in that order
    space: int
    end: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> AnswerTokens:
        digits = []
        for char in "0123456789 ":
            ids = tokenizer.encode(char, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(
                    f"the tokenizer writes {char!r} as {len(ids)} tokens; constrained decoding needs "
                    "one token per digit and for the space (as Qwen's tokenizer does)"
                )
            digits.append(ids[0])
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if end is None or end == tokenizer.unk_token_id:
            raise ValueError("the tokenizer has no <|im_end|> token")
        return cls(tuple(digits[:10]), digits[10], int(end))


class GraspGrammar:
    """Which tokens may come next after a partial answer (a list of token ids)."""

    def __init__(self, tokens: AnswerTokens, quantizer: GraspQuantizer = GraspQuantizer()) -> None:
        self.tokens = tokens
        self.maxima = [high for _low, high in quantizer.ranges.values()]
        self._digit_value = {token: value for value, token in enumerate(tokens.digits)}
        self._cache: dict[tuple[int, str], tuple[int, ...]] = {}

    def state(self, generated: list[int]) -> tuple[int, str] | None:
        """(field index, digits of the field so far), or None once the answer is complete or broken."""
        field, digits = 0, ""
        for token in generated:
            if token in self._digit_value:
                digits += str(self._digit_value[token])
            elif token == self.tokens.space and digits and field < FIELD_COUNT - 1:
                field, digits = field + 1, ""
            else:
                return None
        return field, digits

    def allowed(self, generated: list[int]) -> tuple[int, ...]:
        """The token ids that keep the answer completable; empty once it is complete."""
        state = self.state(generated)
        if state is None:
            return ()
        if state not in self._cache:
            field, digits = state
            allowed: list[int] = []
            if digits != "0":  # no leading zeros: "0" is a whole number
                allowed += [
                    token
                    for value, token in enumerate(self.tokens.digits)
                    if int(digits + str(value)) <= self.maxima[field]
                ]
            if digits:
                allowed.append(self.tokens.space if field < FIELD_COUNT - 1 else self.tokens.end)
            self._cache[state] = tuple(allowed)
        return self._cache[state]


class GraspLogitsProcessor(LogitsProcessor):
    """Masks every token the grammar does not allow; rows already finished are left alone."""

    def __init__(self, grammar: GraspGrammar, prompt_length: int) -> None:
        self.grammar = grammar
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids[:, self.prompt_length :].tolist()
        mask = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(generated):
            allowed = self.grammar.allowed(tokens)
            if allowed:
                mask[row, list(allowed)] = 0.0
            else:  # finished (generate pads it) or, unconstrained before, broken: leave as is
                mask[row] = 0.0
        return cast(torch.FloatTensor, scores + mask)


def longest_answer_tokens(quantizer: GraspQuantizer = GraspQuantizer()) -> int:
    """Tokens in the longest valid answer, end token included (the generation length cap)."""
    return sum(len(str(high)) for _low, high in quantizer.ranges.values()) + FIELD_COUNT
