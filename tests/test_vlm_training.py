"""LoRA training on the tiny Qwen3-VL: the overfit check's path, shortened; adapters that serve; resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from training.config import DataSource
from training.data import SampleSource
from training.lora_config import LoraEval, load_lora_config
from training.run_state import validate_predictor
from training.train_lora import main, train
from vlm_grasp_ros.core.predictors.vlm import VlmPredictor
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene
from vlm_grasp_ros.core.vlm.model import QwenGraspModel, VlmLoadOptions

REPO = Path(__file__).resolve().parents[1]


def _short_config(out: Path, epochs: int):
    config = load_lora_config(REPO / "training" / "configs" / "qwen3vl_tiny_overfit.yaml")
    return dataclasses.replace(
        config,
        output_dir=str(out),
        train=DataSource(dataset="generated", seed=7, count=3),
        val=DataSource(dataset="generated", seed=7, count=3),
        optim=dataclasses.replace(config.optim, epochs=epochs, batch_size=3),
        eval=LoraEval(every_steps=6, batch_size=3, overlays=2),
    )


def test_lora_learns_saves_a_servable_adapter_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    best = train(_short_config(out, epochs=12), progress=False)
    history = load_history(out)
    assert [record["step"] for record in history] == [6, 12]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_invalid_answer_rate"] == 0.0  # constrained decoding
    assert best == max(history, key=lambda r: (r["val_accuracy_top1"], r["val_mean_iou"]))
    # best/ holds that record's adapter: evaluated afresh through the serving path, the same figures.
    config = _short_config(out, epochs=12)
    served = VlmPredictor(
        QwenGraspModel.load(VlmLoadOptions(str(out / "tiny_base"), adapter_path=str(out / "best"), device="cpu"))
    )
    metrics, _ = validate_predictor(served, SampleSource(config.val), overlays=0, batch_size=3, progress=False)
    assert (metrics["accuracy_top1"], metrics["mean_iou"]) == pytest.approx(
        (best["val_accuracy_top1"], best["val_mean_iou"]), abs=1e-6
    )
    for name in (
        "adapter_config.json",
        "grasp_prompt.json",
        "processor_config.json",
        "tokenizer.json",
        "train_config.yaml",
    ):
        assert (out / "last" / name).is_file(), name
    assert "![curves](curves.png)" in (out / "report.md").read_text()

    # The adapter serves: merged or not, the same answers, and not the base model's.
    images = [render_scene(7, index).image for index in range(3)]
    base = str(out / "tiny_base")
    merged = QwenGraspModel.load(VlmLoadOptions(base, adapter_path=str(out / "last"), device="cpu")).generate(images)
    unmerged = QwenGraspModel.load(
        VlmLoadOptions(base, adapter_path=str(out / "last"), device="cpu", merge_adapter=False)
    ).generate(images)
    plain = QwenGraspModel.load(VlmLoadOptions(base, device="cpu")).generate(images)
    assert [a.text for a in merged] == [a.text for a in unmerged]
    assert [a.grasps[0].score for a in merged] == pytest.approx([a.grasps[0].score for a in unmerged], rel=1e-4)
    assert [a.grasps[0].score for a in merged] != pytest.approx([a.grasps[0].score for a in plain], rel=1e-4)

    # Running again with more epochs picks up at step 12.
    train(_short_config(out, epochs=18), progress=False)
    resumed = load_history(out)
    assert [record["step"] for record in resumed] == [6, 12, 18] and resumed[:2] == history


def test_the_answer_format_and_list_length_travel_with_the_adapter(tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = _short_config(out, epochs=2)
    config = dataclasses.replace(
        config,
        train=DataSource(dataset="generated", seed=7, count=3, min_objects=3),
        val=DataSource(dataset="generated", seed=7, count=3, min_objects=3),
        prompt=dataclasses.replace(config.prompt, answer_format="field_tokens", max_grasps=3),
        eval=LoraEval(every_steps=2, batch_size=3, overlays=0, measure_unconstrained=False),
    )
    best = train(config, progress=False)
    saved = json.loads((out / "best" / "grasp_prompt.json").read_text())
    assert (saved["answer_format"], saved["max_grasps"]) == ("field_tokens", 3)
    assert best["val_n_images_3_objects"] == 3  # every validation scene has 3 or more objects
    served = QwenGraspModel.load(VlmLoadOptions(str(out / "tiny_base"), adapter_path=str(out / "best"), device="cpu"))
    assert served.prompt.answer_format == "field_tokens"
    for answer in served.generate(
        [render_scene(7, index, SceneConfig(min_objects=3)).image for index in range(3)], max_grasps=3
    ):
        assert not answer.error and answer.forwards <= 5 * len(answer.grasps) + 1


def load_history(out: Path) -> list[dict]:
    import torch

    state = torch.load(out / "last" / "training_state.pt", map_location="cpu", weights_only=True)
    return json.loads(state["history"])


def test_bad_configs_name_the_file_and_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_model: tiny\nlora:\n  rank: 8\n")
    assert main(["--config", str(bad)]) == 2
    assert f"{bad}: lora: unknown keys ['rank']" in capsys.readouterr().err
    bad.write_text("base_model: tiny\nanswer_grasp: best\n")
    assert main(["--config", str(bad)]) == 2
    assert "answer_grasp must be random or first" in capsys.readouterr().err


def test_shipped_lora_configs_load() -> None:
    for name in ("qwen3vl_lora.yaml", "qwen3vl_tiny_overfit.yaml"):
        config = load_lora_config(REPO / "training" / "configs" / name)
        assert config.lora.r == 16 and config.lora.alpha == 32
    real = load_lora_config(REPO / "training" / "configs" / "qwen3vl_lora.yaml")
    assert real.lora.dropout == 0.05 and len(real.lora.target_modules) == 7 and real.gradient_checkpointing
