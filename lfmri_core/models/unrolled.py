"""LF-MRI: the model-unrolled reconstruction network with weakly supervised lesion focus.

Ju et al. (Medical Image Analysis 2026) solve

``X* = argmin_X 1/2 ||A X - Y||^2 + mu1 ||N(X)||^2 + mu2 ||H(X)||^2``

with ``A = M F S`` (:class:`~lfmri_core.physics.SenseOperator`: mask, centered orthonormal 2-D
FFT, coil sensitivities), unrolled into ``T`` stages. Each stage has a denoising module
(:class:`DenoiserCNN` or :class:`DenoiserUNet` ``D_w``), a lesion-focused module (a second network
``G_u`` of the same architecture whose correction is
weighted by the class activation map of the frozen classifier Net_c,
:mod:`lfmri_core.models.classifier`) and a data-consistency module that solves the stage's
quadratic with a few differentiable conjugate-gradient steps
(:func:`~lfmri_core.models.data_consistency.solve_data_consistency`, re-exported here).

Images are complex ``(batch, H, W)``; k-space and coil maps are complex
``(batch, coils, H, W)``; the FFT is centered and orthonormal (DC at ``(H // 2, W // 2)``).

The general :class:`~lfmri_core.models.unet.UNet` is in its own module. All models are plain
``nn.Module``s; no training code is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models.classifier import (
    ClassifierConfig,
    LesionClassifier,
    build_classifier,
)
from lfmri_core.models.config_json import dump_config, load_config_fields
from lfmri_core.models.data_consistency import (  # noqa: F401  (re-exported)
    conjugate_gradient,
    solve_data_consistency,
)
from lfmri_core.models.scaling import robust_scale
from lfmri_core.models.unet import UNet
from lfmri_core.models.weights import ModelKind, register_model_kind
from lfmri_core.physics.sense import SenseOperator
from lfmri_core.progress import Progress

FORMAT_NAME = "lfmri-unrolled"
FORMAT_VERSION = 1


# --- networks --------------------------------------------------------------------------------


class DenoiserCNN(nn.Module):
    """Residual CNN on a complex image seen as 2 real channels (``D_w`` and ``G_u``).

    ``out = x + s * net(x / s)`` with ``s`` each image's 99th-percentile magnitude
    (:func:`robust_scale`), so the same weights work on fastMRI's ~1e-4 scale and on ~1 data.

    Parameters
    ----------
    width
        Channels of the hidden layers.
    depth
        Number of 3x3 convolutions (>= 2); ReLU between them.
    dilated
        False: plain convolutions, a receptive field of ``2 depth + 1`` pixels. True: the
        convolutions before the last one are dilated 1, 2, 4, ... (the last one is not), which
        widens the receptive field to ``2**depth + 1`` pixels (33 for depth 5) at the same cost.
    """

    def __init__(self, width: int = 32, depth: int = 5, dilated: bool = False) -> None:
        super().__init__()
        if width < 1 or depth < 2:
            raise InputError(f"DenoiserCNN needs width >= 1 and depth >= 2, got {width} and {depth}")
        dilations = [2**i if dilated else 1 for i in range(depth - 1)] + [1]
        channels = [2] + [width] * (depth - 1) + [2]
        layers: list[nn.Module] = []
        for i, dilation in enumerate(dilations):
            layers.append(nn.Conv2d(channels[i], channels[i + 1], 3, padding=dilation, dilation=dilation))
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex ``(batch, H, W)`` -> complex ``(batch, H, W)``."""
        if not image.is_complex() or image.ndim != 3:
            raise InputError(f"DenoiserCNN input must be complex (batch, H, W), got {image.dtype} {tuple(image.shape)}")
        scale = robust_scale(image.abs().detach())[:, None, None]
        channels = torch.view_as_real(image / scale).permute(0, 3, 1, 2)
        correction = self.net(channels).permute(0, 2, 3, 1).contiguous()
        return image + torch.view_as_complex(correction) * scale


class DenoiserUNet(nn.Module):
    """Residual multi-scale denoiser ``out = x + UNet(x)`` (``D_w`` and ``G_u`` with ``denoiser="unet"``).

    The :class:`~lfmri_core.models.unet.UNet` (2 real channels, each image on its own 99th-percentile scale) works down
    to ``1 / 2**(levels - 1)`` of the resolution, where each 3x3 convolution spans
    ``2**(levels - 1)`` times as many pixels, against 11 pixels for the whole 5-layer
    :class:`DenoiserCNN` (its instance normalisation also uses whole-image statistics):
    undersampling aliasing is spread along the whole phase-encode axis.

    Parameters
    ----------
    width
        Channels of the first level (level ``l`` has ``width * 2**l``).
    levels
        Resolution levels (>= 1), the bottom one included.
    """

    def __init__(self, width: int = 16, levels: int = 3) -> None:
        super().__init__()
        self.unet = UNet(in_channels=2, out_channels=2, width=width, levels=levels)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex ``(batch, H, W)`` -> complex ``(batch, H, W)``."""
        return image + self.unet.forward_complex(image)


class LesionCorrection(nn.Module):
    """Residual lesion module: ``U = Z + s * R(X / s, Z / s, c)`` with ``R`` starting at zero.

    A CNN (``depth`` 3x3 convolutions, ReLU between them) on five real channels, the real and
    imaginary parts of the stage input ``X`` and of the denoiser's output ``Z``, and the focus
    map ``c``; ``s`` is each image's 99th-percentile magnitude of ``X`` (:func:`robust_scale`).
    Its last convolution starts with zero weights and bias, so a new module returns ``U = Z``:
    the lesion term then only adds weight to the denoiser's estimate inside the map, and the
    module moves ``U`` away from ``Z`` only as far as training finds it helps. Because ``c`` is
    an input, the module knows where the lesion is rather than only being weighted there.

    Parameters
    ----------
    width
        Channels of the hidden layers.
    depth
        Number of 3x3 convolutions (>= 2).
    """

    def __init__(self, width: int = 16, depth: int = 5) -> None:
        super().__init__()
        if width < 1 or depth < 2:
            raise InputError(f"LesionCorrection needs width >= 1 and depth >= 2, got {width} and {depth}")
        channels = [5] + [width] * (depth - 1) + [2]
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Conv2d(channels[i], channels[i + 1], 3, padding=1))
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.depth = depth
        last = layers[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, denoised: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
        """Complex ``X``, ``Z`` ``(batch, H, W)`` and real ``c`` ``(batch, H, W)`` -> complex ``U``."""
        if not image.is_complex() or image.ndim != 3 or denoised.shape != image.shape or focus.shape != image.shape:
            raise InputError(f"LesionCorrection needs complex X and Z and a real focus map of one shape (batch, H, W), "
                             f"got {tuple(image.shape)}, {tuple(denoised.shape)}, {tuple(focus.shape)}")
        scale = robust_scale(image.abs().detach())[:, None, None]
        # U counts only where c > 0 (the lesion term weighs it by c), so the network runs on
        # the rectangle around the map's support, widened by its receptive radius (one pixel
        # per 3x3 convolution): inside the support its output is the full image's, and outside
        # the rectangle U = Z. Net_c's maps cover a few percent of the image.
        rows, cols = support_window(focus.detach(), margin=self.depth)
        crop = (slice(None), rows, cols)
        # stacked along the last axis, so the convolutions get channels-last input like the
        # denoisers' (about twice as fast on the CPU as a contiguous NCHW stack)
        channels = torch.cat([
            torch.view_as_real(image[crop] / scale),
            torch.view_as_real(denoised[crop] / scale),
            focus[crop].to(image.real.dtype)[..., None],
        ], dim=-1).permute(0, 3, 1, 2)
        correction = torch.view_as_complex(self.net(channels).permute(0, 2, 3, 1).contiguous()) * scale
        lesion = denoised.clone()
        lesion[crop] += correction
        return lesion


def support_window(focus: torch.Tensor, margin: int) -> tuple[slice, slice]:
    """Rows and columns of the smallest rectangle holding every pixel where any map of the batch
    ``focus`` ``(batch, H, W)`` is non-zero, widened by ``margin`` pixels on each side and clipped
    to the image; the whole image when the maps are zero everywhere (so that every parameter of a
    module still takes part, as distributed training requires)."""
    inside = focus != 0
    rows = torch.nonzero(inside.any(dim=(0, 2))).flatten()
    cols = torch.nonzero(inside.any(dim=(0, 1))).flatten()
    height, width = focus.shape[-2:]
    if rows.numel() == 0:
        return slice(0, height), slice(0, width)
    return (slice(max(0, int(rows[0]) - margin), min(height, int(rows[-1]) + 1 + margin)),
            slice(max(0, int(cols[0]) - margin), min(width, int(cols[-1]) + 1 + margin)))


Denoiser = Literal["cnn", "dilated-cnn", "unet"]
Focus = Literal["cam", "oracle"]
LesionModule = Literal["separate", "residual"]
LesionTerm = Literal["weight", "target"]


@dataclass(frozen=True)
class LFMRIConfig:
    """Architecture of an :class:`LFMRINet`.

    Attributes
    ----------
    num_stages
        Unrolled stages ``T``.
    denoiser
        Architecture of each ``D_w`` and ``G_u``: ``"cnn"`` (:class:`DenoiserCNN`, ``depth``
        full-resolution convolutions), ``"dilated-cnn"`` (the same with dilated convolutions,
        a receptive field of ``2**depth + 1`` instead of ``2 depth + 1`` pixels) or ``"unet"``
        (:class:`DenoiserUNet`, ``levels`` resolution levels).
    width
        Hidden channels (first-level channels of a U-Net) of each ``D_w`` and ``G_u``.
    depth
        Convolutions of a ``"cnn"`` or ``"dilated-cnn"`` denoiser.
    levels
        Resolution levels of a ``"unet"`` denoiser.
    cg_iterations
        CG steps of each data-consistency solve.
    lesion_focus
        False gives the ablation "unrolled without lesion focus" (no ``G_u``, no ``mu2`` term,
        no Net_c).
    focus
        What weighs the lesion module: ``"cam"`` (Net_c's class activation map of each stage's
        input, the method) or ``"oracle"`` (the smoothed annotated boxes,
        :func:`~lfmri_core.models.focus.box_focus_map`, passed to :meth:`LFMRINet.forward`; no
        Net_c): an experiment that measures the ceiling of the lesion mechanism, usable only
        where boxes are known.
    lesion_module
        How each stage's lesion estimate ``U_t`` is made: ``"separate"`` (the paper's design, a
        second network ``U_t = G_u^t(X_{t-1})`` of the denoiser's architecture) or
        ``"residual"`` (``U_t = Z_t + R_t(X_{t-1}, Z_t, c_t)``, :class:`LesionCorrection`,
        which starts at ``U_t = Z_t`` and sees the focus map as an input).
    lesion_term
        How ``U_t`` enters the data-consistency step: ``"weight"`` (the paper's term
        ``mu2_t ||c_t * (X - U_t)||^2``, which also adds prior weight ``mu2_t c_t^2`` inside the
        map) or ``"target"`` (residual module only: the denoiser's target inside the map moves
        towards ``U_t``, ``mu1_t ||X - (Z_t + mu2_t c_t (U_t - Z_t))||^2``, with no added weight,
        so a new module leaves the network exactly as the ablation whatever the map).
    lesion_width
        Hidden channels of a residual lesion module (None: ``width``); a narrower module costs
        less time per stage.
    cam_once
        Run Net_c once, on the first stage's output ``X_1``, and weigh stages ``2..T`` by that
        map (the first stage has no lesion term, so it is the ablation's first stage); the
        default runs Net_c on every stage's input. With the oracle focus the boxes' map weighs
        stages ``2..T`` the same way.
    relax_denoiser
        Weigh each stage's denoiser term by ``1 - c_t`` (``mu1 (1 - c_t) ||X - Z||^2``), so that
        inside a lesion data consistency and the lesion module decide, not the denoiser.
    detach_cam
        True stops gradients at the CAM; False (default) lets them flow through Net_c into the
        image (Net_c's weights stay frozen either way).
    mu1_init, mu2_init
        Initial positive values of the per-stage weights ``mu1``, ``mu2``.
    classifier
        Architecture of Net_c.
    """

    num_stages: int = 5
    width: int = 16
    depth: int = 5
    cg_iterations: int = 3
    denoiser: Denoiser = "cnn"
    levels: int = 3
    lesion_focus: bool = True
    focus: Focus = "cam"
    lesion_module: LesionModule = "separate"
    lesion_term: LesionTerm = "weight"
    lesion_width: int | None = None
    cam_once: bool = False
    relax_denoiser: bool = False
    detach_cam: bool = False
    mu1_init: float = 0.5
    mu2_init: float = 0.5
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)

    def __post_init__(self) -> None:
        for name, low in (("num_stages", 1), ("width", 1), ("depth", 2), ("cg_iterations", 0), ("levels", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InputError(f"LF-MRI {name} must be an integer >= {low}, got {value!r}")
        if self.denoiser not in ("cnn", "dilated-cnn", "unet"):
            raise InputError(f"LF-MRI denoiser must be 'cnn', 'dilated-cnn' or 'unet', got {self.denoiser!r}")
        if self.focus not in ("cam", "oracle"):
            raise InputError(f"LF-MRI focus must be 'cam' or 'oracle', got {self.focus!r}")
        if self.lesion_module not in ("separate", "residual"):
            raise InputError(f"LF-MRI lesion_module must be 'separate' or 'residual', got {self.lesion_module!r}")
        if self.lesion_term not in ("weight", "target"):
            raise InputError(f"LF-MRI lesion_term must be 'weight' or 'target', got {self.lesion_term!r}")
        if self.lesion_term == "target" and (self.lesion_module != "residual" or self.relax_denoiser):
            raise InputError("LF-MRI lesion_term 'target' needs lesion_module 'residual' and relax_denoiser off")
        if self.lesion_width is not None and (isinstance(self.lesion_width, bool) or not isinstance(self.lesion_width, int)
                                              or self.lesion_width < 1):
            raise InputError(f"LF-MRI lesion_width must be an integer >= 1 or null, got {self.lesion_width!r}")
        if self.lesion_width is not None and self.lesion_module != "residual":
            raise InputError("LF-MRI lesion_width applies to lesion_module 'residual' only")
        for name in ("lesion_focus", "detach_cam", "relax_denoiser", "cam_once"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"LF-MRI {name} must be true or false, got {getattr(self, name)!r}")
        if self.cam_once and (not self.lesion_focus or self.num_stages < 2):
            raise InputError("LF-MRI cam_once needs lesion_focus on and at least 2 stages")
        for name in ("mu1_init", "mu2_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InputError(f"LF-MRI {name} must be a positive number, got {value!r}")
        if not isinstance(self.classifier, ClassifierConfig):
            raise InputError(f"LF-MRI classifier must be a ClassifierConfig, got {type(self.classifier).__name__}")
        if not self.lesion_focus and (self.focus != "cam" or self.relax_denoiser or self.lesion_module != "separate"):
            raise InputError("LF-MRI focus 'oracle', relax_denoiser and lesion_module 'residual' need lesion_focus on")

    @property
    def uses_classifier(self) -> bool:
        """Whether the network runs Net_c (lesion focus steered by the CAM)."""
        return self.lesion_focus and self.focus == "cam"

    def to_json(self) -> str:
        """The configuration as a JSON object (with format name and version)."""
        return dump_config(self, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> LFMRIConfig:
        """Parse :meth:`to_json` output; anything else raises :class:`InputError` naming ``source``."""
        values = load_config_fields(cls, text, format_name=FORMAT_NAME, version=FORMAT_VERSION,
                                    what="LF-MRI", source=source)
        if "classifier" in values:
            classifier = values["classifier"]
            if not isinstance(classifier, dict):
                raise InputError(f"{source}: LF-MRI classifier config must be an object")
            classifier_fields = {f.name for f in fields(ClassifierConfig)}
            extra = sorted(set(classifier) - classifier_fields)
            if extra:
                raise InputError(f"{source}: unknown classifier config fields {', '.join(extra)}")
            values["classifier"] = ClassifierConfig(**classifier)
        return cls(**values)


@dataclass
class LFMRIOutput:
    """What :meth:`LFMRINet.forward` returns."""

    image: torch.Tensor
    """Reconstruction, complex64 ``(batch, H, W)``."""
    cam: torch.Tensor | None
    """The focus map of the last stage, real ``(batch, H, W)`` in ``[0, 1]``: Net_c's CAM
    (class 0), or the oracle map that was passed in; None without lesion focus."""
    mu1: torch.Tensor
    """Per-stage ``mu1``, ``(num_stages,)``, positive."""
    mu2: torch.Tensor | None
    """Per-stage ``mu2``, ``(num_stages,)``, positive; None without lesion focus."""


def build_denoiser(config: LFMRIConfig) -> nn.Module:
    """One ``D_w`` or ``G_u`` of the architecture ``config`` names."""
    if config.denoiser == "unet":
        return DenoiserUNet(config.width, config.levels)
    return DenoiserCNN(config.width, config.depth, dilated=config.denoiser == "dilated-cnn")


def build_lesion_module(config: LFMRIConfig) -> nn.Module:
    """One stage's lesion module: ``G_u`` (``"separate"``) or :class:`LesionCorrection` (``"residual"``)."""
    if config.lesion_module == "residual":
        return LesionCorrection(config.lesion_width or config.width, config.depth)
    return build_denoiser(config)


def _raw_for(value: float, count: int) -> torch.Tensor:
    """Raw parameters whose softplus is ``value``."""
    v = torch.full((count,), float(value))
    return v + torch.log(-torch.expm1(-v))


class LFMRINet(nn.Module):
    """LF-MRI unrolled network: ``T`` stages of denoising, lesion focus and data consistency.

    Starting from ``X_0 = A^H Y`` (sensitivity-weighted zero-filled image), stage ``t`` computes

    - ``Z_t = D_w^t(X_{t-1})``  (denoising module);
    - ``c_t = Net_c(|X_{t-1}|).cam[:, 0]``  (CAM of the frozen classifier, in ``[0, 1]``);
    - ``U_t = G_u^t(X_{t-1})``  (lesion-focused module; with ``config.lesion_module ==
      "residual"`` ``U_t = Z_t + R_t(X_{t-1}, Z_t, c_t)``, :class:`LesionCorrection`);
    - ``X_t = argmin_X 1/2 ||A X - Y||^2 + mu1_t ||X - Z_t||^2 + mu2_t ||c_t * (X - U_t)||^2``,
      i.e. ``(A^H A + 2 mu1_t I + 2 mu2_t diag(c_t^2)) X_t = A^H Y + 2 mu1_t Z_t + 2 mu2_t c_t^2 U_t``,
      solved by ``cg_iterations`` CG steps warm-started at ``X_{t-1}``;

    with ``mu1_t = softplus(a_t) > 0`` and ``mu2_t = softplus(b_t) > 0`` learnable. Without lesion
    focus the ``c_t``, ``U_t`` and ``mu2_t`` terms are absent. With ``config.focus == "oracle"``
    ``c_t`` is the focus map given to :meth:`forward` (every stage) and there is no Net_c; with
    ``config.relax_denoiser`` the denoiser term is weighted ``mu1_t (1 - c_t)``; with
    ``config.lesion_term == "target"`` the lesion term is replaced by moving the denoiser's
    target, ``(A^H A + 2 mu1_t I) X_t = A^H Y + 2 mu1_t (Z_t + mu2_t c_t (U_t - Z_t))``; with
    ``config.cam_once`` stage 1 has no lesion term and ``c_t = c_2 = Net_c(|X_1|)`` for ``t >= 2``.

    Parameters
    ----------
    config
        Architecture; kept as :attr:`config`.
    classifier
        A trained Net_c (phase 1) to use; default a fresh one built from ``config.classifier``.
        Its weights are frozen (``requires_grad`` False) and it is kept in eval mode. Not
        allowed with the oracle focus.
    """

    def __init__(self, config: LFMRIConfig | None = None, classifier: LesionClassifier | None = None) -> None:
        super().__init__()
        config = LFMRIConfig() if config is None else config
        if not isinstance(config, LFMRIConfig):
            raise InputError(f"LFMRINet needs an LFMRIConfig, got {type(config).__name__}")
        self.config = config
        t = config.num_stages
        self.denoisers = nn.ModuleList(build_denoiser(config) for _ in range(t))
        self.raw_mu1 = nn.Parameter(_raw_for(config.mu1_init, t))
        self.lesion_nets: nn.ModuleList | None
        self.classifier: LesionClassifier | None
        if config.lesion_focus:
            # with cam_once the first stage has no lesion term, so no lesion module
            self.lesion_nets = nn.ModuleList(build_lesion_module(config) for _ in range(t - config.cam_once))
            self.raw_mu2 = nn.Parameter(_raw_for(config.mu2_init, t))
        if config.lesion_focus and not config.uses_classifier:
            if classifier is not None:
                raise InputError("LFMRINet got a classifier but its focus is the oracle box map")
            self.classifier = None
        elif config.lesion_focus:
            net_c = build_classifier(config.classifier) if classifier is None else classifier
            if not isinstance(net_c, LesionClassifier):
                raise InputError(f"LFMRINet classifier must be a LesionClassifier, got {type(net_c).__name__}")
            net_c.requires_grad_(False)
            self.classifier = net_c.eval()
        else:
            if classifier is not None:
                raise InputError("LFMRINet got a classifier but lesion_focus is off")
            self.lesion_nets = None
            self.register_parameter("raw_mu2", None)
            self.classifier = None

    def train(self, mode: bool = True) -> LFMRINet:
        """As ``nn.Module.train``, but Net_c (trained in phase 1) always stays in eval mode."""
        super().train(mode)
        if self.classifier is not None:
            self.classifier.eval()
        return self

    @property
    def mu1(self) -> torch.Tensor:
        """Per-stage ``mu1``, ``(num_stages,)``."""
        return F.softplus(self.raw_mu1)

    @property
    def mu2(self) -> torch.Tensor | None:
        """Per-stage ``mu2``, ``(num_stages,)``, or None without lesion focus."""
        return None if self.raw_mu2 is None else F.softplus(self.raw_mu2)

    def lesion_map(self, image: torch.Tensor) -> torch.Tensor:
        """Class-0 CAM of Net_c on ``|image|``: complex ``(batch, H, W)`` -> real ``(batch, H, W)``."""
        if self.classifier is None:
            raise InputError("lesion_map needs a network whose lesion focus is Net_c's CAM (lesion focus on, focus 'cam')")
        magnitude = image.abs().unsqueeze(1)
        if self.config.detach_cam:
            magnitude = magnitude.detach()
        return self.classifier(magnitude).cam[:, 0]

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor | None,
        sensitivities: torch.Tensor,
        progress: Progress | None = None,
        focus: torch.Tensor | None = None,
        stages: int | None = None,
    ) -> LFMRIOutput:
        """Reconstruct from undersampled multi-coil k-space.

        Parameters
        ----------
        kspace
            Masked coil k-space ``Y``, complex ``(batch, coils, H, W)``.
        mask
            Boolean sampling mask broadcastable to ``(batch, coils, H, W)`` (e.g. ``(1, W)``), or
            None for full sampling.
        sensitivities
            Coil maps ``S``, complex ``(batch, coils, H, W)``.
        progress
            Optional ``progress(stage, total)`` after each stage.
        focus
            Oracle focus only (and required there): the lesion map of each item, real
            ``(batch, H, W)`` in ``[0, 1]`` (:func:`~lfmri_core.models.focus.box_focus_maps`).
        stages
            Run only the first ``stages`` stages (0: ``X_0 = A^H Y``); None: all. The
            intermediate estimates, for training a classifier on what Net_c sees inside.
        """
        check_model_inputs(kspace, mask, sensitivities)
        oracle = self.config.lesion_focus and self.config.focus == "oracle"
        if oracle:
            check_focus_map(focus, kspace)
        elif focus is not None:
            raise InputError("a focus map is only taken by an oracle-focus LF-MRI network (focus 'oracle')")
        operator = SenseOperator(sensitivities, mask)
        adjoint_data = operator.adjoint(kspace)
        x = adjoint_data
        gram_x: torch.Tensor | None = None
        mu1 = self.mu1
        mu2 = self.mu2
        cam: torch.Tensor | None = None
        total = self.config.num_stages
        if stages is not None:
            if isinstance(stages, bool) or not isinstance(stages, int) or not 0 <= stages <= total:
                raise InputError(f"stages must be an integer from 0 to {total}, got {stages!r}")
            total = stages
        once = self.config.cam_once
        mapped = True  # whether the focus map is non-zero anywhere in the batch
        for t in range(total):
            z = self.denoisers[t](x)
            lesion: dict[str, Any] = {}
            if self.lesion_nets is not None and mu2 is not None and not (once and t == 0):
                if cam is None or not once:
                    cam = focus.to(x.real.dtype) if oracle else self.lesion_map(x)  # type: ignore[union-attr]
                    mapped = bool(cam.any())
                # A map that is zero everywhere multiplies U by zero in either lesion term, so
                # outside training the lesion module is skipped: the same result, and a slice where
                # Net_c sees no lesion costs the ablation plus Net_c. Training still runs it (on the
                # whole image), so that every parameter takes part, as distributed training requires.
                if mapped or self.training:
                    lesion_net = self.lesion_nets[t - once]
                    u = lesion_net(x, z, cam) if self.config.lesion_module == "residual" else lesion_net(x)
                    if self.config.lesion_term == "target":
                        # the denoiser's target moves towards U inside the map; no weight is added
                        z = z + (mu2[t] * cam) * (u - z)
                    else:
                        lesion = {"lesion_target": u, "cam": cam, "mu2": mu2[t],
                                  "relax_denoiser": self.config.relax_denoiser}
            # A^H A X_t comes out of each stage's CG residual and starts the next stage's CG
            x, gram_x = solve_data_consistency(operator, adjoint_data, x, z, mu1[t], iterations=self.config.cg_iterations,
                                               gram_x0=gram_x, return_gram=True, **lesion)
            if progress is not None:
                progress(t + 1, total)
        return LFMRIOutput(image=x, cam=cam, mu1=mu1, mu2=mu2)


def check_focus_map(focus: torch.Tensor | None, kspace: torch.Tensor) -> None:
    """One-line :class:`InputError` unless ``focus`` is an oracle focus map for ``kspace``."""
    if focus is None:
        raise InputError("the oracle-focus LF-MRI network needs the lesion boxes' focus map (focus=...); "
                         "it can only run on annotated data")
    if not isinstance(focus, torch.Tensor) or focus.is_complex() or not focus.is_floating_point():
        raise InputError(f"focus map must be a real floating tensor, got {getattr(focus, 'dtype', type(focus).__name__)}")
    expected = (kspace.shape[0], *kspace.shape[-2:])
    if tuple(focus.shape) != expected:
        raise InputError(f"focus map of shape {tuple(focus.shape)} does not fit k-space {tuple(kspace.shape)} "
                         f"(expected {expected})")


def check_model_inputs(kspace: torch.Tensor, mask: torch.Tensor | None, sensitivities: torch.Tensor) -> None:
    """One-line :class:`InputError` unless k-space, mask and maps fit a learned model's forward."""
    for name, value in (("k-space", kspace), ("coil sensitivities", sensitivities)):
        if not isinstance(value, torch.Tensor):
            raise InputError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if not value.is_complex():
            raise InputError(f"{name} must be complex, got {value.dtype}")
        if value.ndim != 4:
            raise InputError(f"{name} must have shape (batch, coils, H, W), got {tuple(value.shape)}")
    if kspace.shape != sensitivities.shape:
        raise InputError(
            f"k-space of shape {tuple(kspace.shape)} does not match coil sensitivities of shape "
            f"{tuple(sensitivities.shape)}"
        )
    if mask is not None:
        if not isinstance(mask, torch.Tensor):
            raise InputError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise InputError(f"mask must be boolean, got {mask.dtype}")
        try:
            torch.broadcast_shapes(mask.shape, kspace.shape)
        except RuntimeError:
            raise InputError(f"mask of shape {tuple(mask.shape)} does not fit k-space of shape {tuple(kspace.shape)}") from None


def _describe(c: LFMRIConfig) -> str:
    focus = (f"lesion focus on ({'oracle boxes' if c.focus == 'oracle' else 'CAM'}"
             f"{', residual lesion module' if c.lesion_module == 'residual' else ''}"
             f"{' moving the denoiser target' if c.lesion_term == 'target' else ''}"
             f"{', focus map computed once' if c.cam_once else ''}"
             f"{', denoiser relaxed in lesions' if c.relax_denoiser else ''})") if c.lesion_focus else "lesion focus off"
    return f"unrolled network with {c.num_stages} stages, {c.denoiser} denoisers of width {c.width}, {focus}"


def _min_tensors(c: LFMRIConfig) -> int:
    # every stage's D_w (and G_u) has `depth` convolutions (CNN) or two per level (U-Net), each
    # a weight and a bias
    per_denoiser = 2 * (2 * c.levels if c.denoiser == "unet" else c.depth)
    per_lesion_module = (2 * c.depth if c.lesion_module == "residual" else per_denoiser) if c.lesion_focus else 0
    return per_denoiser * c.num_stages + per_lesion_module * (c.num_stages - c.cam_once)


register_model_kind(ModelKind("lfmri", LFMRINet, LFMRIConfig, LFMRINet, _describe, _min_tensors))
