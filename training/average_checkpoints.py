"""Average the decoder weights of dense checkpoints of one architecture into a new checkpoint.

    python -m training.average_checkpoints out/training/dense_lite0_round6/best \\
        out/training/dense_lite0_round7/best --out DIR

Checkpoints fine-tuned one from the other lie close together, and the mean of their weights is
often better than either (a "model soup", Wortsman et al. 2022) at no cost per frame: it is one
decoder, not an ensemble. The frozen encoder is shared, so only the decoders (and tuned encoder
blocks, with ``tune_from_stride``) are averaged; the
BatchNorm running statistics are averaged like the weights, and its integer step counters are
the first checkpoint's. The thresholds (``postprocess``, ``flip_average``) are the first's too: a
new decoder has a new score scale, so calibrate it afterwards (``training.calibrate_threshold
--model-path DIR --write``). The new ``config.json`` records each input folder and its training
record under ``averaged_from``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from vlm_grasp_ros.core.dense.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from vlm_grasp_ros.core.dense.model import DenseGraspModel

# Everything in a model config that shapes the maps, apart from the post-processing thresholds.
ARCHITECTURE_FIELDS = ("encoder", "decoder", "input_long_side", "width_scale")


def average_checkpoints(folders: Sequence[str | Path]) -> DenseGraspModel:
    """The first checkpoint's model with every floating-point trained tensor replaced by the mean
    over ``folders``. Raises CheckpointError naming the folder whose architecture differs."""
    if len(folders) < 2:
        raise ValueError(f"averaging needs at least two checkpoints, got {len(folders)}")
    models = [load_checkpoint(folder) for folder in folders]  # each checked strictly on its own
    first = models[0].config
    for folder, model in zip(folders[1:], models[1:], strict=True):
        for name in ARCHITECTURE_FIELDS:
            if getattr(model.config, name) != getattr(first, name):
                raise CheckpointError(
                    f"{Path(folder) / 'config.json'}: model.{name} is {getattr(model.config, name)} but "
                    f"{Path(folders[0]) / 'config.json'} has {getattr(first, name)}; "
                    "only one architecture can be averaged"
                )
    states = [model.trainable_state() for model in models]
    averaged = {
        name: torch.stack([state[name].float() for state in states]).mean(0).to(tensor.dtype)
        if tensor.is_floating_point()
        else tensor
        for name, tensor in states[0].items()
    }
    models[0].load_trainable_state(averaged)
    return models[0]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", help="dense checkpoint folders (config.json + model.safetensors)")
    parser.add_argument("--out", required=True, help="folder to write config.json and model.safetensors into")
    args = parser.parse_args(argv)
    try:
        model = average_checkpoints(args.folders)
        provenance = [
            {"folder": str(folder), "training": read_config(folder)[1].get("training")} for folder in args.folders
        ]
    except (CheckpointError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    save_checkpoint(model, args.out, extra={"averaged_from": provenance})
    print(
        f"wrote the mean of {len(args.folders)} decoders into {args.out}; its thresholds are the first's: "
        f"calibrate it (python -m training.calibrate_threshold --model-path {args.out} ... --write)"
    )


if __name__ == "__main__":
    main()
