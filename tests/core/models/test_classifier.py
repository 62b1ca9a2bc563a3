"""Net_c classifier: shapes, CAM range and gradients, weights files, and a tiny learning check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lfmri_core.errors import InputError
from lfmri_core.models import (
    ClassifierConfig,
    ClassifierOutput,
    LesionClassifier,
    available_backbones,
    build_classifier,
    load_weights,
    save_weights,
)
from tests.tolerances import rounding_rtol

BACKBONES = available_backbones()


def _model(backbone: str, *, width: int = 8, num_classes: int = 2, seed: int = 0) -> LesionClassifier:
    torch.manual_seed(seed)
    return build_classifier(ClassifierConfig(backbone=backbone, width=width, num_classes=num_classes)).eval()


def _images(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _head_atol(model: LesionClassifier, features: torch.Tensor) -> float:
    """Rounding bound of the head's outputs: sums of ``channels`` terms, averaged over the
    ``positions``, relative to the sum of the terms' magnitudes ``|W| |f| + |b|``."""
    with torch.no_grad():
        channels, positions = features.shape[1], features.shape[2] * features.shape[3]
        magnitude = (model.head.weight.abs() @ features.abs().amax(dim=(2, 3)).T).max() + model.head.bias.abs().max()
        return rounding_rtol(torch.float32, terms=channels * positions) * float(magnitude)


def _network_atol(model: LesionClassifier, features: torch.Tensor) -> float:
    """Rounding bound of the logits when the input is perturbed by rounding: each convolution
    of the backbone sums ``9 x in-channels`` terms and the layers' errors add up, relative to the
    head's terms ``|W| |f| + |b|``; plus the head's own rounding."""
    convs = [m for m in model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    fan_in = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
    with torch.no_grad():
        magnitude = (model.head.weight.abs() @ features.abs().amax(dim=(2, 3)).T).max() + model.head.bias.abs().max()
    return rounding_rtol(torch.float32, terms=fan_in, steps=len(convs)) * float(magnitude) + _head_atol(model, features)


def _cam_span(model: LesionClassifier, features: torch.Tensor, size: tuple[int, int]) -> float:
    """The smallest range of a class map before its min-max normalisation."""
    from lfmri_core.models.classifier import upsample_to_pixels

    with torch.no_grad():
        evidence = torch.nn.functional.conv2d(features, model.head.weight[:, :, None, None])
        cam = upsample_to_pixels(evidence.clamp(min=0), size, model.backbone.stride, model.backbone.offset)
        return float((cam.amax(dim=(2, 3)) - cam.amin(dim=(2, 3))).min())


def _check_against_the_head_on_the_features(model: LesionClassifier, images: torch.Tensor, out: ClassifierOutput) -> None:
    """Logits and CAMs of an average-pooling model recomputed from its backbone's features:
    the head on the pooled features, and the min-max normalised ReLU of the head applied at
    each position, placed on the pixels. A CAM pixel moves by at most 3 times the evidence's
    rounding over the map's span (numerator and denominator)."""
    from lfmri_core.models.classifier import normalise_images, upsample_to_pixels

    with torch.no_grad():
        features = model.backbone(normalise_images(images, model.config.normalisation))
        atol = _head_atol(model, features)
        torch.testing.assert_close(out.logits, model.head(features.mean(dim=(2, 3))), rtol=0, atol=atol)
        evidence = torch.nn.functional.conv2d(features, model.head.weight[:, :, None, None])
        cam = upsample_to_pixels(evidence.clamp(min=0), tuple(images.shape[-2:]), model.backbone.stride, model.backbone.offset)
        low, high = cam.amin(dim=(2, 3), keepdim=True), cam.amax(dim=(2, 3), keepdim=True)
        span = high - low
        assert bool((span > 0).all())  # random images: every class map has a range
        torch.testing.assert_close(out.cam, (cam - low) / span, rtol=0, atol=3 * atol / float(span.min()))


def test_registry_lists_both_backbones() -> None:
    assert {"resnet-small", "vgg-small"} <= set(BACKBONES)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("size", [(64, 64), (37, 53), (320, 320), (9, 130)])
def test_shapes_and_cam_range(backbone: str, size: tuple[int, int]) -> None:
    model = _model(backbone, num_classes=3)
    with torch.no_grad():
        out = model(_images((2, 1, *size)))
    assert out.logits.shape == (2, 3) and out.logits.dtype == torch.float32
    assert out.cam.shape == (2, 3, *size)
    _check_against_the_head_on_the_features(model, _images((2, 1, *size)), out)
    cam = out.cam.flatten(2)
    assert cam.min() >= 0 and cam.max() <= 1
    peaks = cam.amax(dim=2)
    assert torch.all((peaks == 1) | (cam.amax(dim=2) == 0) & (cam.amin(dim=2) == 0))
    assert (peaks == 1).any()


@pytest.mark.parametrize("scale", [1e-4, 1.0, 300.0])
def test_p99_normalisation_makes_outputs_scale_free(scale: float) -> None:
    from lfmri_core.models.classifier import normalise_images

    model = _model("resnet-small")
    image = _images((1, 1, 48, 48))
    with torch.no_grad():
        reference, scaled = model(image), model(image * scale)
        features = model.backbone(normalise_images(image, "p99"))
    # the normalised inputs differ by two roundings per pixel (the scale, the division by the
    # 99th percentile), carried through the network
    atol = _network_atol(model, features)
    torch.testing.assert_close(scaled.logits, reference.logits, rtol=0, atol=atol)
    torch.testing.assert_close(scaled.cam, reference.cam, rtol=0, atol=3 * atol / _cam_span(model, features, (48, 48)))


def test_all_zero_image_is_classified_as_it_is() -> None:
    """No division by a zero scale: the image stays zero, the logits are the head on the
    features of a zero image, and the CAM is a [0, 1] map (or all zero without contrast)."""
    from lfmri_core.models.classifier import normalise_images

    model = _model("vgg-small")
    zeros = torch.zeros(1, 1, 32, 32)
    assert torch.equal(normalise_images(zeros, model.config.normalisation), zeros)
    with torch.no_grad():
        out = model(zeros)
        features = model.backbone(zeros)
        torch.testing.assert_close(out.logits, model.head(features.mean(dim=(2, 3))), rtol=0, atol=_head_atol(model, features))
    cam = out.cam.flatten(2)
    assert bool(((cam.amax(dim=2) == 1) | (cam.amax(dim=2) == 0)).all()) and float(cam.min()) == 0.0


@pytest.mark.parametrize("backbone", BACKBONES)
def test_cam_gradient_reaches_input(backbone: str) -> None:
    model = _model(backbone)
    image = _images((2, 1, 40, 56)).requires_grad_()
    model(image).cam.sum().backward()
    assert image.grad is not None
    assert image.grad.abs().sum() > 0
    # the gradient is the derivative: finite differences in double precision agree (gradcheck's
    # tolerances; a small image keeps the Jacobian cheap)
    model = model.double()
    small = _images((1, 1, 24, 20)).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda x: model(x).cam, (small,), fast_mode=True)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_eval_is_deterministic(backbone: str) -> None:
    model = _model(backbone)
    image = _images((2, 1, 48, 40))
    with torch.no_grad():
        first, second = model(image), model(image)
    assert torch.equal(first.logits, second.logits) and torch.equal(first.cam, second.cam)


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(1, 32, 32),
        torch.rand(1, 2, 32, 32),
        torch.ones(1, 1, 8, 8, dtype=torch.int64),
        torch.full((1, 1, 8, 8), float("nan")),
        torch.tensor([[[[1.0, float("inf")]]]]),
    ],
    ids=["rank3", "two-channels", "integer", "nan", "inf"],
)
def test_bad_input_raises_input_error(bad: torch.Tensor) -> None:
    with pytest.raises(InputError):
        _model("resnet-small")(bad)


def test_bad_config_raises_input_error() -> None:
    with pytest.raises(InputError, match="unknown classifier backbone 'alexnet'"):
        ClassifierConfig(backbone="alexnet")
    with pytest.raises(InputError, match="width"):
        ClassifierConfig(width=0)
    with pytest.raises(InputError, match="normalisation"):
        ClassifierConfig(normalisation="mean")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="norm must be one of group, batch, got 'layer'"):
        ClassifierConfig(norm="layer")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="pooling must be one of average, top-k, got 'max'"):
        ClassifierConfig(pooling="max")  # type: ignore[arg-type]
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match="top_fraction must be in"):
            ClassifierConfig(pooling="top-k", top_fraction=bad)
    for bad in (3, 16, 1, True, 4.0):
        with pytest.raises(InputError, match="output_stride must be one of 8, 4, 2"):
            ClassifierConfig(output_stride=bad)
    with pytest.raises(InputError, match="output_stride 4 needs the resnet-small backbone, not 'vgg-small'"):
        ClassifierConfig(backbone="vgg-small", output_stride=4)


def _features(model: LesionClassifier, images: torch.Tensor) -> torch.Tensor:
    from lfmri_core.models.classifier import normalise_images

    return model.backbone(normalise_images(images, model.config.normalisation))


def _evidence(model: LesionClassifier, images: torch.Tensor) -> torch.Tensor:
    """Per-position scores ``sum_k w_ck f_k`` (no bias), ``(B, C, h, w)``, computed independently."""
    return torch.nn.functional.conv2d(_features(model, images), model.head.weight[:, :, None, None])


def test_average_pooling_is_the_linear_head_on_pooled_features() -> None:
    model = _model("resnet-small")
    images = _images((3, 1, 48, 40))
    from lfmri_core.models.classifier import normalise_images

    with torch.no_grad():
        features = model.backbone(normalise_images(images, "p99"))
        expected = model.head(features.mean(dim=(2, 3)))  # global average pooling, then the head
        torch.testing.assert_close(model(images).logits, expected, rtol=0, atol=_head_atol(model, features))


@pytest.mark.parametrize("fraction", [0.01, 0.2, 1.0])
def test_top_k_pooling_averages_the_largest_position_scores(fraction: float) -> None:
    torch.manual_seed(0)
    model = build_classifier(ClassifierConfig(width=8, num_classes=2, pooling="top-k", top_fraction=fraction)).eval()
    images = _images((2, 1, 64, 64), seed=3)
    with torch.no_grad():
        evidence = _evidence(model, images).flatten(2)  # (2, 2, 64) positions at stride 8
        k = max(1, round(fraction * evidence.shape[2]))
        ranked = evidence.sort(dim=2, descending=True).values
        expected = ranked[..., :k].mean(dim=2) + model.head.bias
        out = model(images)
        atol = _head_atol(model, _features(model, images))
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=atol)
    if fraction == 1.0:  # every position: the average
        torch.testing.assert_close(out.logits, evidence.mean(dim=2) + model.head.bias, rtol=0, atol=atol)


def test_top_k_cam_peak_is_where_the_pooled_score_comes_from() -> None:
    """With one pooled position the logit minus the bias is the (pre-normalisation) CAM peak."""
    torch.manual_seed(1)
    model = build_classifier(ClassifierConfig(width=8, pooling="top-k", top_fraction=1e-6)).eval()
    images = _images((2, 1, 64, 64), seed=4)
    with torch.no_grad():
        evidence = _evidence(model, images)
        out = model(images)
        atol = _head_atol(model, _features(model, images))
    peak = evidence.flatten(1).amax(dim=1)
    torch.testing.assert_close(out.logits[:, 0] - model.head.bias[0], peak, rtol=0, atol=atol)
    for b in range(2):  # the CAM's maximum is the upsampled peak cell's centre region
        row, col = divmod(int(evidence[b, 0].argmax()), evidence.shape[-1])
        cam_row, cam_col = divmod(int(out.cam[b, 0].argmax()), 64)
        assert abs(cam_row - (8 * row + 3.5)) <= 8 and abs(cam_col - (8 * col + 3.5)) <= 8


def test_batch_norm_keeps_features_local_in_use_group_norm_does_not() -> None:
    """A change in one corner must not move the features of the far corner, or the CAM could
    light up far from a lesion; GroupNorm's whole-image statistics do move them."""
    image = _images((1, 1, 96, 96), seed=5)
    changed = image.clone()
    changed[..., :16, :16] += 2.0
    for norm, local in (("batch", True), ("group", False)):
        torch.manual_seed(0)
        model = build_classifier(ClassifierConfig(width=8, norm=norm))
        model.train()
        with torch.no_grad():
            model(_images((4, 1, 96, 96), seed=6))  # running statistics for BatchNorm
        model.eval()
        with torch.no_grad():  # the same divisor for both, so only the network's own behaviour counts
            scale = torch.ones(1)
            far = (model.backbone(image / scale)[..., 6:, 6:] - model.backbone(changed / scale)[..., 6:, 6:]).abs().max()
            logits_differ = not torch.equal(model(image, scale).logits, model(changed, scale).logits)
        assert (float(far) == 0.0) == local, (norm, float(far))
        assert logits_differ  # the change itself is seen either way


@pytest.mark.parametrize("output_stride", [4, 2])
def test_a_denser_output_stride_computes_the_stride_8_features_and_more(output_stride: int) -> None:
    """With the same weights and BatchNorm in use, the dilated network's features at every
    ``8 / output_stride``-th position are the stride-8 network's (same receptive fields, same
    zero padding at the borders, odd sizes included), and its CAM is placed on the pixels at
    its own stride."""
    torch.manual_seed(0)
    coarse = build_classifier(ClassifierConfig(width=8, norm="batch"))
    coarse.train()
    with torch.no_grad():
        coarse(_images((4, 1, 96, 80), seed=1))  # running statistics
    coarse.eval()
    dense = build_classifier(ClassifierConfig(width=8, norm="batch", output_stride=output_stride)).eval()
    dense.load_state_dict(coarse.state_dict())  # the same parameters: nothing new to learn
    step = 8 // output_stride
    for size in ((96, 80), (101, 75)):
        images = _images((2, 1, *size), seed=2)
        with torch.no_grad():
            f8, fd = _features(coarse, images), _features(dense, images)
            assert fd.shape[-2:] == tuple(-(-n // output_stride) for n in size)
            convs = [m for m in coarse.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
            fan_in = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
            # both sides round differently (dilated kernels), each through every convolution
            atol = 2 * rounding_rtol(torch.float32, terms=fan_in, steps=len(convs)) * float(f8.abs().max())
            torch.testing.assert_close(fd[..., ::step, ::step], f8, rtol=0, atol=atol)
            between, on_grid = fd[..., 1::step, :], fd[..., ::step, :]
            rows = min(between.shape[-2], on_grid.shape[-2])
            # the positions between are computed, not copied from a neighbour
            assert float((between[..., :rows, :] - on_grid[..., :rows, :]).abs().max()) > 100 * atol
            out = dense(images)
        assert out.cam.shape == (2, 1, *size)
        assert dense.backbone.stride == output_stride and dense.backbone.offset == 0.0


def test_cam_upsampling_puts_each_feature_on_its_receptive_field_centre() -> None:
    from lfmri_core.models.classifier import upsample_to_pixels

    maps = torch.zeros(1, 1, 5, 6, dtype=torch.float64)
    maps[0, 0, 2, 3] = 1.0
    up = upsample_to_pixels(maps, (40, 48), stride=8, offset=0.0)  # strided 3x3 convolutions
    assert divmod(int(up.argmax()), 48) == (16, 24) and float(up.max()) == 1.0
    assert float(up[0, 0, 20, 24]) == 0.5 and float(up[0, 0, 16, 28]) == 0.5  # halfway: exact in binary
    # a pooled backbone's centres (offset 3.5) are where F.interpolate(align_corners=False) puts them
    fields = torch.rand(2, 3, 5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # bilinear: sums of 4 products of values in [0, 1]
    torch.testing.assert_close(upsample_to_pixels(fields, (40, 48), 8, 3.5),
                               torch.nn.functional.interpolate(fields, size=(40, 48), mode="bilinear", align_corners=False),
                               rtol=0, atol=rounding_rtol(torch.float64, terms=4))
    assert torch.autograd.gradcheck(lambda m: upsample_to_pixels(m, (17, 13), 4, 0.0), (fields.requires_grad_(),))
    assert build_classifier(ClassifierConfig(backbone="resnet-small")).backbone.offset == 0.0
    assert build_classifier(ClassifierConfig(backbone="vgg-small")).backbone.offset == 3.5


def test_configs_written_before_pooling_existed_load_as_average() -> None:
    import json

    old = json.loads(ClassifierConfig(width=8).to_json())
    del old["pooling"], old["top_fraction"], old["norm"]
    config = ClassifierConfig.from_json(json.dumps(old))
    assert config.pooling == "average" and config == ClassifierConfig(width=8)
    top = ClassifierConfig(width=8, pooling="top-k", top_fraction=0.01)
    assert ClassifierConfig.from_json(top.to_json()) == top
    dense = ClassifierConfig(width=8, norm="batch", output_stride=4)
    assert ClassifierConfig.from_json(dense.to_json()) == dense  # files before output_stride: 8, above


# --- weights files ----------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", BACKBONES)
def test_save_load_round_trip(backbone: str, tmp_path: Path) -> None:
    model = _model(backbone, seed=3)
    path = save_weights(tmp_path / "net_c.safetensors", model)
    loaded = load_weights(path, kind="classifier", config=model.config)
    assert isinstance(loaded, LesionClassifier)
    assert loaded.config == model.config and not loaded.training
    image = _images((2, 1, 33, 47))
    with torch.no_grad():
        before, after = model(image), loaded(image)
    assert torch.equal(before.logits, after.logits) and torch.equal(before.cam, after.cam)


def test_load_rejects_a_non_safetensors_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save({"x": torch.zeros(2)}, path)  # a pickle: must be refused, never unpickled
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_weights(path, kind="classifier")


def test_load_rejects_missing_file_and_missing_config(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_weights(tmp_path / "absent.safetensors", kind="classifier")
    path = tmp_path / "bare.safetensors"
    save_file({"x": torch.zeros(2)}, str(path))
    with pytest.raises(InputError, match="no LF-MRI model config"):
        load_weights(path, kind="classifier")


def test_load_rejects_a_wrongly_shaped_tensor(tmp_path: Path) -> None:
    model = _model("resnet-small")
    tensors = {name: value.clone() for name, value in model.state_dict().items()}
    tensors["head.weight"] = torch.zeros(5, tensors["head.weight"].shape[1])
    path = tmp_path / "bad_shape.safetensors"
    save_file(tensors, str(path), metadata={"lfmri_model_kind": "classifier", "lfmri_model_config": model.config.to_json()})
    with pytest.raises(InputError, match=r"tensor 'head.weight' has shape \(5, 32\)") as info:
        load_weights(path, kind="classifier")
    assert "\n" not in str(info.value)


def test_load_rejects_a_checkpoint_of_another_backbone(tmp_path: Path) -> None:
    vgg = _model("vgg-small")
    path = save_weights(tmp_path / "vgg.safetensors", vgg)
    resnet_config = ClassifierConfig(backbone="resnet-small", width=8, num_classes=2)
    with pytest.raises(InputError, match=r"backbone='vgg-small' \(expected 'resnet-small'\)"):
        load_weights(path, kind="classifier", config=resnet_config)
    # The same tensors under a config that claims another backbone: the keys give it away.
    forged = tmp_path / "forged.safetensors"
    save_file(
        dict(vgg.state_dict()), str(forged), metadata={"lfmri_model_kind": "classifier", "lfmri_model_config": resnet_config.to_json()}
    )
    with pytest.raises(InputError, match="tensors do not match the classifier backbone 'resnet-small'"):
        load_weights(forged, kind="classifier")


# --- learning ---------------------------------------------------------------------------------


def _blob_dataset(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
    """Noisy images with a bright band; odd indices carry a Gaussian blob. Images, labels, centres.

    The band (brighter than the blob, in every image) sets each image's 99th percentile, so the
    per-image normalisation does not give the label away through the background level.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = 0.3 + 0.05 * rng.standard_normal((n, size, size))
    images[:, :, 2:5] += 0.9
    labels = np.zeros(n, dtype=np.float32)
    centres: list[tuple[int, int]] = []
    for i in range(1, n, 2):
        row, col = (int(v) for v in rng.integers(14, size - 10, size=2))
        images[i] += 0.6 * np.exp(-((yy - row) ** 2 + (xx - col) ** 2) / (2 * 3.0**2))
        labels[i] = 1
        centres.append((row, col))
    images = np.abs(images).astype(np.float32)
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels), centres


def train_on_blobs(images: torch.Tensor, labels: torch.Tensor, steps: int = 40) -> LesionClassifier:
    """A small Net_c as shipped (BatchNorm, top-k pooling) trained ``steps`` Adam steps on
    :func:`_blob_dataset`'s images (seed 0), returned in eval mode."""
    torch.manual_seed(0)
    model = build_classifier(ClassifierConfig(backbone="resnet-small", width=8, num_classes=1, norm="batch",
                                              pooling="top-k", top_fraction=0.02))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images).logits[:, 0], labels)
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.mark.parametrize("seed", [7, 8])
def test_small_backbone_learns_blobs_and_its_cam_localises(seed: int) -> None:
    """The configuration Net_c ships with (BatchNorm, top-k pooling). With GroupNorm and average
    pooling the same 40 steps classify as well but the CAM peak lands 5-15 px off the blob."""
    images, labels, centres = _blob_dataset(16, 64, seed=seed)
    model = train_on_blobs(images, labels)
    with torch.no_grad():
        out = model(images)
    accuracy = ((out.logits[:, 0] > 0).float() == labels).float().mean().item()
    assert accuracy > 0.9
    hits = 0
    for (row, col), cam in zip(centres, out.cam[1::2, 0]):
        peak_row, peak_col = divmod(int(cam.argmax()), cam.shape[1])
        hits += abs(peak_row - row) <= 6 and abs(peak_col - col) <= 6  # blob sigma 3: within 2 sigma
    assert hits >= 0.75 * len(centres)
