"""Reconstruction losses: zero at equality, SSIM equal to fastMRI's, lesion loss only where the CAM is."""

from __future__ import annotations

import pytest
import torch

from lfmri_core.errors import InputError
from lfmri_core.models import ClassifierConfig, build_classifier
from lfmri_core.pipeline.classifier import gated_saliency
from lfmri_core.training import ReconstructionLoss, SSIMLoss, lesion_l1, lesion_weights, pointer_weights, ssim_loss
from tests.tolerances import rounding_rtol


def _classifier():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_classifier(ClassifierConfig(width=4)).eval()


def _images(seed: int = 0, shape: tuple[int, ...] = (2, 48, 40)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, shape[-2]), torch.linspace(-1, 1, shape[-1]), indexing="ij")
    blob = torch.exp(-((xx / 0.5) ** 2 + (yy / 0.4) ** 2))
    return (blob + 0.1 * torch.rand(shape, generator=gen)) * 1e-4  # fastMRI's raw scale


def test_ssim_matches_fastmri() -> None:
    from fastmri.losses import SSIMLoss as FastMRISSIMLoss

    x = _images(1).unsqueeze(1)
    y = _images(2).unsqueeze(1)
    data_range = y.flatten(1).amax(dim=1)
    reference = FastMRISSIMLoss()
    # The same formula in float32 on both sides: 7 x 7 window sums, then a mean over the
    # pixels; SSIM values are at most 1, so the bound is absolute.
    atol = rounding_rtol(torch.float32, terms=49 * x.shape[-2] * x.shape[-1])
    torch.testing.assert_close(ssim_loss(x, y, data_range), reference(x, y, data_range), rtol=0, atol=atol)
    window = rounding_rtol(torch.float32, terms=49)
    torch.testing.assert_close(SSIMLoss()(x, y, data_range, reduced=False), reference(x, y, data_range, reduced=False),
                               rtol=0, atol=window)
    torch.testing.assert_close(SSIMLoss()(x, y, data_range), reference(x, y, data_range), rtol=0, atol=atol)
    per_image = reference(x, y, data_range, reduced=False).flatten(1).mean(1)
    torch.testing.assert_close(ssim_loss(x, y, data_range, per_image=True), per_image, rtol=0, atol=atol)


def test_every_term_is_zero_at_equality_and_positive_otherwise() -> None:
    target = _images(3)
    loss = ReconstructionLoss(l1=1.0, ssim=1.0, lesion=1.0, perceptual=1.0, classifier=_classifier())
    same = loss(target.clone(), target)
    for term in same:
        assert term.shape == (2,)
        # identical inputs: every difference is exactly 0, and SSIM's ratio is 1 up to the
        # rounding of its 7 x 7 window sums
        torch.testing.assert_close(term, torch.zeros(2), atol=rounding_rtol(torch.float32, terms=49), rtol=0)
    other = loss(_images(4), target)
    assert (other.l1 > 0).all() and (other.ssim > 0).all() and (other.perceptual > 0).all()
    assert (other.lesion >= 0).all()


def test_loss_is_scale_free() -> None:
    """Both images over the target maximum: the same numbers on fastMRI's and on a ~1 scale."""
    loss = ReconstructionLoss(l1=1.0, ssim=1.0)
    x, y = _images(5), _images(6)
    # scaling by 1e4 rounds every pixel once; the terms are means of at most 49 * pixels terms
    rtol = rounding_rtol(torch.float32, terms=49 * x.shape[-2] * x.shape[-1])
    torch.testing.assert_close(loss(x, y).total, loss(x * 1e4, y * 1e4).total, rtol=rtol, atol=0)


def test_lesion_loss_ignores_pixels_where_the_cam_is_zero() -> None:
    classifier = _classifier()
    target = _images(7, (1, 64, 64))
    weights = lesion_weights(classifier, target)
    assert not weights.requires_grad and weights.shape == target.shape
    assert float(weights.min()) == 0.0 and float(weights.max()) > 0.0
    out = classifier(target.unsqueeze(1))
    torch.testing.assert_close(weights, torch.sigmoid(out.logits[:, 0])[:, None, None] * out.cam[:, 0], rtol=0, atol=0)

    loss = ReconstructionLoss(l1=0.0, ssim=0.0, lesion=1.0, classifier=classifier)
    output = target * 0.9
    base = loss(output, target).lesion
    off = weights == 0
    changed = output.clone()
    changed[off] = 123.0
    torch.testing.assert_close(loss(changed, target).lesion, base, rtol=0, atol=0)  # weight 0 times anything
    on = weights > 0.5 * weights.max()
    changed = output.clone()
    changed[on] = 0.0
    assert float(loss(changed, target).lesion) > float(base) * 1.5

    # the gradient reaches the output only where the weight is positive
    output = output.clone().requires_grad_()
    loss(output, target).total.sum().backward()
    assert output.grad is not None
    assert (output.grad[off] == 0).all() and (output.grad[on] != 0).all()
    assert all(p.grad is None for p in classifier.parameters())


def test_pointer_weighted_lesion_loss_uses_the_refined_pointer_in_place_of_the_cam() -> None:
    classifier = _classifier()
    target = _images(7, (2, 64, 64))
    weights = pointer_weights(classifier, target)
    assert not weights.requires_grad and weights.shape == target.shape and weights.dtype == target.dtype
    out = classifier(target.unsqueeze(1))
    probability = torch.sigmoid(out.logits[:, 0]).detach()
    # the lesion probability times the pointer, each map peaking at 1 where it is not empty
    expected = probability[:, None, None] * torch.from_numpy(gated_saliency(classifier, target))
    rtol = rounding_rtol(torch.float32, terms=1)  # one product per pixel
    torch.testing.assert_close(weights, expected, rtol=rtol, atol=0)
    assert float(weights.max()) > 0.0
    torch.testing.assert_close(weights.flatten(1).amax(dim=1), probability, rtol=rtol, atol=0)
    # it is narrower than the CAM's weight: the gate keeps only the CAM's hot region
    cam = lesion_weights(classifier, target)
    assert int((weights > 0).sum()) < int((cam > 0).sum())

    loss = ReconstructionLoss(l1=0.0, ssim=0.0, lesion=1.0, classifier=classifier, pointer=True)
    assert loss.pointer
    output = target * 0.9
    torch.testing.assert_close(loss(output, target).lesion, lesion_l1(output / target.flatten(1).amax(1)[:, None, None],
                                                                      target / target.flatten(1).amax(1)[:, None, None],
                                                                      weights), rtol=rounding_rtol(torch.float32, terms=64 * 64), atol=0)
    output = output.clone().requires_grad_()
    loss(output, target).total.sum().backward()
    assert output.grad is not None and ((output.grad != 0) == (weights > 0)).all()
    assert all(p.grad is None for p in classifier.parameters())
    with pytest.raises(InputError, match="pointer-weighted lesion loss needs Net_c"):
        ReconstructionLoss(lesion=1.0, pointer=True, oracle_focus=True)


def test_lesion_l1_is_a_weighted_mean_scaled_by_the_peak_weight() -> None:
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    y = torch.zeros_like(x)
    w = torch.tensor([[[1.0 / 3.0, 0.0], [0.0, 1.0]]])
    # peak 1 (a CAM with a lesion probability of 1): the weighted mean
    rtol = rounding_rtol(torch.float32, terms=4)  # a few float32 operations on 4 pixels
    torch.testing.assert_close(lesion_l1(x, y, w, eps=0.0), torch.tensor([(1.0 / 3.0 + 4.0) / (4.0 / 3.0)]), rtol=rtol, atol=0)
    # the lesion probability scales the term instead of cancelling out of the mean
    torch.testing.assert_close(lesion_l1(x, y, 0.1 * w, eps=0.0), 0.1 * lesion_l1(x, y, w, eps=0.0), rtol=rtol, atol=0)
    assert float(lesion_l1(x, y, torch.zeros_like(w))) == 0.0


def test_lesion_and_perceptual_losses_need_a_classifier() -> None:
    with pytest.raises(InputError, match="classifier"):
        ReconstructionLoss(lesion=1.0)
    with pytest.raises(InputError, match="weight ssim"):
        ReconstructionLoss(ssim=-1.0)
    with pytest.raises(InputError, match="shape"):
        ReconstructionLoss()(torch.zeros(1, 8, 8), torch.zeros(1, 8, 9))
