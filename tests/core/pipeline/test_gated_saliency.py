"""Net_c's refined pointer: the gradient saliency of its logit, smoothed, inside the CAM's hot region."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import lfmri_core.pipeline.classifier as classifier_module
from lfmri_core.errors import InputError
from lfmri_core.models import ClassifierConfig, LesionClassifier, build_classifier
from lfmri_core.pipeline.classifier import (
    SALIENCY_GATE,
    SALIENCY_WIDEN,
    classify,
    gated_saliency,
)
from tests.core.models.test_classifier import _blob_dataset, train_on_blobs
from tests.tolerances import rounding_rtol


def _net(seed: int = 0) -> LesionClassifier:
    """A small Net_c as shipped (BatchNorm, top-k), with running statistics, in eval mode."""
    torch.manual_seed(seed)
    net = build_classifier(ClassifierConfig(width=8, norm="batch", pooling="top-k", top_fraction=0.02))
    net.train()
    with torch.no_grad():
        net(torch.rand(4, 1, 48, 40, generator=torch.Generator().manual_seed(seed + 1)))
    return net.eval()


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 48, 40)).astype(np.float32)


def _widened(hot: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` (Chebyshev) of a True pixel, by explicit shifts."""
    out = np.zeros_like(hot)
    rows, cols = hot.shape
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            src = hot[max(dr, 0): rows + min(dr, 0), max(dc, 0): cols + min(dc, 0)]
            out[max(-dr, 0): rows + min(-dr, 0), max(-dc, 0): cols + min(-dc, 0)] |= src
    return out


def test_the_pointer_is_the_logit_gradient_inside_the_widened_cam_region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without smoothing (sigma 0), the map is |d logit / d image| normalised to 1 inside the
    widened region of CAM >= 0.7 and 0 outside; the gradient is checked against central
    differences of a float64 copy of the network."""
    net = _net()
    images = _images(2, seed=3)
    monkeypatch.setattr(classifier_module, "SALIENCY_SIGMA", 0.0)
    maps = gated_saliency(net, images)
    cams = classify(net, images).cams
    double = copy.deepcopy(net).double()
    convs = [m for m in net.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    fan_in = max(m.in_channels * m.kernel_size[0] * m.kernel_size[1] for m in convs)
    for image, cam, found in zip(images, cams, maps):
        gate = _widened(cam >= SALIENCY_GATE, SALIENCY_WIDEN)
        assert gate.any() and not gate.all()
        assert np.all(found[~gate] == 0) and float(found.max()) == 1.0
        x = torch.from_numpy(image.astype(np.float64))[None, None]

        def logit(values: torch.Tensor) -> float:
            with torch.no_grad():
                return float(double(values).logits[0, 0])

        # central differences at the pointer's peak and at two other pixels of the region
        inside = np.argwhere(gate)
        pixels = [tuple(np.unravel_index(int(found.argmax()), found.shape)), tuple(inside[0]), tuple(inside[-1])]
        step = 1e-6
        slopes = []
        for row, col in pixels:
            up, down = x.clone(), x.clone()
            up[0, 0, row, col] += step
            down[0, 0, row, col] -= step
            slopes.append(abs(logit(up) - logit(down)) / (2 * step))
        peak = slopes[0]
        assert peak > 0
        # float32 backward through every convolution, relative to the largest slope; plus the
        # central difference's float64 cancellation (logit rounding over the step)
        tol = rounding_rtol(torch.float32, terms=fan_in, steps=len(convs)) + 1e-9 / step
        for (row, col), slope in zip(pixels, slopes):
            assert float(found[row, col]) == pytest.approx(slope / peak, abs=tol)


def test_batches_and_single_images_agree_and_net_c_is_left_alone() -> None:
    net = _net(seed=4)
    images = _images(5, seed=6)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    together = gated_saliency(net, images, batch_size=3)
    with torch.inference_mode():  # as the pipeline may call it
        alone = np.stack([gated_saliency(net, images[n : n + 1])[0] for n in range(5)])
    np.testing.assert_allclose(together, alone, rtol=0, atol=rounding_rtol(torch.float32, terms=72, steps=7))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters()) and not net.training
    assert together.dtype == np.float32 and together.shape == (5, 48, 40)
    frozen = images.copy()
    frozen.flags.writeable = False  # as a viewer's cached result is: no warning, the same maps
    np.testing.assert_array_equal(gated_saliency(net, frozen, batch_size=3), together)
    assert gated_saliency(net, np.zeros((0, 48, 40), np.float32)).shape == (0, 48, 40)


def test_a_net_c_without_activation_points_nowhere() -> None:
    net = _net()
    with torch.no_grad():
        net.head.weight.zero_()  # no evidence anywhere: the CAM is all zero
    assert not gated_saliency(net, _images(2, seed=1)).any()


def test_bad_input_raises_input_error() -> None:
    with pytest.raises(InputError, match=r"must have shape \(n, H, W\)"):
        gated_saliency(_net(), np.zeros((48, 40), np.float32))
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        gated_saliency(_net(), _images(1, seed=0), batch_size=0)


def test_a_trained_net_c_points_at_the_blobs() -> None:
    """The learning check of the classifier tests: after 40 steps on noisy images with and
    without a Gaussian blob, the refined pointer peaks on the blob as the CAM does."""
    images, labels, centres = _blob_dataset(16, 64, seed=7)
    model = train_on_blobs(images, labels)
    maps = gated_saliency(model, images[1::2, 0].numpy())
    hits = 0
    for (row, col), found in zip(centres, maps):
        peak_row, peak_col = divmod(int(found.argmax()), found.shape[1])
        hits += abs(peak_row - row) <= 6 and abs(peak_col - col) <= 6  # blob sigma 3: within 2 sigma
    assert hits >= 0.75 * len(centres)
