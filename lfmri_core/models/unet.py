"""A small general 2-D U-Net on real channels (or complex images as two channels).

The building block of the image-domain baseline (:class:`~lfmri_core.models.unet_recon.UNetRecon`)
and of LF-MRI's multi-scale denoiser (:class:`~lfmri_core.models.unrolled.DenoiserUNet`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lfmri_core.errors import InputError
from lfmri_core.models.scaling import robust_scale


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.InstanceNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.InstanceNorm2d(c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class UNet(nn.Module):
    """Small 2-D U-Net (for the image-domain baseline: zero-filled image in, reconstruction out).

    Works on real ``(batch, in_channels, H, W)`` tensors of any size (padded internally to a
    multiple of ``2**(levels - 1)`` and cropped back). Use ``in_channels = out_channels = 1`` on
    the zero-filled magnitude or 2 on the complex image as real/imaginary channels;
    :meth:`forward_complex` does the latter for complex ``(batch, H, W)``. Each image is divided
    by its 99th-percentile magnitude before the network and multiplied back after.

    Parameters
    ----------
    in_channels, out_channels
        Channels of input and output.
    width
        Channels of the first level; level ``l`` has ``width * 2**l``.
    levels
        Resolution levels (>= 1), including the bottom one.
    """

    def __init__(self, in_channels: int = 2, out_channels: int = 2, width: int = 16, levels: int = 3) -> None:
        super().__init__()
        if min(in_channels, out_channels, width, levels) < 1:
            raise InputError(
                f"UNet needs positive channels, width and levels, got {in_channels}, {out_channels}, {width}, {levels}"
            )
        self.in_channels = in_channels
        self.levels = levels
        chans = [width * 2**level for level in range(levels)]
        self.down = nn.ModuleList()
        c_prev = in_channels
        for c in chans:
            self.down.append(_double_conv(c_prev, c))
            c_prev = c
        self.up_transpose = nn.ModuleList()
        self.up = nn.ModuleList()
        for c in reversed(chans[:-1]):
            self.up_transpose.append(nn.ConvTranspose2d(c_prev, c, 2, stride=2))
            self.up.append(_double_conv(2 * c, c))
            c_prev = c
        self.head = nn.Conv2d(c_prev, out_channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Real ``(batch, in_channels, H, W)`` -> real ``(batch, out_channels, H, W)``."""
        if image.is_complex() or image.ndim != 4 or image.shape[1] != self.in_channels:
            raise InputError(
                f"UNet input must be real (batch, {self.in_channels}, H, W), got {image.dtype} {tuple(image.shape)}"
            )
        scale = robust_scale(image.abs().detach())[:, None, None, None]
        height, width = image.shape[-2:]
        multiple = 2 ** (self.levels - 1)
        pad_h, pad_w = -height % multiple, -width % multiple
        x = F.pad(image / scale, (0, pad_w, 0, pad_h))
        skips = []
        for level, block in enumerate(self.down):
            if level:
                x = F.avg_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for transpose, block in zip(self.up_transpose, self.up):
            x = block(torch.cat([transpose(x), skips.pop()], dim=1))
        return self.head(x)[..., :height, :width] * scale

    def forward_complex(self, image: torch.Tensor) -> torch.Tensor:
        """Complex ``(batch, H, W)`` -> complex ``(batch, H, W)`` through 2 real channels."""
        if not image.is_complex() or image.ndim != 3:
            raise InputError(f"UNet.forward_complex needs complex (batch, H, W), got {image.dtype} {tuple(image.shape)}")
        out = self.forward(torch.view_as_real(image).permute(0, 3, 1, 2))
        return torch.view_as_complex(out.permute(0, 2, 3, 1).contiguous())
