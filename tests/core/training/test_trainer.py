"""The training loop: losses go down, checkpoints resume exactly, outputs and refusals."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lfmri_core.errors import InputError
from lfmri_core.masks import MaskSpec
from lfmri_core.models import ClassifierConfig, LFMRIConfig, LFMRINet, build_classifier, load_weights, read_weights_metadata
from lfmri_core.physics import center_crop
from lfmri_core.training import (
    DataOrder,
    FolderSource,
    LesionMixOrder,
    Trainer,
    TrainingConfig,
    TrainingData,
    build_model,
    coil_images,
    read_checkpoint,
    recon_batch,
    rss_target,
)
from tests.tolerances import rounding_rtol

TINY_CLASSIFIER = ClassifierConfig(width=4)
TINY_UNROLLED = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=2, lesion_focus=False)


@pytest.fixture(scope="module")
def data(tiny_data: Path) -> TrainingData:
    return FolderSource(tiny_data, tiny_data / "lfmri_knee.csv", tiny_data / "lfmri_knee_file_list.csv", val_volumes=1).load()


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return build_classifier(TINY_CLASSIFIER).eval()


def _config(task: str, **changes: object) -> TrainingConfig:
    values: dict[str, object] = dict(steps=4, batch_size=2, crop_rows=32, validate_every=100, checkpoint_every=100,
                                     val_slices=2, lr=1e-2, warmup_steps=0)
    values.update(changes)
    return TrainingConfig(task=task, **values)  # type: ignore[arg-type]


def _train_kspace(trainer: Trainer) -> torch.Tensor:
    return torch.stack([trainer.train_set[i].kspace for i in range(len(trainer.train_set))])


def _fixed_recon_loss(trainer: Trainer) -> float:
    kspace = _train_kspace(trainer)
    batch = recon_batch(kspace, (160, 160), MaskSpec("random", 4, 0.08, seed=0), crop_rows=32,
                        crop_fractions=[0.45] * len(kspace))
    with torch.no_grad():
        output = trainer.model(batch.kspace, batch.mask, batch.sensitivities)
        return float(trainer.loss(center_crop(output.image.abs(), batch.crop_shape), batch.target).total.mean())


def _lf_psnr_from_its_definition(trainer: Trainer, acceleration: float, center_fraction: float) -> tuple[float, float]:
    """The final model's LF-PSNR on the (one) validation volume, computed here from the
    definition: ``10 log10(maxval^2 / MSE)`` with the squared error pooled over the pixels of
    every lesion box of the validation slices, against the file's stored ``reconstruction_rss``
    and its ``max``, with fastMRI's per-file mask. Returns ``(dB, margin in dB)``.

    Validation ran the same model on the same batch in this process, so only the rounding of
    the metric itself separates the two values: a float32 sum of the squared errors, relative
    error ``rounding_rtol(float32, terms=pixels)``, which moves the dB value by ``10 / ln 10``
    times that."""
    from lfmri_core.io.fastmri_h5 import FastMRIVolume
    from lfmri_core.masks import seed_from_filename

    (volume,) = {v for v, _ in trainer.val_set.items}
    entry = trainer.val_set.volumes[volume]
    slices = [s for _, s in trainer.val_set.items]
    kspace = torch.stack([trainer.val_set[p].kspace for p in range(len(slices))])
    spec = MaskSpec("random", acceleration, center_fraction, seed=seed_from_filename(entry.name))
    batch = recon_batch(kspace, entry.recon_shape, spec, padding=entry.padding)
    model = trainer.model.eval()
    with torch.no_grad():
        recon = center_crop(model(batch.kspace, batch.mask, batch.sensitivities).image.abs(), batch.crop_shape)
    with FastMRIVolume(entry.path) as file:
        target = np.stack([file.target(s) for s in slices]).astype(np.float64)
        maxval = float(file.info.attrs["max"])
    errors = []
    for row, s in enumerate(slices):
        inside = np.zeros(target.shape[1:], dtype=bool)
        for box in entry.annotations.boxes_on(s):
            inside[box.row0 : box.row1, box.col0 : box.col1] = True
        errors.append((recon[row].double().numpy() - target[row])[inside])
    error = np.concatenate(errors)
    assert error.size > 0
    margin_db = 10 / math.log(10) * rounding_rtol(torch.float32, terms=error.size)
    return 10 * math.log10(maxval**2 / float(np.mean(error**2))), margin_db


def test_classifier_training_lowers_its_loss(data: TrainingData, tmp_path: Path) -> None:
    config = _config("classifier", steps=12, lr=5e-3, warmup_steps=4, min_lr_ratio=1.0, zero_filled_fraction=0.5,
                     validate_every=6, val_slices=4)
    trainer = Trainer(config, data, tmp_path, model_config=TINY_CLASSIFIER)
    assert len(trainer.train_set) == 4  # the two training volumes, every slice labelled
    images = rss_target(coil_images(_train_kspace(trainer)), (160, 160)).unsqueeze(1)
    labels = torch.from_numpy(trainer.train_set.targets)

    def loss() -> float:
        with torch.no_grad():
            return float(F.binary_cross_entropy_with_logits(trainer.model(images).logits, labels))

    before = loss()
    result = trainer.run()
    assert loss() < before - 0.01
    assert result.completed and result.steps == 12
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [6, 12]
    assert set(log[0]["validation"]) == {"accuracy", "auc", "slices", "positives", "pointing_game", "boxed_slices"}
    validation = log[0]["validation"]
    boxed = sum(1 for v, sl in trainer.val_set.items
                if any(not b.is_empty for b in trainer.val_set.volumes[v].annotations.boxes_on(sl)))
    assert validation["boxed_slices"] == boxed >= 1
    # a fraction of the boxed slices: hits / boxed, one float64 division
    assert validation["pointing_game"] * boxed == pytest.approx(round(validation["pointing_game"] * boxed), rel=rounding_rtol(np.float64))
    model = load_weights(tmp_path / "classifier.safetensors", kind="classifier")
    assert model.config == TINY_CLASSIFIER
    meta = read_weights_metadata(tmp_path / "classifier.safetensors")
    assert json.loads(meta["class_names"]) == ["any lesion"] and meta["steps"] == "12" and meta["seed"] == "0"


def test_reconstruction_training_lowers_its_loss(data: TrainingData, tmp_path: Path) -> None:
    trainer = Trainer(_config("unrolled-no-focus", steps=6, validate_every=3), data, tmp_path, model_config=TINY_UNROLLED)
    assert trainer.loss is not None and trainer.loss.weights["lesion"] == 0.0  # the ablation: no lesion loss
    before = _fixed_recon_loss(trainer)
    result = trainer.run()
    assert _fixed_recon_loss(trainer) < 0.95 * before
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [3, 6]
    validation = log[-1]["validation"]
    assert set(validation) == {"4x", "8x"}
    assert validation["4x"]["lesion_slices"] == 2
    for (acceleration, center_fraction), key in zip(trainer.config.accelerations, ("4x", "8x"), strict=True):
        expected, margin = _lf_psnr_from_its_definition(trainer, acceleration, center_fraction)
        assert validation[key]["lf_psnr"] == pytest.approx(expected, abs=margin), key
    assert result.last_validation == validation
    meta = read_weights_metadata(result.weights)
    assert meta["lfmri_model_kind"] == "lfmri" and "synthetic" not in meta["data"] and meta["machine"]
    assert json.loads(meta["training_config"])["task"] == "unrolled-no-focus"


def test_resume_continues_exactly(data: TrainingData, classifier: torch.nn.Module, tmp_path: Path) -> None:
    """2 steps, stop, resume 2 more == 4 steps at once (LF-MRI, with its frozen Net_c)."""
    model_config = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=2, classifier=TINY_CLASSIFIER)
    config = _config("lfmri", checkpoint_every=2, validate_every=2, val_slices=1)

    straight = Trainer(config, data, tmp_path / "straight", model_config=model_config, classifier=classifier)
    straight.run()

    # a data-loading worker reads ahead of the stop: the checkpoint must hold the order as used
    first = Trainer(replace(config, num_workers=1), data, tmp_path / "resumed", model_config=model_config, classifier=classifier)
    stopped = first.run(until=2)
    assert not stopped.completed and stopped.weights is None and stopped.steps == 2
    saved = read_checkpoint(tmp_path / "resumed" / "checkpoint.safetensors")
    assert saved.metadata["step"] == 2 and saved.state["order.generator"].dtype == torch.uint8
    assert {"exp_avg", "exp_avg_sq", "step"} <= set(saved.optimizer[0])
    second = Trainer(config, data, tmp_path / "resumed", model_config=model_config, classifier=classifier, resume=True)
    assert second.step == 2
    second.run()

    assert isinstance(second.model, LFMRINet) and second.model.classifier is not None
    assert second.model.classifier is not classifier
    # the same operations on the same data in the same process: equal to the last bit
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    # Net_c stayed frozen while the rest learned
    for a, b in zip(classifier.state_dict().values(), second.model.classifier.state_dict().values()):
        assert torch.equal(a, b)
    initial = build_model("lfmri", model_config, classifier, config.seed)
    assert not torch.equal(initial.denoisers[0].net[0].weight, second.model.denoisers[0].net[0].weight)
    logged = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "train_log.jsonl").read_text().splitlines()]
    assert logged == [2, 4]


def test_refusals(data: TrainingData, classifier: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing to resume"):
        Trainer(_config("unet"), data, tmp_path, resume=True)
    with pytest.raises(InputError, match="classifier"):
        Trainer(_config("lfmri"), data, tmp_path)
    with pytest.raises(InputError, match="classifier"):
        Trainer(_config("unrolled-no-focus", loss={"lesion": 1.0}), data, tmp_path, model_config=TINY_UNROLLED)
    with pytest.raises(InputError, match="batch size 3"):
        from lfmri_core.training import DistributedContext

        Trainer(_config("unet", batch_size=3), data, tmp_path, context=DistributedContext(0, 2, 0, "gloo"))
    Trainer(_config("unrolled-no-focus", steps=1), data, tmp_path, model_config=TINY_UNROLLED).run()
    with pytest.raises(InputError, match="already holds a checkpoint"):
        Trainer(_config("unrolled-no-focus"), data, tmp_path, model_config=TINY_UNROLLED)
    with pytest.raises(InputError, match="another unrolled-no-focus architecture"):
        Trainer(_config("unrolled-no-focus"), data, tmp_path, resume=True,
                model_config=LFMRIConfig(num_stages=2, width=4, depth=2, cg_iterations=2, lesion_focus=False))
    with pytest.raises(InputError, match="checkpoint of 'unrolled-no-focus', not of 'unet'"):
        Trainer(_config("unet"), data, tmp_path, resume=True)
    with pytest.raises(InputError, match="other settings: lr"):
        Trainer(_config("unrolled-no-focus", lr=0.5), data, tmp_path, resume=True, model_config=TINY_UNROLLED)
    with pytest.raises(InputError, match="steps must be"):
        _config("unet", steps=0)


def test_data_order_state_round_trip() -> None:
    order = DataOrder(5, seed=3)
    order.take(7)
    tensors, numbers = order.state()
    expected = order.take(12)
    other = DataOrder(5, seed=99)
    other.load_state(tensors, numbers)
    assert other.take(12) == expected
    assert sorted(DataOrder(5, seed=3).take(5)) == list(range(5))


def test_lesion_mix_order_draws_its_share_and_every_slice() -> None:
    lesion, other = [1, 4, 7], [0, 2, 3, 5, 6, 8, 9]
    order = LesionMixOrder(lesion, other, fraction=0.5, seed=3)
    drawn = order.take(2000)
    n_lesion = sum(item in lesion for item in drawn)
    # 2000 seeded fair coins: the count lies within 5 standard deviations (22.4) of 1000
    assert abs(n_lesion - 1000) < 5 * math.sqrt(2000 * 0.25)
    assert set(drawn) == set(lesion) | set(other)
    # each stream runs whole shuffled passes: its items are seen equally often up to one pass
    for stream in (lesion, other):
        counts = [drawn.count(item) for item in stream]
        assert max(counts) - min(counts) <= 1, counts
    # plain passes would give the lesion slices 3 / 10 of the draws
    assert n_lesion / len(drawn) > 0.4
    assert all(item in lesion for item in LesionMixOrder(lesion, other, fraction=1.0, seed=0).take(50))


def test_lesion_mix_order_state_round_trip_and_refusals() -> None:
    order = LesionMixOrder([0, 3], [1, 2, 4], fraction=0.6, seed=5)
    order.take(9)
    tensors, numbers = order.state()
    expected = order.take(25)
    other = LesionMixOrder([0, 3], [1, 2, 4], fraction=0.6, seed=77)
    assert other.take(25) != expected
    other.load_state(tensors, numbers)
    assert other.take(25) == expected
    with pytest.raises(InputError, match="no lesion oversampling"):
        other.load_state(*DataOrder(5, seed=1).state())
    with pytest.raises(InputError, match="needs lesion slices"):
        LesionMixOrder([], [0, 1], fraction=0.5, seed=0)
    with pytest.raises(InputError, match="needs slices without lesions"):
        LesionMixOrder([0, 1], [], fraction=0.5, seed=0)
    with pytest.raises(InputError, match=r"lesion fraction must be in \(0, 1\]"):
        _config("unrolled-no-focus", lesion_fraction=0.0)
    with pytest.raises(InputError, match="twin pairs"):
        _config("classifier", lesion_fraction=0.5, twin_pairs=True)


def test_lesion_fraction_training_draws_lesion_slices_and_resumes_exactly(data: TrainingData, tmp_path: Path) -> None:
    config = _config("unrolled-no-focus", lesion_fraction=1.0, checkpoint_every=2, validate_every=2, val_slices=1)
    straight = Trainer(config, data, tmp_path / "straight", model_config=TINY_UNROLLED)
    labels = straight.train_set.targets[:, 0]
    assert 0 < labels.sum() < len(labels)
    assert isinstance(straight.order, LesionMixOrder) and all(labels[i] == 1 for i in straight.order.take(8))
    assert "drawn 100% from the lesion slices" in straight.describe()
    straight = Trainer(config, data, tmp_path / "straight2", model_config=TINY_UNROLLED)
    straight.run()
    first = Trainer(config, data, tmp_path / "resumed", model_config=TINY_UNROLLED)
    first.run(until=2)
    assert "order.coins" in read_checkpoint(tmp_path / "resumed" / "checkpoint.safetensors").state
    second = Trainer(config, data, tmp_path / "resumed", model_config=TINY_UNROLLED, resume=True)
    second.run()
    for (name, a), (_, b) in zip(straight.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name
    with pytest.raises(InputError, match="other settings: lesion_fraction"):
        Trainer(replace(config, lesion_fraction=0.5), data, tmp_path / "resumed", model_config=TINY_UNROLLED, resume=True)


def test_volumes_of_different_widths_share_a_batch(tmp_path: Path) -> None:
    """Real fastMRI widths vary (368, 372, ...): such items go through the model in groups."""
    from lfmri_core.io.fastmri_h5 import write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo
    from lfmri_core.models import UNetConfig

    gen = torch.Generator().manual_seed(0)
    for name, width in (("file_a", 40), ("file_b", 44), ("file_c", 40)):
        kspace = torch.complex(torch.randn(2, 3, 48, width, generator=gen), torch.randn(2, 3, 48, width, generator=gen))
        encoding = EncodingInfo((48, width), (32, 32), kspace_center=width // 2 - 1, kspace_maximum=width - 3)
        left, right = encoding.padding
        kspace[..., :left] = 0
        kspace[..., right:] = 0
        write_volume(tmp_path / f"{name}.h5", kspace.numpy(), encoding=encoding)
    data = FolderSource(tmp_path, val_volumes=1).load()
    assert {v.image_shape for v in data.train} == {(48, 40), (48, 44)} and data.train[0].padding == (1, 39)
    trainer = Trainer(_config("unet", steps=3, batch_size=4), data, tmp_path / "run", model_config=UNetConfig(width=4, levels=2))
    losses = [trainer.update() for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    validation = trainer.validate()
    assert validation is not None and validation["4x"]["slices"] == 2 and validation["4x"]["lf_psnr"] is None


@pytest.fixture(scope="module")
def twin_data(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two volumes with a bright 'lesion' (one box per slice) and their lesion-free twins (the
    same k-space without it, no boxes), plus one plain volume."""
    from lfmri_core.io.annotations import FileAnnotations, LesionBox, write_annotations
    from lfmri_core.io.fastmri_h5 import FastMRIVolume, write_volume
    from lfmri_core.io.ismrmrd_header import EncodingInfo
    from lfmri_core.physics import fft2c, ifft2c, rss

    folder = tmp_path_factory.mktemp("twin_data")
    sources = sorted(tiny_data.glob("*.h5"))
    records = []
    for n, source in enumerate(sources):
        with FastMRIVolume(source) as volume:
            kspace = np.stack([volume.kspace(s) for s in range(volume.info.num_slices)])
        images = ifft2c(torch.from_numpy(kspace))
        stem = f"case_{n}"
        if n < 2:
            boxes = []
            for s in range(images.shape[0]):
                row, col = 40 + 30 * s + 10 * n, 60 + 20 * n
                scale = rss(images[s]).max()
                images[s, :, row:row + 8, col:col + 12] += 0.8 * scale / images.shape[1] ** 0.5
                boxes.append(LesionBox(s, "Meniscus Tear", row, row + 8, col, col + 12))
            write_volume(folder / f"{stem}_twin.h5", kspace, encoding=EncodingInfo((160, 160), (160, 160)))
            records.append(FileAnnotations(f"{stem}_twin", (), reviewed=True))
            records.append(FileAnnotations(stem, tuple(boxes), reviewed=True))
        else:
            records.append(FileAnnotations(stem, (), reviewed=True))
        write_volume(folder / f"{stem}.h5", fft2c(images).numpy(), encoding=EncodingInfo((160, 160), (160, 160)))
    write_annotations(folder / "cases.csv", records, file_list=folder / "cases_file_list.csv", frame_height=160)
    return folder


def test_twin_pairs_train_on_lesion_slices_and_their_twins_only(twin_data: Path, tmp_path: Path) -> None:
    data = FolderSource(twin_data, twin_data / "cases.csv", twin_data / "cases_file_list.csv", val_volumes=0).load()
    assert len(data.train) == 5
    config = _config("classifier", steps=3, batch_size=4, twin_pairs=True, zero_filled_fraction=0.5, flip_fraction=0.5)
    trainer = Trainer(config, data, tmp_path, model_config=TINY_CLASSIFIER)
    names = [trainer.train_set.volumes[v].path.stem for v, _ in trainer.train_set.items]
    assert names == ["case_0", "case_0_twin"] * 2 + ["case_1", "case_1_twin"] * 2  # no plain volume, no lone twin
    slices = [s for _, s in trainer.train_set.items]
    assert slices[0::2] == slices[1::2] and trainer.train_set.targets[:, 0].tolist() == [1, 0] * 4
    assert trainer.order.size == 4  # the order runs over pairs
    for _ in range(3):  # every batch: whole pairs, lesion slice first
        samples = next(trainer._loader())
        trainer._order_state = trainer._states.popleft()
        assert len(samples) == 4
        for first, second in zip(samples[0::2], samples[1::2]):
            assert trainer.train_set.volumes[second.volume].path.stem == trainer.train_set.volumes[first.volume].path.stem + "_twin"
            assert first.slice == second.slice and first.targets[0] == 1 and second.targets[0] == 0
    draws = [trainer._item_draws(0.5) for _ in range(20)]
    assert all(d[0::2] == d[1::2] for d in draws)  # a pair shares its augmentation
    assert {tuple(d) for d in draws} != {tuple(draws[0])}  # and the coins do vary
    trainer._close_loader()
    result = trainer.run()
    assert result.completed and result.steps == 3


def test_twin_pairs_refusals(data: TrainingData, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="twin pairs need lesion slices whose volume has a lesion-free twin"):
        Trainer(_config("classifier", twin_pairs=True), data, tmp_path, model_config=TINY_CLASSIFIER)
    with pytest.raises(InputError, match="twin pairs apply to the classifier only"):
        _config("unet", twin_pairs=True)
    with pytest.raises(InputError, match="even batch size"):
        _config("classifier", twin_pairs=True, batch_size=3)
    with pytest.raises(InputError, match="flip fraction"):
        _config("classifier", flip_fraction=1.5)


@pytest.mark.parametrize("normalisation", ["p99", "max"])
def test_twin_pairs_share_their_lesion_image_scale(normalisation: str) -> None:
    """A large bright lesion moves the image's 99th percentile (and maximum); normalised on its
    own, the twin would differ from the lesion image everywhere, a cue with no location."""
    from lfmri_core.models.classifier import normalise_images
    from lfmri_core.models.scaling import robust_scale
    from lfmri_core.training.trainer import _pair_scales

    base = torch.rand(2, 40, 40, generator=torch.Generator().manual_seed(0))
    lesion = base.clone()
    lesion[:, 5:25, 5:25] += 3.0  # a quarter of the pixels
    images = torch.stack([lesion[0], base[0], lesion[1], base[1]])
    outside = torch.ones(40, 40, dtype=torch.bool)
    outside[5:25, 5:25] = False
    own = normalise_images(images.unsqueeze(1), normalisation)[:, 0]
    assert (own[0][outside] - own[1][outside]).abs().max() > 0.1  # the global cue
    scales = _pair_scales(images, normalisation)
    lesion_scales = robust_scale(images[0::2].unsqueeze(1), percentile=normalisation == "p99")
    # the same operations on the same numbers: equal to the last bit
    torch.testing.assert_close(scales, lesion_scales.repeat_interleave(2), rtol=0, atol=0)  # lesion images: as in use
    seen = images / scales[:, None, None]
    for a, b in ((0, 1), (2, 3)):
        torch.testing.assert_close(seen[a][outside], seen[b][outside], rtol=0, atol=0)
    assert _pair_scales(images, "none") is None
    # the classifier takes such a scale in place of its own normalisation
    model = build_classifier(replace(TINY_CLASSIFIER, normalisation=normalisation)).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images.unsqueeze(1), scales).logits, model(seen.unsqueeze(1), torch.ones(4)).logits,
                                   rtol=0, atol=0)
        own_scales = robust_scale(images.unsqueeze(1), percentile=normalisation == "p99")
        torch.testing.assert_close(model(images.unsqueeze(1), own_scales).logits, model(images.unsqueeze(1)).logits,
                                   rtol=0, atol=0)
    with pytest.raises(InputError, match="classifier scale must be 4 positive numbers"):
        model(images.unsqueeze(1), torch.zeros(4))
