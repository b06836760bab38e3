"""Scene cuts (data/scenecut.py): found at the first frame of each new shot, in the order the
frames come, and not within a shot that pans or brightens."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DATA, require
from savsr.data.resize import imresize
from savsr.data.scenecut import SceneCuts
from savsr.media import FrameSource


def _shot(seed: int, frames: int, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """A smooth random picture panning one pixel a frame and brightening a little."""
    h, w = size
    rng = np.random.default_rng(seed)
    import torch

    big = imresize(torch.from_numpy(rng.integers(0, 256, (3, h // 8 + 4, (w + frames) // 8 + 4), dtype=np.uint8)), 8)
    big = big.permute(1, 2, 0).numpy()
    return [np.clip(big[:h, t:t + w].astype(int) + t, 0, 255).astype(np.uint8) for t in range(frames)]


def test_cuts_are_found_at_the_first_frame_of_each_shot() -> None:
    clip = _shot(0, 12) + _shot(1, 10) + _shot(2, 9)
    cuts = SceneCuts()
    assert [i for i, frame in enumerate(clip) if cuts(frame)] == [12, 22]


def test_a_real_shot_has_no_cut_and_a_join_of_two_has_one() -> None:
    def lr(name: str, n: int) -> list[np.ndarray]:
        frames = [f for _, f in zip(range(n), FrameSource(require(DATA / "videos" / name)))]
        return [f[::4, ::4][:64, :112].copy() for f in frames]  # an LR frame, one size for both videos

    clip = lr("sam2_bedroom.mp4", 30) + lr("sam2gallery_01_dog.mp4", 20)
    cuts = SceneCuts()
    assert [i for i, frame in enumerate(clip) if cuts(frame)] == [30]


def test_frames_must_be_rgb_uint8() -> None:
    with pytest.raises(ValueError, match="expected an"):
        SceneCuts()(np.zeros((8, 8), np.uint8))
