"""The image-domain U-Net baseline as a reconstruction model.

``X = X_0 + UNet(X_0)`` with ``X_0 = A^H Y`` the sensitivity-weighted zero-filled image: the
network sees the aliased image only and never the k-space again (no data consistency), which
is what separates it from the unrolled networks. It takes the same inputs and returns the same
:class:`~lfmri_core.models.unrolled.LFMRIOutput` as :class:`~lfmri_core.models.LFMRINet`, so
training, inference and evaluation treat all learned models alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models.config_json import dump_config, load_config_fields
from lfmri_core.models.unet import UNet
from lfmri_core.models.unrolled import LFMRIOutput, check_model_inputs
from lfmri_core.progress import Progress
from lfmri_core.models.weights import ModelKind, register_model_kind
from lfmri_core.physics.sense import SenseOperator

FORMAT_NAME = "lfmri-unet"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNetRecon`.

    Attributes
    ----------
    width
        Channels of the first level (level ``l`` has ``width * 2**l``).
    levels
        Resolution levels, the bottom one included.
    """

    width: int = 32
    levels: int = 4

    def __post_init__(self) -> None:
        for name in ("width", "levels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"U-Net {name} must be a positive integer, got {value!r}")

    def to_json(self) -> str:
        """The configuration as a JSON object (with format name and version)."""
        return dump_config(self, FORMAT_NAME, FORMAT_VERSION)

    @classmethod
    def from_json(cls, text: str, *, source: str = "config") -> UNetConfig:
        """Parse :meth:`to_json` output; anything else raises :class:`InputError` naming ``source``."""
        return cls(**load_config_fields(cls, text, format_name=FORMAT_NAME, version=FORMAT_VERSION,
                                        what="U-Net", source=source))


class UNetRecon(nn.Module):
    """Residual image-domain U-Net on the zero-filled SENSE image.

    Parameters
    ----------
    config
        Architecture; kept as :attr:`config`.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        config = UNetConfig() if config is None else config
        if not isinstance(config, UNetConfig):
            raise InputError(f"UNetRecon needs a UNetConfig, got {type(config).__name__}")
        self.config = config
        self.unet = UNet(in_channels=2, out_channels=2, width=config.width, levels=config.levels)

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor | None,
        sensitivities: torch.Tensor,
        progress: Progress | None = None,
    ) -> LFMRIOutput:
        """Same inputs as :meth:`LFMRINet.forward`; ``cam``, ``mu2`` are None, ``mu1`` empty."""
        check_model_inputs(kspace, mask, sensitivities)
        zero_filled = SenseOperator(sensitivities, mask).adjoint(kspace)
        image = zero_filled + self.unet.forward_complex(zero_filled)
        if progress is not None:
            progress(1, 1)
        return LFMRIOutput(image=image, cam=None, mu1=torch.empty(0, device=image.device), mu2=None)


register_model_kind(ModelKind(
    "unet", UNetRecon, UNetConfig, UNetRecon,
    lambda c: f"U-Net width {c.width}, {c.levels} levels",
    lambda c: 4 * c.levels,  # two convolutions (weight and bias) per level
))
