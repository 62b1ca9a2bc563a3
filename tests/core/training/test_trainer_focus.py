"""The trainer with the oracle focus, preloaded data and a time budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import ClassifierConfig, LFMRIConfig, LFMRINet, build_classifier, load_weights, read_weights_metadata
from lfmri_core.models.focus import box_focus_map
from lfmri_core.training import FolderSource, LossWeights, Trainer, TrainingConfig, TrainingData
from lfmri_core.training import losses
from lfmri_core.training.budget import CALIBRATION_STEPS, PaceGroup

TINY_ORACLE = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=2, focus="oracle")
TINY_NO_FOCUS = LFMRIConfig(num_stages=1, width=4, depth=2, cg_iterations=2, lesion_focus=False)


@pytest.fixture(scope="module")
def data(tiny_data: Path) -> TrainingData:
    return FolderSource(tiny_data, tiny_data / "lfmri_knee.csv", tiny_data / "lfmri_knee_file_list.csv", val_volumes=1).load()


def _config(task: str, **changes: object) -> TrainingConfig:
    values: dict[str, object] = dict(steps=3, batch_size=2, crop_rows=32, validate_every=100, checkpoint_every=100,
                                     val_slices=2, lr=1e-2, warmup_steps=0)
    values.update(changes)
    return TrainingConfig(task=task, **values)  # type: ignore[arg-type]


def test_oracle_training_needs_no_classifier_and_weighs_the_loss_by_the_boxes(data: TrainingData, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = Trainer(_config("lfmri"), data, tmp_path, model_config=TINY_ORACLE)
    assert trainer.oracle and trainer.loss is not None and trainer.loss.classifier is None and trainer.loss.oracle_focus
    seen: list[torch.Tensor | None] = []
    real = trainer.loss.forward

    def spy(output: torch.Tensor, target: torch.Tensor, focus_weights: torch.Tensor | None = None):  # type: ignore[no-untyped-def]
        seen.append(focus_weights)
        return real(output, target, focus_weights)

    monkeypatch.setattr(trainer.loss, "forward", spy)
    result = trainer.run()
    assert result.completed and result.weights is not None
    assert len(seen) == 3 and all(w is not None and w.shape == (2, 32, 160) for w in seen)
    # the weights are the box maps of the training items, cut to their readout windows
    items = [(entry, s) for v, entry in enumerate(trainer.train_set.volumes) for s in range(entry.num_slices)
             if entry.annotations is not None and entry.annotations.boxes_on(s)]
    assert items, "the tiny data must hold a lesion slice"
    entry, s = items[0]
    full = box_focus_map(entry.annotations.boxes_on(s), entry.image_shape, entry.recon_shape)
    assert float(full.max()) == pytest.approx(1.0)
    assert all(float(w.min()) >= 0 and float(w.max()) <= 1 for w in seen if w is not None)
    model = load_weights(result.weights)
    assert isinstance(model, LFMRINet) and model.config.focus == "oracle" and model.classifier is None
    validation = json.loads(read_weights_metadata(result.weights)["last_validation"])
    assert set(validation) == {"4x", "8x"}


def test_box_weighted_lesion_loss_reaches_the_loss_and_not_the_model(data: TrainingData, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config("unrolled-no-focus", loss=LossWeights(lesion=1.0, lesion_focus="boxes"))
    assert not config.needs_classifier  # the boxes replace Net_c's CAM in the loss
    trainer = Trainer(config, data, tmp_path, model_config=TINY_NO_FOCUS)
    assert trainer.box_loss and not trainer.oracle
    assert trainer.loss is not None and trainer.loss.classifier is None and trainer.loss.oracle_focus
    assert "lesion loss (weight 1) weighted by the annotated boxes" in trainer.describe()
    seen: list[torch.Tensor | None] = []
    lesion_terms: list[torch.Tensor] = []
    real = trainer.loss.forward

    def spy(output: torch.Tensor, target: torch.Tensor, focus_weights: torch.Tensor | None = None):  # type: ignore[no-untyped-def]
        seen.append(focus_weights)
        terms = real(output, target, focus_weights)
        lesion_terms.append(terms.lesion.detach())
        return terms

    monkeypatch.setattr(trainer.loss, "forward", spy)
    calls: list[dict[str, object]] = []
    forward = trainer.model.forward

    def model_spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return forward(*args, **kwargs)

    monkeypatch.setattr(trainer.model, "forward", model_spy)
    result = trainer.run()
    assert result.completed and result.weights is not None
    assert len(seen) == 3 and all(w is not None and w.shape == (2, 32, 160) for w in seen)
    # the lesion term is the box-weighted L1: zero exactly where an item's map is zero
    for weights, lesion in zip(seen, lesion_terms):
        assert weights is not None
        empty = weights.flatten(1).amax(dim=1) == 0
        assert torch.all(lesion[empty] == 0) and torch.all(lesion[~empty] > 0)
    assert any(float(w.max()) > 0 for w in seen if w is not None), "the tiny data must put a lesion in a batch"
    # the model never sees the boxes, in training or in validation
    assert calls and all(kw.get("focus") is None for kw in calls)
    model = load_weights(result.weights)
    assert isinstance(model, LFMRINet) and not model.config.lesion_focus
    stored = TrainingConfig.from_dict(json.loads(read_weights_metadata(result.weights)["training_config"]))
    assert stored.loss.lesion_focus == "boxes"


def test_box_weighted_lesion_loss_is_refused_where_it_cannot_apply(tiny_data: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="needs a reconstruction task and a lesion weight above 0"):
        _config("unrolled-no-focus", loss=LossWeights(lesion_focus="boxes"))
    with pytest.raises(InputError, match="lesion loss focus must be one of cam, pointer, boxes"):
        _config("unrolled-no-focus", loss=LossWeights(lesion=1.0, lesion_focus="saliency"))
    with pytest.raises(InputError, match="weighted by Net_c's refined pointer needs a reconstruction task"):
        _config("unrolled-no-focus", loss=LossWeights(lesion=0.0, lesion_focus="pointer"))
    # old configs without the field read as the CAM's
    assert TrainingConfig.from_dict({"task": "lfmri", "loss": {"l1": 1.0, "ssim": 1.0, "lesion": 1.0,
                                                                "perceptual": 0.0}}).loss.lesion_focus == "cam"
    unboxed = FolderSource(tiny_data, val_volumes=1).load()
    with pytest.raises(InputError, match="need lesion boxes for every volume"):
        Trainer(_config("unrolled-no-focus", loss=LossWeights(lesion=1.0, lesion_focus="boxes")), unboxed, tmp_path,
                model_config=TINY_NO_FOCUS)


def test_pointer_weighted_lesion_loss_needs_net_c_and_weighs_the_loss_by_its_pointer(
        data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config("unrolled-no-focus", loss=LossWeights(lesion=1.0, lesion_focus="pointer"))
    assert config.needs_classifier and config.pointer_lesion_loss and not config.box_lesion_loss
    with pytest.raises(InputError, match="needs the phase-1 classifier"):
        Trainer(config, data, tmp_path / "none", model_config=TINY_NO_FOCUS)
    torch.manual_seed(0)
    net_c = build_classifier(ClassifierConfig(width=4)).eval()
    trainer = Trainer(config, data, tmp_path, model_config=TINY_NO_FOCUS, classifier=net_c)
    assert trainer.loss is not None and trainer.loss.pointer and not trainer.loss.oracle_focus and not trainer.box_loss
    assert "lesion loss (weight 1) weighted by Net_c's refined pointer" in trainer.describe()
    calls: list[torch.Tensor] = []
    real = losses.pointer_weights

    def spy(classifier, target):  # type: ignore[no-untyped-def]
        weights = real(classifier, target)
        calls.append(weights)
        return weights

    monkeypatch.setattr(losses, "pointer_weights", spy)
    result = trainer.run()
    assert result.completed and result.weights is not None
    assert len(calls) == 3 and all(w.shape == (2, 32, 160) for w in calls)
    stored = TrainingConfig.from_dict(json.loads(read_weights_metadata(result.weights)["training_config"]))
    assert stored.loss.lesion_focus == "pointer"


def test_oracle_training_refuses_data_without_annotations(tiny_data: Path, tmp_path: Path) -> None:
    data = FolderSource(tiny_data, val_volumes=1).load()
    with pytest.raises(InputError, match="the oracle focus and a box-weighted lesion loss need lesion boxes for every volume"):
        Trainer(_config("lfmri"), data, tmp_path, model_config=TINY_ORACLE)


def test_preloaded_data_train_the_same_weights(data: TrainingData, tmp_path: Path) -> None:
    results = []
    for preload in (False, True):
        trainer = Trainer(_config("unrolled-no-focus"), data, tmp_path / str(preload), model_config=TINY_NO_FOCUS,
                          preload=preload)
        results.append(trainer.run())
    a, b = (load_weights(r.weights).state_dict() for r in results)  # type: ignore[arg-type]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    with pytest.raises(InputError, match="use --workers 0 with --preload"):
        Trainer(_config("unrolled-no-focus", num_workers=1), data, tmp_path / "w", model_config=TINY_NO_FOCUS, preload=True)


def test_a_time_budget_fixes_the_step_count_inside_the_warm_up(data: TrainingData, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config("unrolled-no-focus", steps=1000, warmup_steps=CALIBRATION_STEPS)
    trainer = Trainer(config, data, tmp_path / "run", model_config=TINY_NO_FOCUS)
    monkeypatch.setattr(PaceGroup, "agree", lambda self, steps, poll=0.2: min(steps, CALIBRATION_STEPS + 2))
    group = PaceGroup(tmp_path / "pace", "run", 2)
    result = trainer.run(time_budget=3600.0, pace_group=group)
    assert result.completed and result.steps == CALIBRATION_STEPS + 2 and trainer.config.steps == CALIBRATION_STEPS + 2
    meta = read_weights_metadata(result.weights)  # type: ignore[arg-type]
    assert json.loads(meta["training_config"])["steps"] == CALIBRATION_STEPS + 2
    recorded = json.loads(meta["time_budget"])
    assert recorded["seconds"] == 3600.0 and recorded["steps"] == CALIBRATION_STEPS + 2 and recorded["seconds_per_step"] > 0
    with pytest.raises(InputError, match="needs --warmup-steps >= 25"):
        Trainer(_config("unrolled-no-focus", steps=100, warmup_steps=5), data, tmp_path / "short",
                model_config=TINY_NO_FOCUS).run(time_budget=10.0)


def test_classifier_trains_on_a_frozen_networks_staged_estimates(data: TrainingData, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lfmri_core.models import ClassifierConfig, save_weights

    recon_net = LFMRINet(LFMRIConfig(num_stages=3, width=4, depth=2, cg_iterations=1, lesion_focus=False))
    recon_path = save_weights(tmp_path / "recon.safetensors", recon_net)
    config = _config("classifier", steps=3, recon_fraction=1.0, recon_weights=str(recon_path), zero_filled_fraction=0.0,
                     batch_size=4)
    start = Trainer(_config("classifier", steps=1), data, tmp_path / "start", model_config=ClassifierConfig(width=4)).run()
    trainer = Trainer(config, data, tmp_path / "run", model_config=ClassifierConfig(width=4), init_weights=start.weights)
    initial = load_weights(start.weights)  # type: ignore[arg-type]
    for name, value in initial.state_dict().items():
        torch.testing.assert_close(trainer.model.state_dict()[name], value, rtol=0, atol=0)
    calls: list[tuple[int, int]] = []
    real = trainer._reconstructed

    def spy(kspace, recon_shape, padding, spec, stages):  # type: ignore[no-untyped-def]
        out = real(kspace, recon_shape, padding, spec, stages)
        calls.append((stages, kspace.shape[0]))
        # the image Net_c sees is the network's estimate after that many stages
        from lfmri_core.training import recon_batch

        batch = recon_batch(kspace, recon_shape, spec, padding=padding)
        expected = recon_net(batch.kspace, batch.mask, batch.sensitivities, stages=stages).image.abs()
        torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-6 * float(expected.max()))
        return out

    monkeypatch.setattr(trainer, "_reconstructed", spy)
    result = trainer.run()
    assert result.completed and sum(n for _, n in calls) == 3 * 4  # every item of every step
    assert all(1 <= stages <= 3 for stages, _ in calls)
    assert read_weights_metadata(result.weights)["init_weights"] == str(start.weights)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="reconstruction fraction above 0 and the reconstruction network's weights go together"):
        _config("classifier", recon_fraction=0.5)
    with pytest.raises(InputError, match="--init-weights .* holds LFMRINet"):
        Trainer(_config("classifier"), data, tmp_path / "bad", model_config=ClassifierConfig(width=4), init_weights=recon_path)


def test_a_stride_8_classifier_is_fine_tuned_at_a_denser_output_stride(data: TrainingData, tmp_path: Path) -> None:
    from lfmri_core.models import ClassifierConfig

    coarse = ClassifierConfig(width=4, norm="batch")
    start = Trainer(_config("classifier", steps=1), data, tmp_path / "start", model_config=coarse).run()
    dense = ClassifierConfig(width=4, norm="batch", output_stride=4)
    trainer = Trainer(_config("classifier", steps=1), data, tmp_path / "run", model_config=dense, init_weights=start.weights)
    for name, value in load_weights(start.weights).state_dict().items():  # type: ignore[arg-type]
        torch.testing.assert_close(trainer.model.state_dict()[name], value, rtol=0, atol=0)
    assert load_weights(trainer.run().weights).config == dense  # type: ignore[arg-type,union-attr]
    with pytest.raises(InputError, match="--init-weights .* holds LesionClassifier"):  # other parameters: refused
        Trainer(_config("classifier"), data, tmp_path / "bad", model_config=ClassifierConfig(width=8, output_stride=4),
                init_weights=start.weights)


def test_a_network_can_stop_after_some_stages() -> None:
    net = LFMRINet(LFMRIConfig(num_stages=3, width=4, depth=2, cg_iterations=1, lesion_focus=False))
    gen = torch.Generator().manual_seed(0)
    kspace = torch.complex(torch.randn(1, 2, 16, 16, generator=gen), torch.randn(1, 2, 16, 16, generator=gen))
    maps = torch.ones(1, 2, 16, 16, dtype=torch.complex64) / 2**0.5
    with torch.no_grad():
        full = net(kspace, None, maps).image
        three = net(kspace, None, maps, stages=3).image
        zero = net(kspace, None, maps, stages=0).image
        one = net(kspace, None, maps, stages=1).image
    torch.testing.assert_close(full, three, rtol=0, atol=0)
    from lfmri_core.physics import SenseOperator

    torch.testing.assert_close(zero, SenseOperator(maps, None).adjoint(kspace), rtol=0, atol=0)
    assert float((one - full).abs().max()) > 0
    with pytest.raises(InputError, match="stages must be an integer from 0 to 3"):
        net(kspace, None, maps, stages=4)
