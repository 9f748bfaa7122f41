"""How a grasp answer is written in tokens, and the grammar that constrains decoding to it.

An answer is a list of up to K grasps, best first, then ``<|im_end|>``. Each grasp is the core
quantizer's five integers (``cx cy theta w h``, :mod:`core.quantizer`). Two formats, chosen by
``answer_format`` in ``grasp_prompt.json`` (training writes it beside the adapter):

* ``digits`` (the seed's): decimal text, ``"523 412 87 120 45"``, grasps separated by ``";"``.
  Qwen's tokenizer writes each digit, the space and ``";"`` as tokens of their own, so a grasp
  is about 17 tokens.
* ``field_tokens``: one token per field, as OpenVLA writes its action bins: value ``v`` of any
  field is the ``v``-th of 1,001 *bin tokens*, the last regular tokens of the vocabulary
  (Qwen's last BPE merges, rare symbols such as "⇵" or "엃"). No new embedding rows, so LoRA
  alone learns the format. A grasp is five tokens and needs no separator.

The grammar is a small automaton over those token ids; every other logit is masked. It also
keeps ``w`` and ``h`` at least 1 (a zero-width jaw is no grasp) and ``theta`` below 180. A
transformers grammar library would compile the same automaton from a regular expression, at
the price of a compiled dependency: the two automata here are a few lines each.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspValues

ANSWER_FORMATS = ("digits", "field_tokens")
FIELD_COUNT = 5
#: Bin tokens of the ``field_tokens`` format: one per value of the widest field (0..1000).
BIN_COUNT = 1001
#: The end state of a complete answer (:meth:`AnswerGrammar.advance`).
COMPLETE = (-1, -1, "")

#: (grasp index, field index, digits of the field so far). Field 5 = the grasp is complete.
State = tuple[int, int, str]


@dataclass(frozen=True)
class AnswerVocabulary:
    """The token ids both formats are written in."""

    digits: tuple[int, ...]  # ids of "0".."9", in that order
    space: int
    separator: int  # ";" between the grasps of a digits answer
    end: int  # <|im_end|>
    bins: tuple[int, ...]  # the field_tokens format's bin tokens, value order

    @classmethod
    def from_tokenizer(cls, tokenizer) -> AnswerVocabulary:
        single = []
        for char in "0123456789 ;":
            ids = tokenizer.encode(char, add_special_tokens=False)
            if len(ids) != 1:
                raise ValueError(
                    f"the tokenizer writes {char!r} as {len(ids)} tokens; the answer grammar needs one token per "
                    "digit, for the space and for ';' (as Qwen's tokenizer does)"
                )
            single.append(ids[0])
        end = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if end is None or end == tokenizer.unk_token_id:
            raise ValueError("the tokenizer has no <|im_end|> token")
        return cls(tuple(single[:10]), single[10], single[11], int(end), bin_tokens(tokenizer))


def bin_tokens(tokenizer, count: int = BIN_COUNT) -> tuple[int, ...]:
    """The last ``count`` regular tokens before the first special token (empty if too few)."""
    first_special = min(tokenizer.all_special_ids + list(tokenizer.added_tokens_decoder))
    reserved = set(tokenizer.encode("0123456789 ;", add_special_tokens=False))
    start = first_special - count
    if start < 0 or reserved & set(range(start, first_special)):
        return ()
    return tuple(range(start, first_special))


def field_ranges(quantizer: GraspQuantizer = GraspQuantizer()) -> list[tuple[int, int]]:
    """Inclusive (low, high) of each field as the grammar allows it: w and h start at 1."""
    ranges = list(quantizer.ranges.values())
    return [(max(low, 1), high) if index >= 3 else (low, high) for index, (low, high) in enumerate(ranges)]


def answer_values(grasp: Grasp, width: int, height: int, quantizer: GraspQuantizer = GraspQuantizer()) -> GraspValues:
    """A labelled grasp as the grammar can write it: clipped to the image, w and h at least 1."""
    values = quantizer.encode(grasp, width, height, clip=True)
    return values._replace(w=max(values.w, 1), h=max(values.h, 1))


@dataclass(frozen=True)
class EncodedAnswer:
    """An answer's token ids, and for each the field (0..4) it writes, or -1 (separator, end)."""

    ids: list[int]
    fields: list[int]


@dataclass(frozen=True)
class ParsedAnswer:
    """The grasps an answer lists, each with the token span [start, stop) that writes it (with
    digits, up to the separator or end that closes its last field); ``error`` says why the answer
    is not a complete valid one."""

    grasps: list[GraspValues]
    spans: list[tuple[int, int]]
    error: str = ""


class AnswerGrammar(ABC):
    """Which tokens may follow a partial answer: a state machine over token ids."""

    name: str

    def __init__(
        self, vocabulary: AnswerVocabulary, max_grasps: int = 1, quantizer: GraspQuantizer = GraspQuantizer()
    ) -> None:
        if max_grasps < 1:
            raise ValueError(f"an answer lists at least one grasp, got max_grasps={max_grasps}")
        self.vocabulary = vocabulary
        self.max_grasps = max_grasps
        self.quantizer = quantizer
        self.ranges = field_ranges(quantizer)
        self.start: State = (0, 0, "")
        self._allowed: dict[State, tuple[int, ...]] = {}

    @property
    def end(self) -> int:
        return self.vocabulary.end

    def allowed(self, state: State) -> tuple[int, ...]:
        """The token ids that keep the answer completable; empty once it is complete."""
        if state == COMPLETE:
            return ()
        if state not in self._allowed:
            self._allowed[state] = self._compute_allowed(state)
        return self._allowed[state]

    def advance(self, state: State, token: int) -> State | None:
        """The state after ``token``; :data:`COMPLETE` after the end, None if not allowed."""
        if token not in self.allowed(state):
            return None
        return COMPLETE if token == self.end else self._next(state, token)

    def encode(self, grasps: Sequence[GraspValues]) -> EncodedAnswer:
        """The token ids of an answer listing ``grasps`` (checked against the grammar)."""
        if not 1 <= len(grasps) <= self.max_grasps:
            raise ValueError(f"an answer lists 1..{self.max_grasps} grasps, got {len(grasps)}")
        ids, fields = self._encode(grasps)
        ids, fields = ids + [self.end], fields + [-1]
        state: State | None = self.start
        for token in ids:
            state = self.advance(state, token) if state is not None else None
        if state != COMPLETE:
            raise ValueError(f"grasps {list(grasps)} cannot be written in this grammar (field out of range)")
        return EncodedAnswer(ids, fields)

    def parse(self, tokens: Sequence[int]) -> ParsedAnswer:
        """The grasps of a generated answer; stops at the first token the grammar does not allow."""
        grasps: list[GraspValues] = []
        spans: list[tuple[int, int]] = []
        state: State = self.start
        fields: list[int] = []
        start = 0
        for position, token in enumerate(tokens):
            following = self.advance(state, token)
            if following is None:
                return ParsedAnswer(grasps, spans, f"token {token} at position {position} breaks the answer")
            value = self._field_value(state, token)
            if value is not None:
                fields.append(value)
            if len(fields) == FIELD_COUNT:
                grasps.append(GraspValues(*fields))
                spans.append((start, position + 1))
                fields, start = [], position + 1
            state = following
            if state == COMPLETE:
                return ParsedAnswer(grasps, spans)
        return ParsedAnswer(grasps, spans, f"cut off after {len(tokens)} tokens")

    def longest_answer_tokens(self) -> int:
        """Tokens in the longest valid answer, end included (the generation length cap)."""
        return self.max_grasps * self._longest_grasp() + self._separators() + 1

    @abstractmethod
    def _compute_allowed(self, state: State) -> tuple[int, ...]: ...

    @abstractmethod
    def _next(self, state: State, token: int) -> State: ...

    @abstractmethod
    def _encode(self, grasps: Sequence[GraspValues]) -> tuple[list[int], list[int]]: ...

    @abstractmethod
    def _field_value(self, state: State, token: int) -> int | None:
        """The value of the field that ``token`` completes in ``state``, if it completes one."""

    @abstractmethod
    def _longest_grasp(self) -> int: ...

    @abstractmethod
    def _separators(self) -> int: ...


class DigitGrammar(AnswerGrammar):
    """``INT SP INT SP INT SP INT SP INT (";" grasp)* END``, each integer in its range, no
    leading zeros."""

    name = "digits"

    def __init__(
        self, vocabulary: AnswerVocabulary, max_grasps: int = 1, quantizer: GraspQuantizer = GraspQuantizer()
    ) -> None:
        super().__init__(vocabulary, max_grasps, quantizer)
        self._digit_value = {token: value for value, token in enumerate(vocabulary.digits)}
        whole = [{str(value) for value in range(low, high + 1)} for low, high in self.ranges]
        self._complete = whole
        self._viable = [{number[:end] for number in numbers for end in range(len(number) + 1)} for numbers in whole]

    def _compute_allowed(self, state: State) -> tuple[int, ...]:
        grasp, field, digits = state
        allowed = [
            token for value, token in enumerate(self.vocabulary.digits) if digits + str(value) in self._viable[field]
        ]
        if digits in self._complete[field]:
            if field < FIELD_COUNT - 1:
                allowed.append(self.vocabulary.space)
            else:
                if grasp + 1 < self.max_grasps:
                    allowed.append(self.vocabulary.separator)
                allowed.append(self.end)
        return tuple(allowed)

    def _next(self, state: State, token: int) -> State:
        grasp, field, digits = state
        if token == self.vocabulary.space:
            return grasp, field + 1, ""
        if token == self.vocabulary.separator:
            return grasp + 1, 0, ""
        return grasp, field, digits + str(self._digit_value[token])

    def _encode(self, grasps: Sequence[GraspValues]) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        fields: list[int] = []
        for index, values in enumerate(grasps):
            if index:
                ids.append(self.vocabulary.separator)
                fields.append(-1)
            for field, value in enumerate(values):
                if field:
                    ids.append(self.vocabulary.space)
                    fields.append(-1)
                digits = [self.vocabulary.digits[int(char)] for char in str(value)]
                ids += digits
                fields += [field] * len(digits)
        return ids, fields

    def _field_value(self, state: State, token: int) -> int | None:
        # A space, separator or end closes the field its digits wrote.
        return None if token in self._digit_value else int(state[2])

    def _longest_grasp(self) -> int:
        return sum(len(str(high)) for _low, high in self.ranges) + FIELD_COUNT - 1

    def _separators(self) -> int:
        return self.max_grasps - 1


class FieldTokenGrammar(AnswerGrammar):
    """``(BIN BIN BIN BIN BIN)+ END``: one bin token per field, each in its field's range."""

    name = "field_tokens"

    def __init__(
        self, vocabulary: AnswerVocabulary, max_grasps: int = 1, quantizer: GraspQuantizer = GraspQuantizer()
    ) -> None:
        super().__init__(vocabulary, max_grasps, quantizer)
        widest = max(high for _low, high in self.ranges)
        if len(vocabulary.bins) <= widest:
            raise ValueError(
                f"the field_tokens answer format needs {widest + 1} rarely used tokens before the tokenizer's "
                f"special tokens; this tokenizer has {len(vocabulary.bins)} to spare"
            )
        self._bin_value = {token: value for value, token in enumerate(vocabulary.bins)}

    def _field_tokens(self, field: int) -> list[int]:
        low, high = self.ranges[field]
        return list(self.vocabulary.bins[low : high + 1])

    def _compute_allowed(self, state: State) -> tuple[int, ...]:
        grasp, field, _digits = state
        if field < FIELD_COUNT:
            return tuple(self._field_tokens(field))
        following = self._field_tokens(0) if grasp + 1 < self.max_grasps else []
        return (*following, self.end)

    def _next(self, state: State, token: int) -> State:
        grasp, field, _digits = state
        return (grasp, field + 1, "") if field < FIELD_COUNT else (grasp + 1, 1, "")

    def _encode(self, grasps: Sequence[GraspValues]) -> tuple[list[int], list[int]]:
        ids = [self.vocabulary.bins[value] for values in grasps for value in values]
        return ids, [field for _ in grasps for field in range(FIELD_COUNT)]

    def _field_value(self, state: State, token: int) -> int | None:
        return self._bin_value.get(token)  # the end token writes no field

    def _longest_grasp(self) -> int:
        return FIELD_COUNT

    def _separators(self) -> int:
        return 0


def make_grammar(
    answer_format: str, vocabulary: AnswerVocabulary, max_grasps: int = 1, quantizer: GraspQuantizer = GraspQuantizer()
) -> AnswerGrammar:
    if answer_format == "digits":
        return DigitGrammar(vocabulary, max_grasps, quantizer)
    if answer_format == "field_tokens":
        return FieldTokenGrammar(vocabulary, max_grasps, quantizer)
    raise ValueError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {answer_format!r}")


def answer_text(grasps: Sequence[GraspValues], quantizer: GraspQuantizer = GraspQuantizer()) -> str:
    """An answer as people read it, whatever its format: ``"cx cy theta w h; cx cy ..."``."""
    return "; ".join(quantizer.to_text(values) for values in grasps)


def geometric_mean_probability(log_probs: Sequence[float]) -> float:
    """exp(mean log p): a score in (0, 1] that does not fall with the number of tokens."""
    return math.exp(sum(log_probs) / len(log_probs)) if log_probs else 1.0
