"""Zero-filled reconstruction: inverse FFT of the undersampled k-space, coils combined by RSS."""

from __future__ import annotations

import torch

from lfmri_core.physics import ifft2c, rss
from lfmri_core.physics.sense import apply_mask
from lfmri_core.recon.registry import CancelCallback, ProgressCallback, register_method


class ZeroFilled:
    """``rss(F^H M y)``: the baseline every accelerated reconstruction is compared with."""

    def __call__(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        *,
        sensitivities: torch.Tensor | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
    ) -> torch.Tensor:
        image = rss(ifft2c(apply_mask(kspace, mask)))
        if progress is not None:
            progress(1, 1)
        return image


@register_method("zero-filled", "inverse FFT of the undersampled k-space, coils combined by RSS")
def _zero_filled() -> ZeroFilled:
    return ZeroFilled()
