"""Train a dense grasp decoder on a frozen encoder (optionally with its top blocks tuned too:
``model.encoder.tune_from_stride``).

    python -m training.train_decoder --config training/configs/dense_lite0_synthetic.yaml
    accelerate launch -m training.train_decoder --config ...   # several GPUs

Each epoch: one pass over the training images (tqdm), then validation with the rectangle
metric through the same predictor the node uses. ``<output_dir>/best`` holds the checkpoint
with the best validation top-1 (ties: mean IoU); ``<output_dir>/last`` holds the latest one
plus the optimiser state, and a re-run of the same command resumes from it (``--fresh``
starts over). ``history.jsonl``, ``curves.png`` and ``report.md`` show the run.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.config import TrainConfig, load_train_config
from training.data import GraspMapDataset, SampleSource, collate_padded
from training.losses import grasp_map_losses
from training.report import IOU_COLUMN, PROGRESS_COLUMNS, TOP1_COLUMN, Column, ReportLayout, write_run_report
from training.run_state import RunState, resumable, run_trainer_main, seed_everything, validate_predictor
from vlm_grasp_ros.core.dense.checkpoint import (
    WEIGHTS_NAME,
    CheckpointError,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig
from vlm_grasp_ros.core.predictors.dense import DensePredictor


class FeatureCache:
    """Frozen-encoder features (those below any tuned blocks) and targets per training image, fp16
    on the CPU. Once every image is in, epochs run from the cache alone: no rendering, loading or
    encoding."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.features: dict[int, list[torch.Tensor]] = {}
        self.targets: dict[int, torch.Tensor] = {}

    def complete(self, size: int) -> bool:
        """Whether ``size`` images (what one epoch of the loader yields) are in."""
        return self.enabled and len(self.features) >= size

    def lookup(self, indices: list[int], device: torch.device) -> list[torch.Tensor] | None:
        if not self.enabled or any(i not in self.features for i in indices):
            return None
        levels = zip(*(self.features[i] for i in indices))
        try:
            return [torch.stack(level).to(device).float() for level in levels]
        except RuntimeError:  # images of different padded sizes in one batch: recompute
            return None

    def store(self, indices: list[int], features: list[torch.Tensor], targets: torch.Tensor) -> None:
        if self.enabled:
            for row, index in enumerate(indices):
                self.features[index] = [level[row].detach().to("cpu", torch.float16) for level in features]
                self.targets[index] = targets[row].to("cpu", torch.float16)

    def batches(self, batch_size: int, generator: torch.Generator, drop_last: bool) -> list[dict[str, Any]]:
        """Shuffled batches, each of images of one padded size (a crop's rounding can give a
        frame one padding step taller than the others)."""
        order = torch.randperm(len(self.features), generator=generator).tolist()
        keys = sorted(self.features)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for i in order:
            by_size.setdefault(tuple(self.targets[keys[i]].shape), []).append(keys[i])
        groups = []
        for same_size in by_size.values():
            chunks = [same_size[start : start + batch_size] for start in range(0, len(same_size), batch_size)]
            if drop_last and len(chunks) > 1 and len(chunks[-1]) < batch_size:
                chunks.pop()
            groups += chunks
        groups = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
        return [
            {
                "index": torch.tensor(group),
                "targets": torch.stack([self.targets[i] for i in group]),
                "size": self.targets[group[0]].shape[-2:],
            }
            for group in groups
        ]


class TrainedPart(nn.Module):
    """What trains, as one module for ``accelerator.prepare`` (so several processes average every
    trained gradient): cached frozen features -> tuned encoder blocks, if any -> decoder -> outputs."""

    def __init__(self, model: DenseGraspModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, frozen: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        return self.model.decode_frozen(frozen, size)


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up, then cosine decay to 5%."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


LOSS_NAMES = ("total", "quality", "angle", "width", "mask")


def _report_layout(config: TrainConfig, out_dir: Path) -> ReportLayout:
    return ReportLayout(
        title=f"Training: {config.model.encoder.name} decoder",
        summary=f"Output: `{out_dir}`; best checkpoint `best/`, resumable state `last/`.",
        x_key="epoch",
        x_label="epoch",
        loss_label="training loss",
        losses=tuple((f"train_{name}", name) for name in LOSS_NAMES),
        rates=(("val_accuracy_top1", "top-1"), ("val_accuracy_top5", "top-5")),
        columns=(
            *PROGRESS_COLUMNS,
            *(Column("loss" if name == "total" else name, f"train_{name}", ".4f") for name in LOSS_NAMES),
            TOP1_COLUMN,
            Column("val top-5", "val_accuracy_top5", ".1%"),
            IOU_COLUMN,
            Column("val ms", "val_latency_ms", ".1f"),
        ),
    )


def train(config: TrainConfig, fresh: bool = False, max_steps: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) training; returns the best validation metrics."""
    accelerator = Accelerator()
    seed_everything(config.seed)
    out_dir = Path(config.output_dir)
    last_dir, best_dir = out_dir / "last", out_dir / "best"
    model = DenseGraspModel(config.model).to(accelerator.device)
    if config.init_from and not resumable(last_dir, fresh):
        _start_from(model, config)
    show = progress and accelerator.is_local_main_process

    # Opened before training, so that a bad validation source fails now, not after the first epoch.
    val_samples = SampleSource(config.val)
    dataset = GraspMapDataset(
        config.train,
        config.model,
        model.preprocessing,
        config.augment,
        config.seed,
        fixed_augmentation=config.cache_features,
        targets=config.targets,
    )
    loader_drop_last = len(dataset) > config.optim.batch_size
    loader = DataLoader(
        dataset,
        batch_size=config.optim.batch_size,
        shuffle=True,
        num_workers=config.num_workers,
        collate_fn=collate_padded,
        drop_last=loader_drop_last,
        persistent_workers=config.num_workers > 0 and not config.cache_features,
        generator=torch.Generator().manual_seed(config.seed),
    )
    groups = [{"params": list(model.decoder.parameters()), "lr": config.optim.learning_rate}]
    tuned = model.encoder.tuned_parameters()
    if tuned:
        groups.append({"params": tuned, "lr": config.optim.encoder_learning_rate or config.optim.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.optim.weight_decay)
    head, optimizer, loader = accelerator.prepare(TrainedPart(model), optimizer, loader)
    total_steps = config.optim.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.optim.warmup_steps, total_steps)
    )

    run = RunState()
    if resumable(last_dir, fresh):
        run = _resume(model, optimizer, scheduler, last_dir, config)
        if show:
            print(f"resuming from {last_dir} after epoch {run.epoch} (step {run.step})")
    step = run.step

    if config.cache_features and accelerator.num_processes > 1:
        print("train_decoder: cache_features is for single-process runs; off with several processes", file=sys.stderr)
        config.cache_features = False
    cache = FeatureCache(config.cache_features)
    shuffler = torch.Generator().manual_seed(config.seed + 1)
    stopped = False
    for epoch in range(run.epoch, config.optim.epochs):
        dataset.epoch = epoch
        head.train()
        sums: dict[str, float] = {}
        batches = 0
        started = time.perf_counter()
        per_epoch = len(loader) * config.optim.batch_size if loader_drop_last else len(dataset)
        source = (
            cache.batches(config.optim.batch_size, shuffler, loader_drop_last) if cache.complete(per_epoch) else loader
        )
        bar = tqdm(source, desc=f"epoch {epoch + 1}/{config.optim.epochs}", unit="batch", disable=not show)
        for batch in bar:
            targets = batch["targets"].to(accelerator.device)
            indices = [int(i) for i in batch["index"]]
            features = cache.lookup(indices, accelerator.device)
            if features is None:
                images = batch["image"]
                features = model.frozen_features(images)
                cache.store(indices, features, targets)
            size = tuple(batch["size"]) if "size" in batch else tuple(batch["image"].shape[1:3])
            outputs = head(features, size)
            losses = grasp_map_losses(outputs, targets, config.loss)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(losses["total"])
            optimizer.step()
            scheduler.step()
            step += 1
            batches += 1
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{sums['total'] / batches:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if max_steps is not None and step >= max_steps:
                stopped = True
                break
        record = {
            "epoch": epoch + 1,
            "step": step,
            "seconds": round(time.perf_counter() - started, 1),
            **{f"train_{name}": value / max(1, batches) for name, value in sums.items()},
        }
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            model.eval()
            metrics, shown = validate_predictor(
                DensePredictor(model, model_id="training"), val_samples, config.val_overlays, progress=show
            )
            improved = run.record(record, metrics)
            record = run.history[-1]  # with the val_ columns
            run.epoch, run.step = epoch + 1, step
            if improved:
                save_checkpoint(model, best_dir, extra={"training": {"config": _plain(config), "metrics": record}})
            save_checkpoint(model, last_dir, extra={"training": {"config": _plain(config)}})
            run.save(last_dir, optimizer, scheduler)
            run.write_history(out_dir)
            write_run_report(out_dir, _report_layout(config, out_dir), run.history, shown if improved else None)
            if show:
                print(
                    f"epoch {epoch + 1}: loss {record['train_total']:.4f}  val top-1 "
                    f"{record['val_accuracy_top1']:.1%}  IoU {record['val_mean_iou']:.3f}"
                    + ("  (best)" if improved else "")
                )
        if stopped:
            break
    accelerator.wait_for_everyone()
    return run.best or {}


def _plain(config: TrainConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))


def _model_signature(model_config) -> dict:
    values = model_config.to_dict()
    values["encoder"].pop("weights_sha256", None)
    return values


#: What may change when a run resumes: where it writes, how it loads, what its report draws, and
#: how many epochs it runs (to extend it). Anything else would splice two different runs together.
RESUMABLE = {"output_dir", "num_workers", "val_overlays", "model"}  # the model is compared apart, by signature


def _changed_sections(saved: dict, now: dict) -> list[str]:
    def comparable(section: str, values: object) -> object:
        return (
            {k: v for k, v in values.items() if k != "epochs"}
            if section == "optim" and isinstance(values, dict)
            else values
        )

    return [
        section
        for section in sorted(set(saved) | set(now))
        if section not in RESUMABLE and comparable(section, saved.get(section)) != comparable(section, now.get(section))
    ]


def _network_of(model_config: DenseModelConfig) -> dict:
    """The parts of a model config that shape its weights (not thresholds, flip or postprocessing,
    nor which encoder blocks train)."""
    values = _model_signature(model_config)
    values["encoder"].pop("tune_from_stride", None)
    return {key: values[key] for key in ("encoder", "decoder", "input_long_side", "width_scale")}


def _start_from(model: DenseGraspModel, config: TrainConfig) -> None:
    """Load ``config.init_from``'s weights into ``model``: its decoder, and its tuned encoder blocks
    if it has any (same network; a frozen encoder may start a tuned run, not the other way round,
    since blocks it tuned would then be frozen here and lost from this run's checkpoints)."""
    start = load_checkpoint(config.init_from)
    theirs, ours = _network_of(start.config), _network_of(config.model)
    if theirs != ours:
        differ = sorted(key for key in ours if theirs[key] != ours[key])
        raise CheckpointError(
            f"{config.init_from}: init_from needs the same network as this run's model; {', '.join(differ)} differ"
        )
    their_tuning, our_tuning = start.config.encoder.tune_from_stride, config.model.encoder.tune_from_stride
    if their_tuning and not (our_tuning and our_tuning <= their_tuning):
        raise CheckpointError(
            f"{config.init_from}: its encoder is tuned from stride {their_tuning}; this run would freeze those "
            f"blocks (tune_from_stride {our_tuning}); tune from {their_tuning} or below"
        )
    model.load_trainable_state(start.trainable_state())


def _resume(model: DenseGraspModel, optimizer, scheduler, folder: Path, config: TrainConfig) -> RunState:
    saved_config, saved = read_config(folder)
    if _model_signature(saved_config) != _model_signature(config.model):
        raise ValueError(f"{folder}: the saved run has a different model config; use --fresh or another output_dir")
    changed = _changed_sections(saved.get("training", {}).get("config", {}), _plain(config))
    if changed:
        raise ValueError(
            f"{folder}: the saved run was trained with different {', '.join(changed)} settings; "
            "use --fresh or another output_dir"
        )
    from safetensors.torch import load_file

    model.load_trainable_state(load_file(str(folder / WEIGHTS_NAME)))
    return RunState.load(folder, optimizer, scheduler)


def main(argv: list[str] | None = None) -> int:
    return run_trainer_main("train_decoder", __doc__, train, load_train_config, "checkpoint", argv)


if __name__ == "__main__":
    sys.exit(main())
