"""A long video streams through `savsr upscale` with flat memory (figures: docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from robust_helpers import upscale_peak_rss


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_length_of_the_video(tmp_path: Path) -> None:
    short, n_short = upscale_peak_rss(tmp_path, 300)
    long, n_long = upscale_peak_rss(tmp_path, 3000)
    assert (n_short, n_long) == (300, 3000)
    # Holding every frame would add 3000 × (32×24 LR + 64×48 SR) × 3 bytes ≈ 35 MB, and every
    # float tensor four times that.
    assert long - short < 10, (short, long)
