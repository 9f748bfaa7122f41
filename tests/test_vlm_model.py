"""The VLM backend on a tiny Qwen3-VL built from a config: loading, the decode loop against
transformers' generate, batching, ensembles, grasp lists, 4-bit loading, and the training
batch's label mask."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor

from training.train_lora import trainable_parameters
from training.vlm_data import IGNORE_INDEX, AnswerItem, build_training_batch
from vlm_grasp_ros.core.predictors.registry import create_predictor
from vlm_grasp_ros.core.predictors.vlm import VlmPredictor, VlmSettings
from vlm_grasp_ros.core.quantizer import GraspQuantizer, GraspTextError, GraspValues
from vlm_grasp_ros.core.synthetic.scene import render_scene
from vlm_grasp_ros.core.vlm.answer_format import ANSWER_FORMATS, COMPLETE, AnswerGrammar
from vlm_grasp_ros.core.vlm.decoding import DecodeBuckets, GrammarDecoder
from vlm_grasp_ros.core.vlm.ensemble import same_grasp
from vlm_grasp_ros.core.vlm.model import QwenGraspModel, VlmLoadOptions
from vlm_grasp_ros.core.vlm.prompting import PromptConfig
from vlm_grasp_ros.core.vlm.tiny import save_tiny_model


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny_qwen3vl"), seed=3)


@pytest.fixture(scope="module")
def tiny_model(tiny_folder: Path) -> QwenGraspModel:
    return QwenGraspModel.load(VlmLoadOptions(str(tiny_folder), device="cpu"))


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return [render_scene(5, index).image for index in range(2)]


@pytest.fixture
def answer_format(tiny_model: QwenGraspModel, request: pytest.FixtureRequest):
    """The tiny model switched to the answer format of the test's parameter, then back."""
    saved = tiny_model.prompt
    tiny_model.prompt = dataclasses.replace(saved, answer_format=request.param)
    yield request.param
    tiny_model.prompt = saved


def test_labels_cover_only_the_answer_and_its_end_of_turn(tiny_model: QwenGraspModel, scenes) -> None:
    processor, prompt = tiny_model.processor, PromptConfig()
    first, second = GraspValues(500, 250, 120, 100, 50), GraspValues(7, 1000, 0, 33, 9)
    items = [AnswerItem(scenes[0], [first]), AnswerItem(scenes[1][:300], [second, first], "the red mug")]
    batch = build_training_batch(processor, prompt, tiny_model.grammar(2), items)
    tokenizer = processor.tokenizer
    for row, (item, answer) in enumerate(zip(items, ["500 250 120 100 50", "7 1000 0 33 9;500 250 120 100 50"])):
        labelled = batch["labels"][row] != IGNORE_INDEX
        assert tokenizer.decode(batch["labels"][row][labelled]) == answer + "<|im_end|>"
        # The labelled tokens are the last real ones: nothing of the prompt, image or padding.
        real = int(batch["attention_mask"][row].sum())
        assert labelled.nonzero().flatten().tolist() == list(range(real - len(answer) - 1, real))
        # The row is exactly what the processor makes of the whole chat, answer included.
        whole = processor.apply_chat_template(prompt.messages(item.target, answer=answer), tokenize=False)
        expected = processor(text=[whole], images=[item.image], return_tensors="pt")["input_ids"][0].tolist()
        assert batch["input_ids"][row][:real].tolist() == expected[:real]
        assert tokenizer.decode(expected[real:]) == "\n"  # only the template's newline after <|im_end|> differs
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS, indirect=True)
def test_a_masked_field_is_left_out_of_the_loss_in_every_grasp(
    tiny_model: QwenGraspModel, scenes, answer_format
) -> None:
    grasps = [GraspValues(500, 250, 120, 100, 50), GraspValues(7, 1000, 3, 33, 9)]
    grammar = tiny_model.grammar(2)
    batch = build_training_batch(
        tiny_model.processor, PromptConfig(), grammar, [AnswerItem(scenes[0], grasps, None, 2)]
    )
    labels = batch["labels"][0][-len(grammar.encode(grasps).ids) :].tolist()
    if answer_format == "digits":
        assert tiny_model.processor.tokenizer.decode([t for t in labels if t != IGNORE_INDEX]) == (
            "500 250  100 50;7 1000  33 9<|im_end|>"
        )
    else:
        bins = tiny_model.vocabulary.bins
        assert labels == [bins[500], bins[250], IGNORE_INDEX, bins[100], bins[50]] + [
            bins[7],
            bins[1000],
            IGNORE_INDEX,
            bins[33],
            bins[9],
            tiny_model.vocabulary.end,
        ]


def test_constrained_answers_always_parse_where_free_ones_do_not(tiny_model: QwenGraspModel, scenes) -> None:
    quantizer = GraspQuantizer()
    for answer in tiny_model.generate(scenes, constrained=True):
        [grasp] = answer.grasps
        assert quantizer.parse_text(answer.text) == grasp.values and not answer.error
        assert 0.0 < grasp.score <= 1.0
    free = tiny_model.generate(scenes, constrained=False)
    assert all(answer.error and not answer.grasps for answer in free)  # a random model writes bytes, not numbers
    with pytest.raises(GraspTextError, match="no valid answer"):
        VlmPredictor(tiny_model, VlmSettings(constrained=False)).predict(scenes[0])


class GrammarProcessor(LogitsProcessor):
    """The grammar as a transformers logits processor, to run the same constrained greedy search
    through ``generate``."""

    def __init__(self, grammar: AnswerGrammar, prompt_length: int) -> None:
        self.grammar, self.prompt_length = grammar, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        mask = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(input_ids[:, self.prompt_length :].tolist()):
            state = self.grammar.start
            for token in tokens:
                state = self.grammar.advance(state, token) if state not in (None, COMPLETE) else state
            if state is None or state == COMPLETE:
                mask[row] = 0.0  # finished: generate pads the row
            else:
                mask[row, list(self.grammar.allowed(state))] = 0.0
        return scores + mask  # type: ignore[return-value]


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS, indirect=True)
@pytest.mark.parametrize("max_grasps", [1, 3])
def test_the_decode_loop_answers_as_generate_does(
    tiny_model: QwenGraspModel, answer_format, max_grasps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = [render_scene(5, index).image for index in range(3)]
    targets = [None, "the red mug", None]
    grammar = tiny_model.grammar(max_grasps)
    inputs = tiny_model.encode(images, targets)
    length, pad = inputs["input_ids"].shape[1], tiny_model.processor.tokenizer.pad_token_id
    reference = tiny_model.model.generate(
        **inputs,
        logits_processor=[GrammarProcessor(grammar, length)],
        do_sample=False,
        max_new_tokens=grammar.longest_answer_tokens(),
        eos_token_id=grammar.end,
        pad_token_id=pad,
    )[:, length:].tolist()
    expected = [grammar.parse([token for token in row if token != pad]).grasps for row in reference]

    calls: list[int] = []
    forward = tiny_model.model.forward
    monkeypatch.setattr(tiny_model.model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    answers = tiny_model.generate(images, targets, max_grasps=max_grasps)
    assert [[grasp.values for grasp in answer.grasps] for answer in answers] == expected
    assert any(len(answer.grasps) > 1 for answer in answers) == (max_grasps > 1)
    # Forward passes: one per token the model chose (the prefill chose the first), none for forced ones.
    for answer in answers:
        tokens = grammar.encode([grasp.values for grasp in answer.grasps]).ids
        forced, state = 0, grammar.start
        for token in tokens:
            forced += len(grammar.allowed(state)) == 1
            state = grammar.advance(state, token)
        assert answer.tokens == len(tokens) and answer.forwards == len(tokens) - forced
        if answer_format == "field_tokens" and max_grasps == 1:
            assert answer.forwards == 5  # cx (prefill), cy, theta, w, h; the end is forced
    assert len(calls) == max(answer.forwards for answer in answers)  # one batched forward per step


def test_padding_to_buckets_does_not_change_answers(tiny_model: QwenGraspModel, scenes) -> None:
    inputs = tiny_model.encode(scenes + scenes[:1], [None, "the cup", None])
    grammar = tiny_model.grammar(2)
    exact = GrammarDecoder(tiny_model.model, tiny_model.processor.tokenizer.pad_token_id, DecodeBuckets(1, ()))
    bucketed = GrammarDecoder(tiny_model.model, tiny_model.processor.tokenizer.pad_token_id, DecodeBuckets(64, (4, 8)))
    rows = [decoder.decode(inputs, grammar, grammar.end, 40) for decoder in (exact, bucketed)]
    assert [row.tokens for row in rows[0]] == [row.tokens for row in rows[1]]
    for a, b in zip(*rows):
        assert [p for p in a.log_probs if p is not None] == pytest.approx(
            [p for p in b.log_probs if p is not None], abs=1e-4
        )
    length = inputs["input_ids"].shape[1]
    assert bucketed._caches.keys() == {(4, -(-length // 64) * 64 + 2 * 40)}  # 3 rows -> 4; prompt to a multiple of 64
    assert exact._caches.keys() == {(3, length + 2 * 40)}


def test_release_lets_the_model_and_its_caches_go(tiny_folder: Path, scenes) -> None:
    import gc
    import weakref

    model = QwenGraspModel.load(VlmLoadOptions(str(tiny_folder), device="cpu"))
    model.generate(scenes)
    weights = weakref.ref(model.model)
    caches = [weakref.ref(cache) for cache in model.decoder._caches.values()]
    assert weights() is not None and caches
    model.release()
    gc.collect()
    assert weights() is None and all(cache() is None for cache in caches)


def test_teacher_forcing_writes_the_given_answer_at_the_cost_of_decoding(tiny_model: QwenGraspModel, scenes) -> None:
    grammar = tiny_model.grammar(2)
    wanted = [GraspValues(523, 412, 87, 120, 45), GraspValues(100, 1000, 0, 1, 19)]
    ids = grammar.encode(wanted).ids
    [answer] = tiny_model.generate(scenes[:1], max_grasps=2, teacher=[ids])
    assert [grasp.values for grasp in answer.grasps] == wanted and answer.tokens == len(ids)
    assert answer.forwards < len(ids)  # forced spaces after 523, 412, 100 and 1000 cost nothing


@pytest.fixture
def generate_calls(tiny_model: QwenGraspModel, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of prompt rows of each generate call the test makes."""
    calls: list[int] = []
    original = tiny_model.generate

    def counting(images, *args, **kwargs):
        calls.append(len(images))
        return original(images, *args, **kwargs)

    monkeypatch.setattr(tiny_model, "generate", counting)
    return calls


def test_views_and_images_go_through_one_generate_call(tiny_model: QwenGraspModel, scenes, generate_calls) -> None:
    predictor = VlmPredictor(tiny_model, VlmSettings(ensemble_size=3))
    results = predictor.predict_batch(scenes, ["the red mug", None])
    assert generate_calls == [6]  # 2 images x 3 views, one batch
    for image, result in zip(scenes, results):
        assert len(result.answers) == 3 and not result.invalid
        [grasp] = result.grasps
        assert 0 <= grasp.cx <= image.shape[1] and 0 <= grasp.cy <= image.shape[0]


def test_max_batch_rows_splits_the_rows_and_keeps_each_images_answers(
    tiny_model: QwenGraspModel, scenes, generate_calls
) -> None:
    prompts = ["the red mug", None]
    whole = VlmPredictor(tiny_model, VlmSettings(ensemble_size=3)).predict_batch(scenes, prompts)
    generate_calls.clear()
    chunked = VlmPredictor(tiny_model, VlmSettings(ensemble_size=3, max_batch_rows=4)).predict_batch(scenes, prompts)
    assert generate_calls == [4, 2]  # 6 rows (2 images x 3 views) in batches of at most 4
    # The second image's views straddle the two batches; each answer still lands on its image.
    assert [r.answers for r in chunked] == [r.answers for r in whole]
    for got, want in zip(chunked, whole):  # scores: the same up to float rounding of another batch shape
        assert [g.with_score(0.0) for g in got.grasps] == [g.with_score(0.0) for g in want.grasps]
        assert [g.score for g in got.grasps] == pytest.approx([g.score for g in want.grasps], rel=1e-4)


def test_a_list_gives_distinct_ranked_grasps(tiny_model: QwenGraspModel, scenes) -> None:
    grasps = VlmPredictor(tiny_model, VlmSettings(num_grasps=3)).predict(scenes[0])
    assert 1 <= len(grasps) <= 3
    assert [g.score for g in grasps] == sorted((g.score for g in grasps), reverse=True)
    assert not any(same_grasp(a, b) for i, a in enumerate(grasps) for b in grasps[i + 1 :])


def test_registry_builds_the_backend_and_refuses_what_it_cannot_load(tiny_folder: Path, tmp_path: Path) -> None:
    predictor = create_predictor("vlm", dict(model_path=str(tiny_folder), device="cpu", ensemble_size=2))
    assert predictor.name == "vlm" and predictor.settings.ensemble_size == 2 and predictor.model_id == str(tiny_folder)
    with pytest.raises(ValueError, match="needs model_path"):
        create_predictor("vlm", {})
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        create_predictor("vlm", dict(model_path=str(tmp_path)))
    with pytest.raises(FileNotFoundError, match="adapter_config.json missing"):
        create_predictor("vlm", dict(model_path=str(tiny_folder), adapter_path=str(tmp_path), device="cpu"))
    # Another architecture's folder would load with its unmapped weights initialised at random.
    other = tmp_path / "qwen2vl"
    shutil.copytree(tiny_folder, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"model_type": "qwen2_vl"}))
    with pytest.raises(ValueError, match="model_type 'qwen2_vl'; the vlm backend loads Qwen3-VL"):
        create_predictor("vlm", dict(model_path=str(other), device="cpu"))
    # Weights only as a pickle (pytorch_model.bin) are never read.
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_folder, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(FileNotFoundError, match=r"no model.safetensors .*found: pytorch_model.bin.*safetensors only"):
        create_predictor("vlm", dict(model_path=str(pickled), device="cpu"))


def test_nf4_quantises_the_language_model_and_not_the_vision_tower(tiny_folder: Path, scenes) -> None:
    import bitsandbytes as bnb

    model = QwenGraspModel.load(VlmLoadOptions(str(tiny_folder), quantization="nf4", device="cpu"))
    language = model.model.model.language_model.layers[0]
    assert isinstance(language.self_attn.q_proj, bnb.nn.Linear4bit) and isinstance(
        language.mlp.down_proj, bnb.nn.Linear4bit
    )
    assert not any(isinstance(module, bnb.nn.Linear4bit) for module in model.model.model.visual.modules())
    assert not isinstance(model.model.lm_head, bnb.nn.Linear4bit)
    [answer] = model.generate(scenes[:1])
    GraspQuantizer().parse_text(answer.text)
    # Packed 4-bit tensors hold two weights per element: the count is the real one all the same.
    plain = QwenGraspModel.load(VlmLoadOptions(str(tiny_folder), device="cpu"))
    assert trainable_parameters(model.model)[1] == trainable_parameters(plain.model)[1]
    assert sum(p.numel() for p in model.model.parameters()) < trainable_parameters(plain.model)[1]


def test_prompt_names_the_target_and_bad_prompt_files_name_their_line(tmp_path: Path) -> None:
    prompt = PromptConfig()
    assert (
        prompt.instruction_for("grasp the red mug")
        == prompt.instruction_for("the red mug")
        == "Give one grasp for the red mug as cx cy theta w h."
    )
    assert prompt.instruction_for("  ") == prompt.instruction
    (tmp_path / "grasp_prompt.json").write_text('{\n  "system": "x",\n  oops\n}\n')
    with pytest.raises(ValueError, match=r"grasp_prompt.json:3: not valid JSON"):
        PromptConfig.load(tmp_path)


def test_processor_loads_from_a_released_checkpoint_layout(tiny_folder: Path, tmp_path: Path, scenes) -> None:
    """Released Qwen3-VL folders keep preprocessor_config.json and chat_template.json (older layout)."""
    import json
    import shutil

    from vlm_grasp_ros.core.vlm.processor import load_processor

    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_folder / name, tmp_path / name)
    settings = json.loads((tiny_folder / "processor_config.json").read_text())["image_processor"]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    template = (tiny_folder / "chat_template.jinja").read_text()
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    released, written = (
        load_processor(tmp_path, max_pixels=128 * 128),
        load_processor(tiny_folder, max_pixels=128 * 128),
    )
    text = written.apply_chat_template(PromptConfig().messages("the cup"), add_generation_prompt=True, tokenize=False)
    assert (
        released.apply_chat_template(PromptConfig().messages("the cup"), add_generation_prompt=True, tokenize=False)
        == text
    )
    a = released(text=[text], images=[scenes[0]], return_tensors="pt")
    b = written(text=[text], images=[scenes[0]], return_tensors="pt")
    assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["pixel_values"], b["pixel_values"])
    assert int(a["image_grid_thw"].prod()) * 16 * 16 <= 128 * 128 * 2  # max_pixels caps the image
    with pytest.raises(FileNotFoundError, match="neither preprocessor_config.json nor processor_config.json"):
        load_processor(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def released_layout(tiny_folder: Path, folder: Path) -> Path:
    """The tiny model laid out as Qwen3-VL-8B-Instruct is released (shared/reference: config in the
    transformers-4.57 layout with the rope settings inside text_config, preprocessor_config.json,
    chat_template.json, generation_config.json, weights in two shards with an index)."""
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    folder.mkdir()
    config = json.loads((tiny_folder / "config.json").read_text())
    text, vision = config["text_config"], config["vision_config"]
    rope = text.pop("rope_parameters")
    text.update(
        rope_theta=rope["rope_theta"],
        dtype="bfloat16",
        rope_scaling={"mrope_interleaved": True, "mrope_section": rope["mrope_section"], "rope_type": "default"},
    )
    vision.pop("rope_parameters")
    vision["model_type"] = "qwen3_vl"  # as released
    config.pop("dtype")
    config["transformers_version"] = "4.57.0.dev0"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer = json.loads((tiny_folder / "tokenizer_config.json").read_text())
    end_of_text = text["pad_token_id"]  # the tiny tokenizer's <|endoftext|>, Qwen's pad and second end id
    (folder / "generation_config.json").write_text(
        json.dumps(
            {
                "bos_token_id": end_of_text,
                "pad_token_id": end_of_text,
                "do_sample": True,
                "eos_token_id": [text["eos_token_id"], end_of_text],
                "top_k": 20,
                "top_p": 0.8,
                "repetition_penalty": 1.0,
                "temperature": 0.7,
                "transformers_version": "4.56.0",
            }
        )
    )
    settings = json.loads((tiny_folder / "processor_config.json").read_text())["image_processor"]
    settings.update(processor_class="Qwen3VLProcessor", image_processor_type="Qwen2VLImageProcessorFast")
    (folder / "preprocessor_config.json").write_text(json.dumps(settings))
    template = (tiny_folder / "chat_template.jinja").read_text()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    for name in ("tokenizer.json",):
        shutil.copy(tiny_folder / name, folder / name)
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    weights = load_file(str(tiny_folder / "model.safetensors"))
    assert {key.split(".")[0] + "." + key.split(".")[1] for key in weights} == {
        "model.visual",
        "model.language_model",
        "lm_head.weight",
    }
    keys = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for name, part in shards.items():
        save_file({key: weights[key].to(torch.bfloat16) for key in part}, str(folder / name), metadata={"format": "pt"})
    (folder / "model.safetensors.index.json").write_text(
        json.dumps(
            {"metadata": {"total_size": 0}, "weight_map": {key: name for name, part in shards.items() for key in part}}
        )
    )
    return folder


def test_the_released_qwen3vl_layout_loads_and_answers_as_saved(tiny_folder: Path, tmp_path: Path, scenes) -> None:
    released = QwenGraspModel.load(
        VlmLoadOptions(str(released_layout(tiny_folder, tmp_path / "released")), device="cpu")
    )
    saved = QwenGraspModel.load(VlmLoadOptions(str(tiny_folder), device="cpu"))
    with torch.no_grad():  # the saved copy in bf16 too, so the only difference left is the layout
        for parameter in saved.model.parameters():
            parameter.copy_(parameter.to(torch.bfloat16).float())
    assert (
        released.model.config.text_config.rope_parameters["rope_theta"]
        == saved.model.config.text_config.rope_parameters["rope_theta"]
    )
    inputs = saved.encode(scenes, [None, "the cup"])
    with torch.inference_mode():
        expected = saved.model(**inputs).logits
        got = released.model(**released.encode(scenes, [None, "the cup"])).logits
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=1e-4)
    assert [a.text for a in released.generate(scenes)] == [a.text for a in saved.generate(scenes)]


def test_max_pixels_reaches_the_processor_through_the_registry(tiny_folder: Path, scenes) -> None:
    budget = 96 * 96
    capped = create_predictor("vlm", dict(model_path=str(tiny_folder), device="cpu", max_pixels=budget))
    default = create_predictor("vlm", dict(model_path=str(tiny_folder), device="cpu"))
    tokens = [int(p.model.encode(scenes[:1], [None])["image_grid_thw"].prod()) for p in (capped, default)]
    assert tokens[0] * 16 * 16 <= budget < tokens[1] * 16 * 16
