"""A temporal term beyond the paper: the generated change between consecutive frames against the true one."""

from __future__ import annotations

from torch import Tensor

from .charbonnier import charbonnier


def temporal_difference_loss(sr: Tensor, sr_next: Tensor, hr: Tensor, hr_next: Tensor, eps: float = 1e-3) -> Tensor:
    """γ of Eq. 6 (mean) between G's change from frame t to t+1 and the ground truth's:
    mean sqrt(((G(Y_{t+1}) − G(Y_t)) − (x_{t+1} − x_t))² + ε²).

    Each output of a sliding-window generator is made on its own, so texture that the GAN term
    draws can differ from one frame to the next where the scene does not (flicker, which tLP
    measures). This term costs nothing where the output changes as the scene does, moving or
    still, whatever error both frames share; it grows where detail appears, moves or vanishes
    between the two outputs and not in the ground truth.
    """
    return charbonnier(hr_next - hr, sr_next - sr, None, eps, "mean")
