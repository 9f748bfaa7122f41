"""Decoder training: targets, losses that go down, configs, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from training.config import AugmentConfig, DataSource, LossWeights, OptimConfig, TrainConfig, load_train_config
from training.data import GraspMapDataset, SampleSource, collate_padded
from training.losses import LOG_WIDTH_FLOOR, extended_log, grasp_map_losses
from training.train_decoder import train
from vlm_grasp_ros.core.augment import crop_sample, flip_sample
from vlm_grasp_ros.core.dense.decoder import DecoderConfig
from vlm_grasp_ros.core.dense.encoders import EncoderConfig
from vlm_grasp_ros.core.dense.grasp_maps import rasterize_grasps
from vlm_grasp_ros.core.dense.model import DenseGraspModel, DenseModelConfig
from vlm_grasp_ros.core.grasp import Grasp
from vlm_grasp_ros.core.synthetic.scene import SceneConfig, render_scene

TINY_MODEL = dict(
    encoder={"name": "efficientnet_lite0", "strides": [4, 8, 16]},
    decoder={"channels": 16, "head_channels": 8, "context_blocks": 1},
    input_long_side=96,
)


def test_where_labels_overlap_the_narrowest_opening_sets_the_angle() -> None:
    across = Grasp(50, 50, 0.0, 20, 10)
    end_to_end = Grasp(50, 50, np.pi / 2, 60, 30)
    for order in ([across, end_to_end], [end_to_end, across]):
        maps = rasterize_grasps(order, (100, 100), width_scale=64)
        assert maps.cos2[50, 50] == pytest.approx(1.0) and maps.width[50, 50] * 64 == pytest.approx(20)


def test_flip_and_crop_keep_labels_on_their_pixels() -> None:
    sample = render_scene(3, 0)
    grasp = sample.grasps[0]
    flipped = flip_sample(sample)
    assert flipped.grasps[0].cx == pytest.approx(sample.width - grasp.cx)
    assert flipped.grasps[0].theta == pytest.approx(-grasp.theta)
    assert np.array_equal(flip_sample(flipped).image, sample.image)
    # The object label under the grasp centre is the same before and after the flip.
    label = sample.mask[int(grasp.cy), int(grasp.cx)]
    assert label > 0 and flipped.mask[int(grasp.cy), int(sample.width - grasp.cx)] == label
    top, left = int(grasp.cy) - 20, int(grasp.cx) - 30
    cropped = crop_sample(sample, top, left, 100, 120)
    moved = [g for g in cropped.grasps if g.width == grasp.width and g.theta == grasp.theta][0]
    assert (moved.cx, moved.cy) == pytest.approx((grasp.cx - left, grasp.cy - top))
    assert cropped.image.shape == (100, 120, 3) and cropped.mask[20, 30] == sample.mask[top + 20, left + 30]
    with pytest.raises(ValueError, match="outside"):
        crop_sample(sample, 1000, 0, 10, 10)


def test_a_few_training_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    config = DenseModelConfig(**TINY_MODEL)
    model = DenseGraspModel(config)
    dataset = GraspMapDataset(
        DataSource(count=4, seed=5), config, model.preprocessing, None, seed=0, fixed_augmentation=True
    )
    batch = collate_padded([dataset[i] for i in range(4)])
    assert batch["targets"][:, 0].sum() > 0  # the scenes have labelled grasp centres
    features = model.features(batch["image"])
    optimizer = torch.optim.AdamW(model.decoder.parameters(), lr=3e-3)
    model.decoder.train()
    losses = []
    for _ in range(20):
        loss = grasp_map_losses(
            model.decode(features, tuple(batch["image"].shape[1:3])), batch["targets"], LossWeights()
        )
        optimizer.zero_grad()
        loss["total"].backward()
        optimizer.step()
        losses.append(float(loss["total"].detach()))
    assert losses[-1] < 0.7 * losses[0]


def _width_loss(predicted: float, target: float, form: str) -> float:
    """The width loss of a 4x4 frame labelled everywhere with one opening."""
    targets = torch.zeros((1, 5, 4, 4))
    targets[:, 0] = 1.0
    targets[:, 3] = target
    outputs = torch.zeros((1, 5, 4, 4))
    outputs[:, 3] = predicted
    return float(grasp_map_losses(outputs, targets, LossWeights(width_form=form))["width"])


def test_the_log_width_loss_prices_twice_too_wide_alike_on_thin_and_large_openings() -> None:
    thin, large = 5 / 64, 60 / 64  # a rail's and a box's openings, as width-map values
    assert _width_loss(2 * thin, thin, "log") == pytest.approx(np.log(2) ** 2, rel=1e-5)
    assert _width_loss(2 * thin, thin, "log") == pytest.approx(_width_loss(2 * large, large, "log"), rel=1e-5)
    assert _width_loss(0.5 * large, large, "log") == pytest.approx(np.log(2) ** 2, rel=1e-5)
    # The linear loss prices the same relative error on the rail ~140x lower than on the box.
    assert _width_loss(2 * thin, thin, "linear") < _width_loss(2 * large, large, "linear") / 100
    assert _width_loss(thin, thin, "log") == 0.0


def test_the_extended_log_is_continuous_finite_and_pushes_small_openings_up() -> None:
    values = torch.tensor([-0.5, 0.0, LOG_WIDTH_FLOOR, 0.5], requires_grad=True)
    logs = extended_log(values)
    assert torch.isfinite(logs).all()
    assert float(logs[2].detach()) == pytest.approx(np.log(LOG_WIDTH_FLOOR))
    assert float(logs[3].detach()) == pytest.approx(np.log(0.5))
    just_below = float(extended_log(torch.tensor(LOG_WIDTH_FLOOR * 0.999)))
    assert just_below == pytest.approx(np.log(LOG_WIDTH_FLOOR), abs=1e-2)
    logs.sum().backward()
    assert values.grad is not None and (values.grad > 0).all()  # every opening's log rises with it
    # A prediction below zero under a labelled grasp gets a finite loss with a gradient that raises it.
    prediction = torch.full((1, 5, 2, 2), -0.2, requires_grad=True)
    targets = torch.zeros((1, 5, 2, 2))
    targets[:, 0], targets[:, 3] = 1.0, 0.1
    grasp_map_losses(prediction, targets, LossWeights(width_form="log"))["width"].backward()
    assert prediction.grad is not None and (prediction.grad[:, 3] < 0).all()


def test_the_config_loader_names_the_file_and_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("output_dir: x\noptim: {epochs: 2, learning_rat: 0.1}\n")
    with pytest.raises(ValueError, match=rf"{path}: optim: unknown keys \['learning_rat'\]"):
        load_train_config(path)
    path.write_text("output_dir: x\nmodel:\n  encoder: {name: resnet}\n")
    with pytest.raises(ValueError, match=rf"{path}: model: .*unknown encoder 'resnet'"):
        load_train_config(path)
    path.write_text("output_dir: x\nloss: {width_form: cubic}\n")
    with pytest.raises(ValueError, match=rf"{path}: loss: width_form must be one of .*'cubic'"):
        load_train_config(path)
    path.write_text("output_dir: x\noptim: {epochs: [1, 2}\n")
    with pytest.raises(ValueError, match=rf"{path}:2: not valid YAML"):
        load_train_config(path)
    # A value of the wrong kind is named when the file is read, not deep in training.
    for text, message in [
        ("optim: {epochs: four}", "optim: epochs: expected an integer, got 'four'"),
        ("optim: {epochs: 2.5}", "optim: epochs: expected an integer, got 2.5"),
        ("optim: {learning_rate: fast}", "optim: learning_rate: expected a number, got 'fast'"),
        ("cache_features: maybe", "cache_features: expected true or false, got 'maybe'"),
        ("train: {count: true}", "train: count: expected an integer, got True"),
    ]:
        path.write_text(f"output_dir: x\n{text}\n")
        with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
            load_train_config(path)
    # YAML 1.1 reads 1e-4 (no dot) as a string; a number field takes it as the number it means.
    path.write_text("output_dir: x\noptim: {learning_rate: 1e-4, epochs: 3}\n")
    assert load_train_config(path).optim.learning_rate == 1e-4
    configs = sorted((Path(__file__).parents[1] / "training/configs").glob("dense_*.yaml"))
    shipped = {path.stem: load_train_config(path) for path in configs}
    assert {c.model.encoder.name for c in shipped.values()} == {"efficientnet_lite0", "internvit", "qwen2vl_vit"}
    assert all(c.train.seed != c.val.seed for c in shipped.values())


def _tiny_run(out: Path, epochs: int) -> TrainConfig:
    return TrainConfig(
        output_dir=str(out),
        model=DenseModelConfig(**json.loads(json.dumps(TINY_MODEL))),
        train=DataSource(count=8, seed=1),
        val=DataSource(count=3, seed=2),
        augment=AugmentConfig(),
        optim=OptimConfig(epochs=epochs, batch_size=4, warmup_steps=1),
        num_workers=0,
        val_overlays=2,
    )


def test_training_keeps_the_best_checkpoint_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_tiny_run(out, epochs=1), progress=False)
    first = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in first] == [1] and first[0]["step"] == 2
    assert (out / "best" / "model.safetensors").is_file() and (out / "report.md").is_file()
    best = train(_tiny_run(out, epochs=2), progress=False)  # the same run, one more epoch: resumes
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2] and history[1]["step"] == 4
    assert history[0] == first[0]  # epoch 1 was not run again
    assert best["val_accuracy_top1"] == max(r["val_accuracy_top1"] for r in history)
    saved = json.loads((out / "best" / "config.json").read_text())
    assert saved["training"]["metrics"]["epoch"] == best["epoch"]
    changed = _tiny_run(out, epochs=3)
    changed.model.decoder = DecoderConfig(channels=24, head_channels=8, context_blocks=1)
    with pytest.raises(ValueError, match="different model config"):
        train(changed, progress=False)
    more_scenes = _tiny_run(out, epochs=3)  # other data under the same name is another run
    more_scenes.train.count = 12
    with pytest.raises(ValueError, match="trained with different train settings; use --fresh"):
        train(more_scenes, progress=False)
    assert EncoderConfig(**saved["model"]["encoder"]).name == "efficientnet_lite0"


def test_init_from_starts_the_decoder_from_another_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from vlm_grasp_ros.core.dense.checkpoint import CheckpointError

    train(_tiny_run(tmp_path / "first", epochs=1), progress=False)
    trained = load_file(str(tmp_path / "first" / "last" / "model.safetensors"))
    frozen = _tiny_run(tmp_path / "second", epochs=1)
    frozen.init_from = str(tmp_path / "first" / "last")
    frozen.optim.learning_rate = 0.0  # nothing moves: the run ends where it started
    frozen.optim.weight_decay = 0.0
    train(frozen, progress=False)
    started = load_file(str(tmp_path / "second" / "last" / "model.safetensors"))
    weights = [k for k in trained if "running_" not in k and "num_batches" not in k]  # norm statistics still move
    assert started.keys() == trained.keys() and all(torch.equal(started[k], trained[k]) for k in weights)
    scratch = _tiny_run(tmp_path / "third", epochs=1)
    scratch.optim.learning_rate = 0.0
    train(scratch, progress=False)
    untrained = load_file(str(tmp_path / "third" / "last" / "model.safetensors"))
    assert not all(torch.equal(untrained[k], trained[k]) for k in weights)  # so the equality above means something
    other = _tiny_run(tmp_path / "fourth", epochs=1)
    other.model.decoder = DecoderConfig(channels=24, head_channels=8, context_blocks=1)
    other.init_from = str(tmp_path / "first" / "last")
    with pytest.raises(CheckpointError, match=r"first/last: init_from needs the same network .*decoder differ"):
        train(other, progress=False)


def test_the_feature_cache_serves_whole_epochs_once_full() -> None:
    from training.train_decoder import FeatureCache

    cache = FeatureCache(enabled=True)
    features = [torch.randn(3, 4, 8, 8), torch.randn(3, 6, 4, 4)]
    targets = torch.rand(3, 5, 32, 32)
    cache.store([7, 8, 9], features, targets)
    assert not cache.complete(4) and cache.complete(3)
    hit = cache.lookup([9, 7], torch.device("cpu"))
    assert torch.allclose(hit[0], features[0][[2, 0]], atol=1e-2)  # fp16 storage
    assert cache.lookup([9, 10], torch.device("cpu")) is None
    batches = cache.batches(2, torch.Generator().manual_seed(0), drop_last=False)
    assert sorted(int(i) for b in batches for i in b["index"]) == [7, 8, 9]
    first = batches[0]
    assert torch.allclose(first["targets"][0].float(), targets[int(first["index"][0]) - 7], atol=1e-3)
    assert not FeatureCache(enabled=False).complete(0)


def test_cached_batches_never_mix_padded_sizes() -> None:
    """A crop's rounding can make one frame a padding step taller; such a frame goes in a batch
    of its own size instead of breaking the stack (as it did with 320x240 scenes)."""
    from training.train_decoder import FeatureCache

    cache = FeatureCache(enabled=True)
    for index in range(7):
        rows = 224 if index in (2, 5) else 192
        cache.store([index], [torch.zeros(1, 2, rows // 4, 64)], torch.zeros(1, 5, rows, 256))
    batches = cache.batches(3, torch.Generator().manual_seed(1), drop_last=False)
    assert sorted(int(i) for b in batches for i in b["index"]) == list(range(7))
    for batch in batches:
        assert {int(i) in (2, 5) for i in batch["index"]} in ({True}, {False})
        assert batch["targets"].shape[-2] == (224 if int(batch["index"][0]) in (2, 5) else 192)


def test_narrowest_targets_keep_each_objects_narrowest_grasps_only() -> None:
    from training.data import narrowest_per_object

    mask = np.zeros((100, 200), np.int32)
    mask[:, :100], mask[:, 100:] = 1, 2
    box = [Grasp(40, 50, 0.0, 30, 15), Grasp(60, 50, 0.0, 33, 16), Grasp(50, 50, np.pi / 2, 80, 40)]
    disc = [Grasp(150, 50, k * np.pi / 6, 50, 25) for k in range(6)]
    kept = narrowest_per_object(box + disc, mask, ratio=1.25)
    assert kept == box[:2] + disc  # the end-to-end grasp goes; the wider disc keeps all of its own
    assert narrowest_per_object(box, None, ratio=0) == box
    assert narrowest_per_object(box + disc, None, ratio=1.25) == box[:2]  # no mask: one object


def test_label_stats_count_what_each_ratio_keeps_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from training.label_stats import labels_by_kind, main, markdown
    from vlm_grasp_ros.core.datasets.sample import GraspSample

    mask = np.zeros((100, 200), np.int32)
    mask[:, :100], mask[:, 100:] = 1, 2
    mug = [Grasp(40, 50, 0.0, 10, 5), Grasp(60, 50, 0.0, 12, 6), Grasp(50, 50, 1.0, 30, 15)]  # wall, wall, body
    pen = [Grasp(150, 50, 0.0, 5, 2), Grasp(160, 50, 0.0, 5, 2)]
    image = np.zeros((100, 200, 3), np.uint8)
    samples = [
        GraspSample(image, mug + pen, "a", mask, object_kinds=("mug", "pen")),
        GraspSample(image, mug[:2], "b", mask, object_kinds=("mug", "pen")),
    ]
    table = labels_by_kind(samples, (1.25, 3.0))
    assert list(table) == ["mug", "pen"]
    assert (table["mug"].labels, table["mug"].kept) == (5, {1.25: 4, 3.0: 5})  # the body label goes at 1.25
    assert (table["pen"].labels, table["pen"].kept) == (2, {1.25: 2, 3.0: 2})
    assert table["mug"].spreads == [3.0, 1.2] and table["pen"].spreads == [1.0]
    assert "| mug | 5 | 80% | 100% | 2.10 |" in markdown(table, (1.25, 3.0))
    # Without a mask every label is one object of kind "all", as training groups them.
    plain = labels_by_kind([GraspSample(image, mug + pen, "c")], (1.25,))
    assert list(plain) == ["all"] and plain["all"].kept == {1.25: 2}  # only the pen's (5 px) pass 1.25 x 5
    with pytest.raises(SystemExit, match="at least 1"):
        main(["--root", str(tmp_path), "--ratios", "0.5"])
    # From folders as vlm-grasp synth writes them: every label of the scenes is counted once.
    from vlm_grasp_ros.cli.main import main as vlm_grasp
    from vlm_grasp_ros.core.datasets import open_dataset

    scenes = tmp_path / "scenes"
    assert (
        vlm_grasp(["synth", "--view", "robot", "--out", str(scenes), "--n", "2", "--width", "320", "--height", "240"])
        == 0
    )
    main(["--root", str(scenes), "--ratios", "1.25"])
    rows = [
        line.split(" | ")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    assert rows[0][0] == "| kind" and len(rows) > 1
    assert sum(int(row[1]) for row in rows[1:]) == sum(
        len(sample.grasps) for sample in open_dataset("synthetic", scenes)
    )


def test_a_bad_validation_source_fails_before_any_training(tmp_path: Path) -> None:
    config = _tiny_run(tmp_path / "run", epochs=1)
    config.val = DataSource(dataset="cornell", root=str(tmp_path / "no_such_dataset"))
    with pytest.raises((ValueError, FileNotFoundError), match="no_such_dataset"):
        train(config, progress=False)
    assert not (tmp_path / "run" / "history.jsonl").exists()


def test_a_generated_source_passes_its_generator_shares_to_the_scenes(tmp_path: Path) -> None:
    config = tmp_path / "mix.yaml"
    config.write_text(
        "train: {dataset: generated, seed: 3, count: 2, view: mixed, robot_share: 0.0, bullet_share: 1.0,"
        " image_size: [160, 120]}\n"
    )
    source = SampleSource(load_train_config(config).train)
    every_scene_from_pybullet = SceneConfig(width=160, height=120, view="bullet")
    for index in range(2):
        assert np.array_equal(source[index].image, render_scene(3, index, every_scene_from_pybullet).image)


def test_empty_training_scenes_teach_no_grasp_and_no_object_anywhere(tmp_path: Path) -> None:
    config = tmp_path / "empty.yaml"
    config.write_text(
        "train: {dataset: generated, seed: 3, count: 2, view: robot, empty_share: 1.0, image_size: [160, 120]}\n"
    )
    train_config = load_train_config(config)
    model = DenseGraspModel(DenseModelConfig(**TINY_MODEL))
    dataset = GraspMapDataset(train_config.train, model.config, model.preprocessing, AugmentConfig(), 0, True)
    for index in range(2):
        targets = dataset[index]["targets"].float()
        assert not SampleSource(train_config.train)[index].grasps
        assert targets[0].max() == 0 and targets[4].max() == 0  # quality and mask: nothing anywhere


def test_a_validation_set_with_nothing_labelled_is_refused_by_name(tmp_path: Path) -> None:
    config = _tiny_run(tmp_path / "run", epochs=1)
    config.val = DataSource(count=2, seed=2, empty_share=1.0)
    with pytest.raises(ValueError, match="none of the 2 validation images carries a label"):
        train(config, progress=False)


def test_tuning_the_encoders_top_blocks_moves_them_and_nothing_below(tmp_path: Path) -> None:
    from vlm_grasp_ros.core.dense.checkpoint import CheckpointError, load_checkpoint
    from vlm_grasp_ros.core.dense.encoders import build_encoder

    train(_tiny_run(tmp_path / "frozen", epochs=1), progress=False)
    run = _tiny_run(tmp_path / "tuned", epochs=1)
    run.model.encoder = EncoderConfig(strides=(4, 8, 16), tune_from_stride=16)
    run.init_from = str(tmp_path / "frozen" / "last")  # a frozen model may start a tuned run
    run.optim.encoder_learning_rate = 1e-3
    train(run, progress=False)
    tuned = load_checkpoint(tmp_path / "tuned" / "last").encoder
    pristine = build_encoder(EncoderConfig(strides=(4, 8, 16)))
    assert tuned.config.tune_from_stride == 16
    for index, (ours, theirs) in enumerate(zip(tuned.blocks, pristine.blocks, strict=True)):
        same = all(torch.equal(a, b) for a, b in zip(ours.parameters(), theirs.parameters(), strict=True))
        assert same == (index < 5), f"block {index}"
    back = _tiny_run(tmp_path / "back", epochs=1)  # freezing them again would drop what they learned
    back.init_from = str(tmp_path / "tuned" / "last")
    with pytest.raises(CheckpointError, match=r"tuned/last: its encoder is tuned from stride 16; this run would"):
        train(back, progress=False)


def test_a_kind_boost_in_the_config_reaches_the_generated_scenes(tmp_path: Path) -> None:
    config = tmp_path / "boost.yaml"
    config.write_text(
        "train: {dataset: generated, seed: 3, count: 2, view: robot, kind_boost: {mug: 50.0}, image_size: [160, 120]}\n"
    )
    source = SampleSource(load_train_config(config).train)
    assert source.scene_config.kind_boost == {"mug": 50.0}
    boosted = SceneConfig(width=160, height=120, view="robot", kind_boost={"mug": 50.0})
    for index in range(2):
        assert np.array_equal(source[index].image, render_scene(3, index, boosted).image)
        assert set(source[index].object_kinds) == {"mug"}  # 50 of 63: almost surely every object


@pytest.mark.parametrize(
    ("boost", "message"),
    [
        ("mug", "kind_boost must map kinds of object to factors, got 'mug'"),
        ("{mugs: 2}", "kind_boost names 'mugs', not a robot-view kind"),
        ("{mug: two}", "kind_boost of 'mug' must be a positive number, got 'two'"),
    ],
)
def test_a_bad_kind_boost_is_refused_when_the_config_is_read_with_the_file_named(
    tmp_path: Path, boost: str, message: str
) -> None:
    config = tmp_path / "boost.yaml"
    config.write_text(f"train: {{dataset: generated, seed: 3, count: 2, view: robot, kind_boost: {boost}}}\n")
    with pytest.raises(ValueError, match=f"{re.escape(str(config))}: train: {re.escape(message)}"):
        load_train_config(config)
