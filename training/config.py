"""Training configuration: dataclasses loaded from YAML, with errors that name the file."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from vlm_grasp_ros.core.dense.model import DenseModelConfig
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, check_kind_boost


@dataclass
class DataSource:
    """``dataset: generated`` renders synthetic scenes on the fly (``seed``, ``count``, and
    ``min_objects`` per scene if above the generator's 1, ``view`` as ``vlm-grasp synth --view``
    with ``robot_share`` and ``bullet_share`` for ``mixed`` and ``empty_share`` for scenes with
    no objects and ``kind_boost`` for more of some kinds of object (SceneConfig), ``image_size``
    [width, height]); any ``vlm-grasp eval`` dataset name reads ``root``
    (``limit`` = only the first N)."""

    dataset: str = "generated"
    root: str = ""
    seed: int = 0
    count: int = 0
    min_objects: int = 0
    view: str = "top_down"
    robot_share: float = SceneConfig.robot_share
    bullet_share: float = SceneConfig.bullet_share
    empty_share: float = SceneConfig.empty_share
    kind_boost: dict[str, float] = field(default_factory=dict)
    image_size: tuple[int, int] = (640, 480)
    limit: int = 0
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        check_kind_boost(self.kind_boost)  # at load, so the error names the config file


@dataclass
class AugmentConfig:
    flip_probability: float = 0.5
    rotation_probability: float = 0.5
    max_rotation_deg: float = 15.0
    crop_probability: float = 0.5
    min_crop_fraction: float = 0.6
    colour_strength: float = 0.2


@dataclass
class TargetConfig:
    #: Per object (the mask label under each grasp centre; one object if there is no mask),
    #: rasterise only grasps whose opening is within ``narrowest_ratio`` of that object's
    #: narrowest. Overlapping across- and end-to-end labels otherwise give a box's middle a
    #: patchwork of two angles, and the model learns neither. 0 = keep every label.
    narrowest_ratio: float = 0.0


WIDTH_LOSS_FORMS = ("linear", "log")


@dataclass
class LossWeights:
    quality: float = 1.0
    angle: float = 1.0
    width: float = 1.0
    mask: float = 0.5
    #: ``linear``: squared error of the width map (opening / width_scale). ``log``: squared error
    #: of the log openings, so twice too wide costs the same on a 5 px rail as on a 60 px box (the
    #: rectangle metric's IoU is scale-free too); with ``linear`` a thin part's error is a rounding
    #: error beside a large object's, and the width loss is ~30x smaller than the angle loss.
    width_form: str = "linear"

    def __post_init__(self) -> None:
        if self.width_form not in WIDTH_LOSS_FORMS:
            raise ValueError(f"width_form must be one of {WIDTH_LOSS_FORMS}, got {self.width_form!r}")


@dataclass
class OptimConfig:
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    #: Linear warm-up steps, then cosine decay to 5% over the remaining steps.
    warmup_steps: int = 50
    #: Peak rate of the tuned encoder blocks (``model.encoder.tune_from_stride``); pretrained
    #: weights want a gentler step than a decoder. 0 = ``learning_rate``.
    encoder_learning_rate: float = 0.0


@dataclass
class TrainConfig:
    output_dir: str = "out/training/dense"
    seed: int = 0
    model: DenseModelConfig = field(default_factory=DenseModelConfig)
    train: DataSource = field(default_factory=DataSource)
    val: DataSource = field(default_factory=DataSource)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    optim: OptimConfig = field(default_factory=OptimConfig)
    #: A dense checkpoint folder whose decoder weights start the run instead of a random init
    #: (fine-tuning a released model on new scenes); its network must be the one in ``model``,
    #: except that a frozen encoder may start a run that tunes its top blocks.
    #: Ignored when the run resumes from its own ``last`` checkpoint.
    init_from: str = ""
    #: Keep each training image's encoder features (fp16, in memory) after the first epoch: those
    #: below the tuned blocks, which never change; each image then keeps the augmentation it was
    #: first drawn with (generate more scenes for variety instead).
    cache_features: bool = True
    num_workers: int = 1
    #: Validation images drawn in the report's overlay grid.
    val_overlays: int = 8


def _dataclass_of(hint: Any) -> type | None:
    """The dataclass a field holds (``X`` for ``X`` or ``X | None``), else None."""
    if isinstance(hint, type) and is_dataclass(hint):
        return hint
    options = [arg for arg in get_args(hint) if arg is not type(None)]
    return options[0] if len(options) == 1 and isinstance(options[0], type) and is_dataclass(options[0]) else None


_SCALAR_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _checked_scalar(hint: Any, value: Any, where: str) -> Any:
    """A bool, int, float or str field's value, checked here so that ``epochs: four`` names the file
    and key instead of failing deep in training. A float may be written ``1e-4``, which YAML 1.1
    reads as a string (it wants ``1.0e-4``)."""
    options = set(get_args(hint)) if get_origin(hint) in (Union, UnionType) else {hint}
    kinds = [kind for kind in _SCALAR_NAMES if kind in options]
    if not kinds or (value is None and type(None) in options):
        return value
    kind = kinds[0]
    if kind is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {
        bool: isinstance(value, bool),
        int: number and isinstance(value, int),
        float: number,
        str: isinstance(value, str),
    }
    if not ok[kind]:
        raise ValueError(f"{where}: expected {_SCALAR_NAMES[kind]}, got {value!r}")
    return float(value) if kind is float else value


def build_dataclass(cls: type, values: Any, where: str) -> Any:
    """``cls`` from a YAML mapping; fields typed as dataclasses are built from nested mappings.
    Unknown keys and bad values raise ``ValueError`` naming ``where`` (the file and section)."""
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(values).__name__}")
    if cls is DenseModelConfig:  # it converts its own nested parts
        try:
            return DenseModelConfig(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    hints = get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        nested = _dataclass_of(hints[name])
        if nested and value is not None:
            kwargs[name] = build_dataclass(nested, value, f"{where}: {name}")
        else:
            kwargs[name] = _checked_scalar(hints[name], value, f"{where}: {name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_yaml_config(cls: type, path: str | Path) -> Any:
    """Read a YAML training config into ``cls``; unknown keys, bad values and YAML errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return build_dataclass(cls, values, str(path))


def load_train_config(path: str | Path) -> TrainConfig:
    """The dense decoder's training config."""
    return load_yaml_config(TrainConfig, path)
