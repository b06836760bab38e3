"""Image quality metrics: PSNR and SSIM (BasicSR convention) and LPIPS v0.1.

A small, pyiqa-like API::

    from savsr.metrics import LPIPS, psnr, ssim

    psnr(sr, hr, crop_border=4)          # Y channel, 0-255 scale
    ssim(sr, hr, crop_border=4)
    LPIPS("alex")(sr, hr)                 # (N,) distances for [0, 1] RGB batches
"""

from .lpips import LPIPS
from .psnr_ssim import psnr, ssim

__all__ = ["LPIPS", "psnr", "ssim"]
