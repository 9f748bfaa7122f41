"""LoRA (or QLoRA) fine-tuning of Qwen3-VL to list grasps as ``cx cy theta w h``.

    python -m training.train_lora --config training/configs/qwen3vl_lora.yaml
    accelerate launch -m training.train_lora --config training/configs/qwen3vl_lora.yaml   # several GPUs

The answer format (``prompt.answer_format``: ``digits`` or ``field_tokens``) and the number of
grasps an answer lists (``prompt.max_grasps``) come from the config's prompt section and are
saved with it. The loss covers only the answer tokens. Validation runs the serving code path
(the ``vlm`` backend's predictor, constrained decoding) and scores it with the rectangle metric; with
``eval.measure_unconstrained`` it decodes again without the grammar to measure the share of
answers the grammar saves. ``best/`` keeps the best validation adapter, ``last/`` the latest
with the optimiser state; running the command again resumes (``--fresh`` starts over). Both
hold ``adapter_model.safetensors``, the processor and ``grasp_prompt.json``, so
``backend: vlm`` with ``model_path`` = the base and ``adapter_path`` = that folder serves it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import yaml
from tqdm import tqdm

from training.data import SampleSource
from training.lora_config import LoraTrainConfig, load_lora_config
from training.report import IOU_COLUMN, PROGRESS_COLUMNS, TOP1_COLUMN, Column, ReportLayout, write_run_report
from training.run_state import RunState, resumable, run_trainer_main, seed_everything, validate_predictor
from training.vlm_data import AnswerDataset, build_training_batch
from vlm_grasp_ros.core.evaluation import evaluate_predictor
from vlm_grasp_ros.core.metrics import summarize
from vlm_grasp_ros.core.predictors.vlm import VlmPredictor, VlmSettings
from vlm_grasp_ros.core.vlm.answer_format import AnswerVocabulary, make_grammar
from vlm_grasp_ros.core.vlm.model import QwenGraspModel, load_base_model
from vlm_grasp_ros.core.vlm.processor import load_processor
from vlm_grasp_ros.core.vlm.tiny import save_tiny_model


def resolve_base(config: LoraTrainConfig) -> Path:
    """The base model folder; ``tiny`` builds the stand-in once under the output folder."""
    if config.base_model != "tiny":
        return Path(config.base_model)
    folder = Path(config.output_dir) / "tiny_base"
    if not (folder / "config.json").is_file():
        save_tiny_model(folder, seed=config.seed)
    return folder


def build_peft_model(config: LoraTrainConfig, base: Path, device: torch.device):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    model = load_base_model(base, device, config.quantization)
    if config.quantization == "none":
        model.to(device)
    else:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        # only the language model's layers: the vision tower stays as trained
        target_modules=rf".*language_model.*\.({'|'.join(config.lora.target_modules)})",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def parameter_count(parameter) -> int:
    """Elements of a parameter; a 4-bit bitsandbytes tensor packs two per byte, so its own
    numel() is half the weight's: its quantisation state keeps the real shape."""
    quant_state = getattr(parameter, "quant_state", None)
    return math.prod(quant_state.shape) if quant_state is not None else parameter.numel()


def trainable_parameters(model) -> tuple[int, int]:
    trainable = sum(parameter_count(p) for p in model.parameters() if p.requires_grad)
    return trainable, sum(parameter_count(p) for p in model.parameters())


def cosine_with_warmup(optimizer, warmup: int, total: int):
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, warmup, max(total, 1))


def validate(model, processor, config: LoraTrainConfig, samples: SampleSource, progress: bool) -> tuple[dict, list]:
    """Rectangle metric through the serving predictor and the core's evaluation (batched as eval
    batches); invalid-answer rates with and without the grammar."""
    wrapper = QwenGraspModel(model, processor, config.prompt, model_id="training")
    listed = config.prompt.max_grasps
    predictor = VlmPredictor(
        wrapper, VlmSettings(ensemble_size=config.eval.ensemble_size, num_grasps=listed, max_batch_rows=64)
    )
    metrics, shown = validate_predictor(predictor, samples, config.eval.overlays, config.eval.batch_size, progress)
    metrics.setdefault("invalid_answer_rate", 0.0)
    if config.eval.measure_unconstrained:
        free = VlmPredictor(wrapper, VlmSettings(num_grasps=listed, constrained=False, max_batch_rows=64))
        free_results = [
            result for _, result in evaluate_predictor(free, samples, batch_size=config.eval.batch_size, progress=False)
        ]
        metrics["invalid_answer_rate_unconstrained"] = summarize(free_results).get("invalid_answer_rate", 0.0)
    return metrics, shown


def save_adapter(model, processor, config: LoraTrainConfig, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    config.prompt.save(folder)
    (folder / "train_config.yaml").write_text(yaml.safe_dump(asdict(config), sort_keys=False), encoding="utf-8")


def _report_layout(config: LoraTrainConfig, out_dir: Path) -> ReportLayout:
    lora = config.lora
    lists = config.prompt.max_grasps >= 3  # the three-objects figure means nothing for shorter answers
    three_objects = ("val_top3_on_3_objects", "3 best on 3 objects")
    return ReportLayout(
        title=f"LoRA training on {config.base_model}",
        summary=f"Output: `{out_dir}`; best adapter `best/`, resumable state `last/`. LoRA r={lora.r}, "
        f"alpha={lora.alpha}, dropout={lora.dropout}, quantization {config.quantization}; answers in "
        f"`{config.prompt.answer_format}` listing up to {config.prompt.max_grasps} grasp(s).",
        x_key="step",
        x_label="optimiser step",
        loss_label="answer-token loss",
        losses=(("train_loss", "loss"),),
        rates=(
            ("val_accuracy_top1", "top-1 (constrained)"),
            *((three_objects,) if lists else ()),
            ("val_invalid_answer_rate", "invalid, constrained"),
            ("val_invalid_answer_rate_unconstrained", "invalid, unconstrained"),
        ),
        columns=(
            *PROGRESS_COLUMNS,
            Column("loss", "train_loss", ".4f"),
            Column("lr", "learning_rate", ".2e"),
            TOP1_COLUMN,
            IOU_COLUMN,
            *((Column(three_objects[1], three_objects[0], ".0%"),) if lists else ()),
            Column("invalid", "val_invalid_answer_rate", ".1%"),
            Column("invalid, unconstrained", "val_invalid_answer_rate_unconstrained", ".1%"),
        ),
    )


def train(config: LoraTrainConfig, fresh: bool = False, max_steps: int | None = None, progress: bool = True) -> dict:
    from accelerate import Accelerator

    seed_everything(config.seed)
    use_bf16 = config.bf16 and torch.cuda.is_available()
    accelerator = Accelerator(
        mixed_precision="bf16" if use_bf16 else "no", gradient_accumulation_steps=config.optim.gradient_accumulation
    )
    out_dir = Path(config.output_dir)
    if accelerator.is_main_process:  # one process builds the tiny stand-in; the others then find it
        resolve_base(config)
    accelerator.wait_for_everyone()
    base = resolve_base(config)
    processor = load_processor(base, config.max_pixels or None)
    processor.tokenizer.padding_side = "left"
    val_samples = SampleSource(config.val)  # opened first: a bad validation source fails at once
    dataset = AnswerDataset(
        SampleSource(config.train),
        config.augment,
        config.noise,
        config.answer_grasp,
        config.seed,
        max_grasps=config.prompt.max_grasps,
    )
    grammar = make_grammar(
        config.prompt.answer_format, AnswerVocabulary.from_tokenizer(processor.tokenizer), config.prompt.max_grasps
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.optim.batch_size,
        shuffle=True,
        num_workers=config.num_workers,
        collate_fn=lambda items: build_training_batch(processor, config.prompt, grammar, items),
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=False,
    )
    model = build_peft_model(config, base, accelerator.device)
    trainable, total = trainable_parameters(model)
    accelerator.print(f"LoRA: {trainable:,} trainable of {total:,} parameters ({trainable / total:.3%})")
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.optim.learning_rate,
        weight_decay=config.optim.weight_decay,
    )
    steps_per_epoch = math.ceil(len(loader) / config.optim.gradient_accumulation / accelerator.num_processes)
    total_steps = steps_per_epoch * config.optim.epochs
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    scheduler = cosine_with_warmup(optimizer, round(config.optim.warmup_ratio * total_steps), total_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    run = RunState()
    last = out_dir / "last"
    if resumable(last, fresh):
        run = _resume(accelerator.unwrap_model(model), optimizer, scheduler, last)
        accelerator.print(f"resumed from {last} at step {run.step} (epoch {run.epoch})")
    step, start_epoch = run.step, run.epoch

    def evaluate_and_save(epoch: int, losses: list[float], began: float) -> None:
        if not accelerator.is_main_process:
            return
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        metrics, shown = validate(unwrapped, processor, config, val_samples, progress)
        unwrapped.train()
        record = {
            "step": step,
            "epoch": epoch,
            "seconds": round(time.perf_counter() - began, 1),
            "train_loss": float(np.mean(losses)) if losses else math.nan,
            "learning_rate": scheduler.get_last_lr()[0],
        }
        improved = run.record(record, metrics)
        run.epoch, run.step = epoch, step
        if improved:
            save_adapter(unwrapped, processor, config, out_dir / "best")
        save_adapter(unwrapped, processor, config, last)
        run.save(last, optimizer, scheduler)
        run.write_history(out_dir)
        write_run_report(out_dir, _report_layout(config, out_dir), run.history, shown if improved else None)
        accelerator.print(
            f"step {step}: loss {record['train_loss']:.4f}, val top-1 {metrics['accuracy_top1']:.1%}, "
            f"invalid {metrics['invalid_answer_rate']:.1%}"
            + (
                f" (unconstrained {metrics['invalid_answer_rate_unconstrained']:.1%})"
                if "invalid_answer_rate_unconstrained" in metrics
                else ""
            )
        )

    model.train()
    began = time.perf_counter()
    bar = tqdm(
        total=total_steps,
        initial=step,
        desc="train_lora",
        unit="step",
        disable=not (progress and accelerator.is_main_process),
    )
    epoch = start_epoch
    while step < total_steps:
        dataset.epoch = epoch
        losses: list[float] = []
        for batch in loader:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.optim.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            losses.append(loss.item())
            if accelerator.sync_gradients:
                step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
                if config.eval.every_steps and step % config.eval.every_steps == 0:
                    evaluate_and_save(epoch, losses, began)
                if step >= total_steps:
                    break
        epoch += 1
        finished_between = step >= total_steps and config.eval.every_steps and step % config.eval.every_steps
        if not config.eval.every_steps or finished_between:
            evaluate_and_save(epoch, losses, began)
    bar.close()
    accelerator.wait_for_everyone()
    return run.best or {}


def _resume(model, optimizer, scheduler, folder: Path) -> RunState:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
    return RunState.load(folder, optimizer, scheduler)


def main(argv: list[str] | None = None) -> int:
    return run_trainer_main("train_lora", __doc__, train, load_lora_config, "adapter", argv)


if __name__ == "__main__":
    sys.exit(main())
