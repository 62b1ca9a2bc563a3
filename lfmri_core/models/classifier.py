"""Net_c: the lesion classifier whose class activation maps steer LF-MRI's lesion-focused module.

Net_c is trained with image-level labels only (class 0 = "any lesion"; further classes, one per
lesion type, are optional through ``num_classes``). Its head is a linear layer applied at every
position of the last feature maps ``f_k``, ``s_c = sum_k w_ck f_k + b_c``, pooled over positions
into the logit: the mean (global average pooling, as in the original CAM) or the mean of the
largest ``top_fraction`` of positions ("top-k"). Either way the class activation map (Zhou et
al., CVPR 2016) is

``CAM_c = ReLU(sum_k w_ck f_k)``

(the bias left out, as in the original CAM). With top-k pooling the logit is made of the CAM's
own peak, so a classifier can only score a lesion by putting the CAM's maximum somewhere; with
average pooling a diffuse map elsewhere can carry the score. Each map is upsampled bilinearly
to the input size (each feature placed on the centre of its receptive field,
:func:`upsample_to_pixels`) and min-max normalised per image to ``[0, 1]``. Every step is a
torch operation, so gradients flow from the CAM back to the input image: LF-MRI places the CAM
inside the unrolled reconstruction network.

Backbones are built from a name (:data:`BACKBONE_REGISTRY`), like fastMRI's masks, with
GroupNorm or BatchNorm layers (:attr:`ClassifierConfig.norm`): GroupNorm behaves the same for a
batch of one in training and in use but makes every position depend on statistics of the whole
image; BatchNorm in use (eval mode) keeps each position's features, and so the CAM, local.

Weights are stored as safetensors with the JSON configuration in the file's header metadata:
one file, never pickle, nothing executed on load.

>>> config = ClassifierConfig(backbone="resnet-small", width=8)
>>> model = build_classifier(config).eval()
>>> out = model(torch.rand(2, 1, 64, 48))
>>> tuple(out.logits.shape), tuple(out.cam.shape)
((2, 1), (2, 1, 64, 48))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models.config_json import dump_config, load_config_fields
from lfmri_core.models.scaling import robust_scale
from lfmri_core.models.weights import ModelKind, register_model_kind

Normalisation = Literal["p99", "max", "none"]
"""How an input image is scaled before the backbone (see :class:`ClassifierConfig`)."""

Pooling = Literal["average", "top-k"]
"""How the per-position class scores become the logit (see :class:`ClassifierConfig`)."""

Norm = Literal["group", "batch"]
"""Normalisation layers of the backbone (see :class:`ClassifierConfig`)."""

OUTPUT_STRIDES = (8, 4, 2)
"""Feature-map strides a classifier can run at (see :attr:`ClassifierConfig.output_stride`)."""

FORMAT_NAME = "lfmri-classifier"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of a Net_c classifier.

    Attributes
    ----------
    backbone
        Name in :data:`BACKBONE_REGISTRY` (``"resnet-small"`` or ``"vgg-small"``).
    width
        Channels of the first stage; later stages use ``2 * width`` and ``4 * width``. The
        feature maps the CAM is made of have ``4 * width`` channels at 1/``output_stride`` of
        the input size.
    num_classes
        Number of logits. Class 0 is "any lesion"; classes 1.. are lesion types when used.
    normalisation
        Per-image input scaling, so the same weights work on fastMRI's raw magnitude scale
        (~1e-4) and on the synthetic data's ~1 scale: ``"p99"`` divides each image by its 99th
        percentile (robust to a few very bright pixels; falls back to the maximum, then to 1,
        when that is zero), ``"max"`` by its maximum, ``"none"`` leaves it unchanged.
    cam_epsilon
        A CAM whose range (max - min) is below this is returned as all zeros rather than
        amplified noise; otherwise each map is scaled to have minimum 0 and maximum exactly 1.
    pooling
        ``"average"``: the logit is the mean of the per-position scores (global average
        pooling); ``"top-k"``: the mean of the largest ``top_fraction`` of them (at least one
        position), which ties the score to the CAM's peak (see the module docstring).
    top_fraction
        Share of feature-map positions pooled by ``"top-k"``, in ``(0, 1]``.
    output_stride
        Spacing in pixels of the feature maps, and so of the CAM before upsampling: 8 (the
        plain backbone), 4 or 2 (``resnet-small`` only). A smaller stride drops the stride of
        the last one or two strided blocks and dilates the convolutions after them (the "a
        trous" trick of DeepLab), so every receptive field stays the same: with BatchNorm, the
        features at every 8th pixel are exactly those of the stride-8 network with the same
        weights, and the positions between are computed by the same filters. A weights file
        trained at stride 8 can thus be run at 4 or 2 (the CAM resolves lesions a few pixels
        tall) or fine-tuned there. Costs about 4x (stride 4) and 16x (stride 2) the last
        blocks' arithmetic.
    norm
        ``"group"``: GroupNorm, which behaves the same for a batch of one in training and in
        use, but normalises each feature map by statistics over the *whole image*, so every
        position's features (and CAM) depend on every pixel: a lesion changes them far from
        itself. ``"batch"``: BatchNorm, whose statistics in use are the running ones from
        training, so a position's features depend only on its receptive field (the CAM stays
        local); Net_c is used in eval mode, frozen, so a batch of one is no problem there.
    """

    backbone: str = "resnet-small"
    width: int = 16
    num_classes: int = 1
    normalisation: Normalisation = "p99"
    cam_epsilon: float = 1e-6
    pooling: Pooling = "average"
    top_fraction: float = 0.003
    norm: Norm = "group"
    output_stride: int = 8

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONE_REGISTRY:
            raise InputError(
                f"unknown classifier backbone {self.backbone!r}; available: {', '.join(available_backbones())}"
            )
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise InputError(f"classifier width must be a positive integer, got {self.width!r}")
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 1
        ):
            raise InputError(f"classifier num_classes must be a positive integer, got {self.num_classes!r}")
        if self.normalisation not in get_args(Normalisation):
            raise InputError(
                f"classifier normalisation must be one of {', '.join(get_args(Normalisation))}, "
                f"got {self.normalisation!r}"
            )
        if not isinstance(self.cam_epsilon, (int, float)) or not self.cam_epsilon > 0:
            raise InputError(f"classifier cam_epsilon must be a positive number, got {self.cam_epsilon!r}")
        if self.pooling not in get_args(Pooling):
            raise InputError(f"classifier pooling must be one of {', '.join(get_args(Pooling))}, got {self.pooling!r}")
        if self.norm not in get_args(Norm):
            raise InputError(f"classifier norm must be one of {', '.join(get_args(Norm))}, got {self.norm!r}")
        if isinstance(self.output_stride, bool) or not isinstance(self.output_stride, int) \
                or self.output_stride not in OUTPUT_STRIDES:
            raise InputError(f"classifier output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, "
                             f"got {self.output_stride!r}")
        if self.output_stride != 8 and self.backbone != "resnet-small":
            raise InputError(f"classifier output_stride {self.output_stride} needs the resnet-small backbone, "
                             f"not {self.backbone!r}")
        if (isinstance(self.top_fraction, bool) or not isinstance(self.top_fraction, (int, float))
                or not 0 < self.top_fraction <= 1):
            raise InputError(f"classifier top_fraction must be in (0, 1], got {self.top_fraction!r}")

    def to_json(self) -> str:
        """The configuration as a JSON object (with format name and version)."""
        return dump_config(self, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> ClassifierConfig:
        """Parse :meth:`to_json` output; anything else raises :class:`InputError` naming ``source``."""
        return cls(**load_config_fields(cls, text, format_name=FORMAT_NAME, version=FORMAT_VERSION,
                                        what="classifier", source=source))


class ClassifierOutput(NamedTuple):
    """What :class:`LesionClassifier` returns."""

    logits: torch.Tensor
    """Class logits, float32 ``(batch, num_classes)``; class 0 = any lesion."""
    cam: torch.Tensor
    """Class activation maps in ``[0, 1]``, ``(batch, num_classes, H, W)`` (input size)."""


# --- backbones -----------------------------------------------------------------------------


def _norm(channels: int, kind: Norm = "group") -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(num_groups=min(8, channels), num_channels=channels)


def _conv_norm_relu(c_in: int, c_out: int, stride: int = 1, norm: Norm = "group") -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), _norm(c_out, norm), nn.ReLU(inplace=True)
    )


class _ResidualBlock(nn.Module):
    """Basic ResNet block (two 3x3 convolutions), strided by its first convolution.

    ``dilation``: that of the first convolution (the spacing of the input's original grid);
    ``dense``: a stride-2 block run without its stride, the second convolution dilated by
    ``2 * dilation`` so that it reads the same inputs as the strided block (see
    :attr:`ClassifierConfig.output_stride`). The parameters are the same either way.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, norm: Norm = "group", *, dilation: int = 1,
                 dense: bool = False) -> None:
        super().__init__()
        first_stride = 1 if dense else stride
        second = dilation * stride if dense else dilation
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=first_stride, padding=dilation, dilation=dilation, bias=False)
        self.norm1 = _norm(c_out, norm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=second, dilation=second, bias=False)
        self.norm2 = _norm(c_out, norm)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=first_stride, bias=False), _norm(c_out, norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Backbone(nn.Module):
    """Feature extractor ``(batch, 1, H, W) -> (batch, out_channels, ceil(H / stride), ceil(W / stride))``.

    Feature ``(i, j)`` is centred on input pixel ``(offset + stride * i, offset + stride * j)``
    (the centre of its receptive field), which is where the CAM puts it when upsampling.
    """

    out_channels: int

    def __init__(self, layers: nn.Sequential, out_channels: int, *, stride: int = 8, offset: float = 0.0) -> None:
        super().__init__()
        self.layers = layers
        self.out_channels = out_channels
        self.stride = stride
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def resnet_small(width: int, norm: Norm = "group", output_stride: int = 8) -> Backbone:
    """Strided stem and three residual blocks (stride 1, 2, 2): total stride 8, ``4 * width`` out.

    Each stride-2 step is a 3x3 convolution with padding 1 (or a 1x1 shortcut), whose output
    ``j`` is centred on input ``2 j``: feature ``i`` is centred on pixel ``8 i`` (offset 0).
    ``output_stride`` 4 runs the last block without its stride, 2 the last two (dilated, see
    :class:`_ResidualBlock`); feature ``i`` is then centred on pixel ``output_stride * i``.
    """
    dense_last = output_stride <= 4
    dense_middle = output_stride <= 2
    return Backbone(
        nn.Sequential(
            _conv_norm_relu(1, width, stride=2, norm=norm),
            _ResidualBlock(width, width, stride=1, norm=norm),
            _ResidualBlock(width, 2 * width, stride=2, norm=norm, dense=dense_middle),
            _ResidualBlock(2 * width, 4 * width, stride=2, norm=norm, dilation=2 if dense_middle else 1,
                           dense=dense_last),
        ),
        out_channels=4 * width,
        stride=output_stride,
        offset=0.0,
    )


def vgg_small(width: int, norm: Norm = "group", output_stride: int = 8) -> Backbone:
    """Plain 3x3 conv stack with three 2x2 max-pools: total stride 8, ``4 * width`` out (the
    only ``output_stride`` it has; :class:`ClassifierConfig` refuses another).

    A 2x2 pool's output ``j`` covers inputs ``2 j, 2 j + 1`` (centre ``2 j + 0.5``): after three,
    feature ``i`` is centred on pixel ``8 i + 3.5``.
    """
    return Backbone(
        nn.Sequential(
            _conv_norm_relu(1, width, norm=norm),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_norm_relu(width, 2 * width, norm=norm),
            _conv_norm_relu(2 * width, 2 * width, norm=norm),
            nn.MaxPool2d(2, ceil_mode=True),
            _conv_norm_relu(2 * width, 4 * width, norm=norm),
            _conv_norm_relu(4 * width, 4 * width, norm=norm),
            nn.MaxPool2d(2, ceil_mode=True),
        ),
        out_channels=4 * width,
        offset=3.5,
    )


BACKBONE_REGISTRY: dict[str, Callable[..., Backbone]] = {
    "resnet-small": resnet_small,
    "vgg-small": vgg_small,
}
"""Backbone builders by name: ``builder(width, norm, output_stride) -> Backbone`` (only
``resnet-small`` has output strides other than 8)."""


def available_backbones() -> list[str]:
    """Names accepted as :attr:`ClassifierConfig.backbone`, sorted."""
    return sorted(BACKBONE_REGISTRY)


# --- the classifier -------------------------------------------------------------------------


def _check_image(image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor):
        raise InputError(f"classifier input must be a torch.Tensor, got {type(image).__name__}")
    if image.ndim != 4 or image.shape[1] != 1:
        raise InputError(f"classifier input must have shape (batch, 1, H, W), got {tuple(image.shape)}")
    if not image.is_floating_point():
        raise InputError(f"classifier input must be a real floating-point magnitude image, got {image.dtype}")
    if image.numel() == 0:
        raise InputError(f"classifier input is empty, shape {tuple(image.shape)}")
    if not bool(torch.isfinite(image).all()):
        raise InputError("classifier input contains non-finite values (NaN or inf)")


def normalise_images(image: torch.Tensor, mode: Normalisation) -> torch.Tensor:
    """Scale each image by its 99th percentile (``"p99"``), maximum (``"max"``) or not (``"none"``).

    Parameters
    ----------
    image
        Magnitude images ``(batch, 1, H, W)``.
    mode
        See :attr:`ClassifierConfig.normalisation`.

    Returns
    -------
    torch.Tensor
        ``(batch, 1, H, W)``; differentiable in ``image`` (the scale included).
    """
    scales = input_scales(image, mode)
    return image if scales is None else image / scales[:, None, None, None]


def input_scales(image: torch.Tensor, mode: Normalisation) -> torch.Tensor | None:
    """The per-image divisors of :func:`normalise_images`, ``(batch,)``; None for ``"none"``."""
    if mode == "none":
        return None
    return robust_scale(image, percentile=mode == "p99")


def upsample_to_pixels(maps: torch.Tensor, size: tuple[int, int], stride: int, offset: float) -> torch.Tensor:
    """Bilinear interpolation of feature maps onto the pixel grid, differentiably.

    Feature ``(i, j)`` of ``maps`` ``(batch, channels, h, w)`` lands on pixel
    ``(offset + stride * i, offset + stride * j)``; pixels between features are interpolated,
    pixels beyond the outermost features take the edge value. (``F.interpolate`` with
    ``align_corners=False`` assumes ``offset = (stride - 1) / 2``: right for pooled backbones,
    3.5 pixels too far down and right for strided 3x3 convolutions.)
    """

    def axis(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u = ((torch.arange(n_out, device=maps.device, dtype=maps.dtype) - offset) / stride).clamp(0, n_in - 1)
        low = u.floor().long()  # u is already clamped to [0, n_in - 1]
        return low, (low + 1).clamp(max=n_in - 1), u - low

    r0, r1, fr = axis(size[0], maps.shape[-2])
    c0, c1, fc = axis(size[1], maps.shape[-1])
    rows = maps[..., r0, :] * (1 - fr)[:, None] + maps[..., r1, :] * fr[:, None]
    return rows[..., c0] * (1 - fc) + rows[..., c1] * fc


def min_max_normalise(maps: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Scale each map of ``(batch, classes, H, W)`` to ``[0, 1]``; a map with range < epsilon -> 0."""
    flat = maps.flatten(2)
    low = flat.amin(dim=2, keepdim=True)
    span = flat.amax(dim=2, keepdim=True) - low
    scaled = (flat - low) / span.clamp(min=epsilon)
    scaled = torch.where(span >= epsilon, scaled, torch.zeros_like(scaled))
    return scaled.view_as(maps)


class LesionClassifier(nn.Module):
    """Net_c: backbone, linear head pooled over positions (average or top-k), and a differentiable CAM.

    Parameters
    ----------
    config
        Architecture; kept as :attr:`config`.
    """

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = BACKBONE_REGISTRY[config.backbone](config.width, config.norm, config.output_stride)
        self.head = nn.Linear(self.backbone.out_channels, config.num_classes)

    def forward(self, image: torch.Tensor, scale: torch.Tensor | None = None) -> ClassifierOutput:
        """Classify images and compute their class activation maps.

        Parameters
        ----------
        image
            Magnitude images, float ``(batch, 1, H, W)``, any H, W, any intensity scale.
        scale
            ``(batch,)`` divisors to use instead of the configured per-image normalisation
            (training puts a lesion image and its lesion-free twin on one scale this way);
            None: :attr:`ClassifierConfig.normalisation`.

        Returns
        -------
        ClassifierOutput
            ``logits`` ``(batch, num_classes)`` and ``cam`` ``(batch, num_classes, H, W)`` in
            ``[0, 1]``, each map with maximum 1 unless it is all zero.
        """
        _check_image(image)
        if scale is None:
            normalised = normalise_images(image, self.config.normalisation)
        else:
            if scale.shape != image.shape[:1] or not bool(torch.all(scale > 0)):
                raise InputError(f"classifier scale must be {image.shape[0]} positive numbers, got shape {tuple(scale.shape)}")
            normalised = image / scale[:, None, None, None]
        features = self.backbone(normalised)
        # sum_k w_ck f_k: the head applied at every position, without the bias.
        evidence = torch.einsum("ck,bkhw->bchw", self.head.weight, features)
        if self.config.pooling == "average":
            pooled = evidence.mean(dim=(2, 3))
        else:
            flat = evidence.flatten(2)
            k = max(1, int(round(self.config.top_fraction * flat.shape[2])))
            pooled = flat.topk(k, dim=2).values.mean(dim=2)
        logits = pooled + self.head.bias
        cam = upsample_to_pixels(F.relu(evidence), tuple(image.shape[-2:]), self.backbone.stride, self.backbone.offset)
        return ClassifierOutput(logits=logits, cam=min_max_normalise(cam, self.config.cam_epsilon))


def build_classifier(config: ClassifierConfig) -> LesionClassifier:
    """A freshly initialised classifier (seed torch beforehand for reproducible weights)."""
    if not isinstance(config, ClassifierConfig):
        raise InputError(f"build_classifier needs a ClassifierConfig, got {type(config).__name__}")
    return LesionClassifier(config)


register_model_kind(ModelKind(
    "classifier", LesionClassifier, ClassifierConfig, LesionClassifier,
    lambda c: f"classifier backbone {c.backbone!r} width {c.width}",
    lambda c: 1,
))
