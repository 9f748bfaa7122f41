"""What both trainers share: seeding, validation records, the best/last rule, and the resumable
state kept next to ``last/`` (optimiser, scheduler, progress, history)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlm_grasp_ros.core.datasets import GraspSample
from vlm_grasp_ros.core.evaluation import Samples, evaluate_predictor
from vlm_grasp_ros.core.metrics import ImageResult, summarize
from vlm_grasp_ros.core.predictors.base import GraspPredictor

STATE_NAME = "training_state.pt"
HISTORY_NAME = "history.jsonl"
#: The best checkpoint has the highest validation top-1; mean IoU breaks ties.
RANKING_KEYS = ("val_accuracy_top1", "val_mean_iou")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def validate_predictor(
    predictor: GraspPredictor, samples: Samples, overlays: int, batch_size: int = 1, progress: bool = True
) -> tuple[dict[str, Any], list[tuple[GraspSample, ImageResult]]]:
    """The core evaluation on the validation images: its summary and the first ``overlays`` results."""
    results: list[ImageResult] = []
    shown: list[tuple[GraspSample, ImageResult]] = []
    for sample, result in evaluate_predictor(predictor, samples, batch_size=batch_size, progress=progress):
        results.append(result)
        if len(shown) < overlays:
            shown.append((sample, result))
    metrics = summarize(results)
    if metrics["accuracy_top1"] is None:
        raise ValueError(f"none of the {len(results)} validation images carries a label: top-1 cannot rank checkpoints")
    return metrics, shown


def validation_record(metrics: dict[str, Any]) -> dict[str, float]:
    """A summary's numbers as history columns: ``val_<key>``, latency as its median."""
    record = {
        f"val_{key}": float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None
    }
    record["val_latency_ms"] = float(metrics["latency_ms"]["median"])
    return record


def ranking(record: dict[str, Any]) -> tuple[float, ...]:
    return tuple(float(record.get(key, float("-inf"))) for key in RANKING_KEYS)


@dataclass
class RunState:
    """Where a run is: progress counters, the best record so far and every record."""

    epoch: int = 0
    step: int = 0
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self, progress: dict[str, Any], metrics: dict[str, Any]) -> bool:
        """Append a history row (``progress``: step, losses, ...; then the validation ``metrics``
        as ``val_<key>`` columns); True when it is the new best."""
        record = progress | validation_record(metrics)
        self.history.append(record)
        improved = self.best is None or ranking(record) > ranking(self.best)
        if improved:
            self.best = record
        return improved

    def write_history(self, out_dir: Path) -> None:
        (out_dir / HISTORY_NAME).write_text("".join(json.dumps(r) + "\n" for r in self.history), encoding="utf-8")

    def save(self, folder: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": self.epoch,
                "step": self.step,
                "best": json.dumps(self.best),
                "history": json.dumps(self.history),
            },
            folder / STATE_NAME,
        )

    @classmethod
    def load(cls, folder: Path, optimizer: torch.optim.Optimizer, scheduler: Any) -> RunState:
        # weights_only: the state holds tensors, numbers and strings only; nothing in it can run code.
        state = torch.load(folder / STATE_NAME, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        return cls(int(state["epoch"]), int(state["step"]), json.loads(state["best"]), json.loads(state["history"]))


def resumable(last_dir: Path, fresh: bool) -> bool:
    return not fresh and (last_dir / STATE_NAME).is_file()


def run_trainer_main(
    prog: str,
    doc: str | None,
    train: Callable[..., dict],
    load_config: Callable[[str], Any],
    result_key: str,
    argv: list[str] | None = None,
) -> int:
    """The trainers' shared command line: --config, --fresh, --output-dir, --max-steps."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog=f"python -m training.{prog}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="a YAML file under training/configs/")
    parser.add_argument("--fresh", action="store_true", help="ignore <output_dir>/last and start over")
    parser.add_argument("--output-dir", default=None, help="override the config's output_dir")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps (smoke runs)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.output_dir:
            config.output_dir = args.output_dir
        best = train(config, fresh=args.fresh, max_steps=args.max_steps)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"best": best, result_key: str(Path(config.output_dir) / "best")}, indent=2))
    return 0
