"""Image quality metrics: PSNR and SSIM (BasicSR convention) and LPIPS v0.1.

A small, pyiqa-like API::

    from savsr.metrics import LPIPS, psnr, ssim

    psnr(sr, hr, crop_border=4)          # Y channel, 0-255 scale
    ssim(sr, hr, crop_border=4)
    LPIPS("alex")(sr, hr)                 # (N,) distances for [0, 1] RGB batches
    periodic_error(sr, hr, crop_border=4) # {2: ratio, 4: ratio}: a grid at the 2/4-pixel periods
"""

from .lpips import LPIPS
from .periodic import periodic_error
from .psnr_ssim import psnr, ssim

__all__ = ["LPIPS", "periodic_error", "psnr", "ssim"]
