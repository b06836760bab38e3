"""The 8 symmetries of the square (flips and transposes of the last two axes).

Training augments patches with them; inference can average a network's outputs over them
(self-ensemble, :class:`savsr.infer.Upscaler`). ``code`` in 0..7 picks one: bit 0 flips the
columns, bit 1 the rows, bit 2 transposes, applied in that order.
"""

from __future__ import annotations

from torch import Tensor

CODES = tuple(range(8))


def dihedral(x: Tensor, code: int) -> Tensor:
    """``x`` (…, H, W) under symmetry ``code``; codes 4..7 give (…, W, H)."""
    if code & 1:
        x = x.flip(-1)
    if code & 2:
        x = x.flip(-2)
    if code & 4:
        x = x.transpose(-1, -2)
    return x


def dihedral_inverse(x: Tensor, code: int) -> Tensor:
    """Undo :func:`dihedral`: ``dihedral_inverse(dihedral(x, c), c) == x``."""
    if code & 4:
        x = x.transpose(-1, -2)
    if code & 2:
        x = x.flip(-2)
    if code & 1:
        x = x.flip(-1)
    return x
