"""Losses of the learned reconstruction models.

All terms compare magnitude images ``(B, h, w)`` (the recon-size centre crop of ``|output|``)
with the fully sampled RSS target, both divided by the target's maximum per image, so the same
weights mean the same on fastMRI's ~1e-4 scale and on synthetic data near 1. Each term is
returned per image (``(B,)``), so a batch split across processes sums to the same loss.

- **L1**: mean absolute difference;
- **SSIM**: ``1 - SSIM`` with fastMRI's conventions (``fastmri.losses.SSIMLoss``: 7 x 7
  uniform window, ``k1 = 0.01``, ``k2 = 0.03``, unbiased covariance, no padding, the data range
  the target's maximum);
- **lesion** (LF-MRI's lesion-focused loss, weakly supervised):
  ``max(w) * sum(w |x - y|) / (sum(w) + eps)`` with ``w = sigmoid(logit_0) * CAM_0`` of the
  frozen Net_c on the *target* image: the ``w``-weighted mean error, scaled by the map's peak.
  The CAM peaks at 1, so the term is the lesion probability times the CAM-weighted mean error.
  The weight carries no gradient and uses no boxes: where Net_c sees no lesion (``CAM = 0``, or
  a low lesion probability) errors do not count. (A plain weighted mean would cancel the
  probability, and every lesion-free slice would weigh its CAM's peak as much as a lesion.)
- **perceptual** (optional): L1 between Net_c backbone features of output and target, both
  scaled by the target's 99th percentile.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models.classifier import LesionClassifier
from lfmri_core.models.scaling import robust_scale

SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor, *, window: int = SSIM_WINDOW,
             k1: float = SSIM_K1, k2: float = SSIM_K2) -> torch.Tensor:
    """Local SSIM as in ``fastmri.losses.SSIMLoss`` (differentiable).

    Parameters
    ----------
    x, y
        Images ``(B, 1, H, W)`` (``y`` the reference).
    data_range
        ``(B,)`` data range per image.

    Returns
    -------
    torch.Tensor
        ``(B, 1, H - window + 1, W - window + 1)``.
    """
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 1:
        raise InputError(f"SSIM needs two (B, 1, H, W) images of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise InputError(f"SSIM needs images of at least {window} x {window}, got {tuple(x.shape[-2:])}")
    kernel = torch.ones(1, 1, window, window, dtype=x.dtype, device=x.device) / window**2
    count = window**2
    cov_norm = count / (count - 1)
    data_range = data_range.to(x.dtype)[:, None, None, None]
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    ux, uy = F.conv2d(x, kernel), F.conv2d(y, kernel)
    uxx, uyy, uxy = F.conv2d(x * x, kernel), F.conv2d(y * y, kernel), F.conv2d(x * y, kernel)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def ssim_loss(x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor, *, per_image: bool = False) -> torch.Tensor:
    """``1 - SSIM``: the mean over everything (as fastMRI's ``SSIMLoss``), or per image ``(B,)``."""
    similarity = ssim_map(x, y, data_range)
    return 1 - (similarity.flatten(1).mean(dim=1) if per_image else similarity.mean())


class SSIMLoss(nn.Module):
    """``fastmri.losses.SSIMLoss`` without fastMRI: ``1 - SSIM``, reduced to its mean or the
    ``(B, 1, H - 6, W - 6)`` map."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, data_range: torch.Tensor, reduced: bool = True) -> torch.Tensor:
        return ssim_loss(x, y, data_range) if reduced else 1 - ssim_map(x, y, data_range)


@torch.no_grad()
def lesion_weights(classifier: LesionClassifier, target: torch.Tensor) -> torch.Tensor:
    """LF-MRI's lesion weight ``sigmoid(logit_0) * CAM_0`` of Net_c on the target.

    Parameters
    ----------
    classifier
        The frozen Net_c.
    target
        Reference magnitudes ``(B, h, w)``.

    Returns
    -------
    torch.Tensor
        ``(B, h, w)`` in ``[0, 1]``, no gradient.
    """
    out = classifier(target.unsqueeze(1))
    return torch.sigmoid(out.logits[:, 0])[:, None, None] * out.cam[:, 0]


@torch.no_grad()
def pointer_weights(classifier: LesionClassifier, target: torch.Tensor) -> torch.Tensor:
    """The lesion weight ``sigmoid(logit_0) * pointer`` with Net_c's refined pointer on the target
    (:func:`lfmri_core.pipeline.classifier.gated_saliency`) in place of its CAM.

    ``target``: reference magnitudes ``(B, h, w)``. Returns ``(B, h, w)`` in ``[0, 1]`` on the
    target's device, no gradient. The pointer needs one backward pass through Net_c per image.
    """
    # imported here: the pipeline package loads reconstruction code that training does not need
    from lfmri_core.pipeline.classifier import saliency_and_logits

    maps, logits = saliency_and_logits(classifier, target.detach(), device=target.device)
    pointer = torch.from_numpy(maps)
    return torch.sigmoid(logits)[:, None, None] * pointer.to(device=target.device, dtype=target.dtype)


def lesion_l1(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``max(w) * sum(w |x - y|) / (sum(w) + eps)`` per image: ``(B, h, w)`` each -> ``(B,)``.

    The ``w``-weighted mean of ``|x - y|`` times the peak weight: scaling ``w`` by ``p`` scales
    the term by ``p``, so a slice that Net_c scores lesion-free adds little however its CAM
    is spread.
    """
    flat = weights.flatten(1)
    peak = flat.amax(dim=1)
    return peak * (flat * (x - y).abs().flatten(1)).sum(dim=1) / (flat.sum(dim=1) + eps)


class LossTerms(NamedTuple):
    """Per-image loss terms, each ``(B,)`` (zeros for a term with weight 0)."""

    total: torch.Tensor
    l1: torch.Tensor
    ssim: torch.Tensor
    lesion: torch.Tensor
    perceptual: torch.Tensor


class ReconstructionLoss(nn.Module):
    """Weighted sum of L1, SSIM, lesion-focused and perceptual terms (see the module docstring).

    Parameters
    ----------
    l1, ssim, lesion, perceptual
        Non-negative weights.
    classifier
        The frozen Net_c; needed when ``perceptual`` is > 0, and when ``lesion`` is > 0 unless
        ``oracle_focus``. It is not trained (its parameters get ``requires_grad`` False) and
        stays in eval mode.
    oracle_focus
        The lesion term is weighted by the maps passed to :meth:`forward` (the smoothed
        annotated boxes) instead of Net_c's: an experiment, for data with boxes only.
    pointer
        The lesion term is weighted by Net_c's refined pointer on the target
        (:func:`pointer_weights`) instead of its CAM (:func:`lesion_weights`).
    eps
        Of the lesion term's denominator.
    """

    def __init__(self, l1: float = 1.0, ssim: float = 1.0, lesion: float = 0.0, perceptual: float = 0.0, *,
                 classifier: LesionClassifier | None = None, oracle_focus: bool = False, pointer: bool = False,
                 eps: float = 1e-8) -> None:
        super().__init__()
        for name, value in (("l1", l1), ("ssim", ssim), ("lesion", lesion), ("perceptual", perceptual)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InputError(f"loss weight {name} must be a number >= 0, got {value!r}")
        if perceptual > 0 and classifier is None:
            raise InputError("the perceptual loss needs a trained classifier (Net_c)")
        if lesion > 0 and classifier is None and not oracle_focus:
            raise InputError("the lesion-focused loss needs a trained classifier (Net_c), or oracle_focus with the box maps")
        if pointer and (oracle_focus or classifier is None):
            raise InputError("the pointer-weighted lesion loss needs Net_c and no oracle focus")
        self.weights = {"l1": float(l1), "ssim": float(ssim), "lesion": float(lesion), "perceptual": float(perceptual)}
        self.eps = eps
        self.oracle_focus = bool(oracle_focus)
        self.pointer = bool(pointer)
        self.classifier = classifier
        if classifier is not None:
            classifier.requires_grad_(False)
            classifier.eval()

    def train(self, mode: bool = True) -> ReconstructionLoss:
        super().train(mode)
        if self.classifier is not None:
            self.classifier.eval()
        return self

    def forward(self, output: torch.Tensor, target: torch.Tensor, focus_weights: torch.Tensor | None = None) -> LossTerms:
        """Loss terms of magnitudes ``output`` and ``target`` ``(B, h, w)``.

        ``focus_weights`` ``(B, h, w)`` in ``[0, 1]`` replace Net_c's weights in the lesion term
        (the oracle focus: the smoothed annotated boxes, 0 on lesion-free slices).
        """
        if output.shape != target.shape or output.ndim != 3:
            raise InputError(f"loss needs output and target of one (B, h, w) shape, got {tuple(output.shape)} and {tuple(target.shape)}")
        target = target.detach()
        peak = target.flatten(1).amax(dim=1).clamp_min(torch.finfo(target.dtype).tiny)[:, None, None]
        x, y = output / peak, target / peak
        zero = torch.zeros(output.shape[0], dtype=output.dtype, device=output.device)
        w = self.weights
        l1 = (x - y).abs().flatten(1).mean(dim=1) if w["l1"] else zero
        ssim = ssim_loss(x.unsqueeze(1), y.unsqueeze(1), torch.ones_like(zero), per_image=True) if w["ssim"] else zero
        lesion = zero
        perceptual = zero
        if w["lesion"]:
            if self.oracle_focus != (focus_weights is not None):
                raise InputError("the oracle-focus lesion loss needs focus_weights, and only it takes them")
            if focus_weights is None:
                assert self.classifier is not None
                weights = (pointer_weights if self.pointer else lesion_weights)(self.classifier, target)
            elif focus_weights.shape != target.shape:
                raise InputError(f"focus weights of shape {tuple(focus_weights.shape)} do not fit the target "
                                 f"{tuple(target.shape)}")
            else:
                weights = focus_weights.detach()
            lesion = lesion_l1(x, y, weights, self.eps)
        if w["perceptual"]:
            assert self.classifier is not None
            scale = robust_scale(target)[:, None, None, None]
            backbone = self.classifier.backbone
            features_x = backbone(output.unsqueeze(1) / scale)
            with torch.no_grad():
                features_y = backbone(target.unsqueeze(1) / scale)
            perceptual = (features_x - features_y).abs().flatten(1).mean(dim=1)
        total = w["l1"] * l1 + w["ssim"] * ssim + w["lesion"] * lesion + w["perceptual"] * perceptual
        return LossTerms(total, l1, ssim, lesion, perceptual)
