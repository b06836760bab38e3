"""Charbonnier loss γ (Eq. 6) and its spatially weighted form γ_w (Eq. 7)."""

from __future__ import annotations

from torch import Tensor


def charbonnier(
    u: Tensor,
    v: Tensor,
    weight: Tensor | float | None = None,
    eps: float = 1e-3,
    reduction: str = "mean",
) -> Tensor:
    """Weighted Charbonnier distance Σ w·sqrt((u − v)² + ε²) of Eq. 7 (Eq. 6 when weight is None).

    Args:
        u, v: tensors of the same shape.
        weight: per-element weights w_kij, broadcastable to ``u``, or a scalar; None means 1.
        eps: ε of Eq. 6.
        reduction: "sum" is Eq. 6/7 literally; "mean" divides that sum by the number of elements
            of ``u`` so that the value does not depend on batch or patch size.
    """
    if u.shape != v.shape:
        raise ValueError(f"shape mismatch: {tuple(u.shape)} vs {tuple(v.shape)}")
    diff = u - v
    loss = (diff * diff + eps * eps).sqrt()
    if weight is not None:
        loss = loss * weight
        if loss.shape != u.shape:
            raise ValueError(f"weight of shape {tuple(getattr(weight, 'shape', ()))} "
                             f"does not broadcast to {tuple(u.shape)}")
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / u.numel()
    raise ValueError(f"unknown reduction {reduction!r}; expected 'mean' or 'sum'")
