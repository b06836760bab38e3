"""`savsr prepare` and the patch dataset, on tiny fixtures made here."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, DistributedSampler

from savsr.cli import main
from savsr.data.color import rgb_to_y
from savsr.data.dataset import VideoPatchDataset
from savsr.data.dihedral import dihedral
from savsr.data.prepare import load_manifest, prepare_dataset
from savsr.data.resize import bi_degrade
from savsr.data.window import split_pair
from savsr.errors import SavsrError


def _frames(n: int, h: int, w: int, seed: int) -> list[np.ndarray]:
    """Smooth moving texture, so that the scene detector sees no cut inside."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rng = np.random.default_rng(seed)
    fx, fy, phase = rng.uniform(0.05, 0.2, 3)
    out = []
    for t in range(n):
        base = 0.5 + 0.25 * np.sin(fx * xx + fy * yy + phase + 0.1 * t)
        rgb = np.stack([base, base ** 1.5, 1 - base], axis=2)
        out.append((rgb * 255).round().astype(np.uint8))
    return out


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)  # lossless, so decoded frames are known exactly
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "bgr0"
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    # A video with a hard cut after frame 6: two scenes of 6 and 5 frames.
    a, b = _frames(6, 48, 64, 1), _frames(5, 48, 64, 2)
    b = [(f * 0.3).astype(np.uint8) for f in b]  # a darker shot: a clear cut
    _write_video(root / "clip.mkv", a + b)
    folder = root / "folder"
    folder.mkdir()
    for i, f in enumerate(_frames(7, 40, 44, 3)):
        Image.fromarray(f).save(folder / f"{i:03d}.png")
    short = root / "short"
    short.mkdir()
    for i, f in enumerate(_frames(3, 40, 40, 4)):
        Image.fromarray(f).save(short / f"{i}.png")
    small = root / "small"
    small.mkdir()
    for i, f in enumerate(_frames(6, 20, 30, 5)):
        Image.fromarray(f).save(small / f"{i}.png")
    return {"video": root / "clip.mkv", "folder": folder, "short": short, "small": small, "a": a, "b": b}


@pytest.fixture(scope="module")
def dataset_dir(sources: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "data"
    prepare_dataset([sources["video"], sources["folder"], sources["short"], sources["small"]], out, progress=False)
    return out


def test_prepare_splits_scenes_and_stores_exact_frames(dataset_dir: Path, sources: dict) -> None:
    scenes = {s.name: s for s in load_manifest(dataset_dir)}
    assert sorted(scenes) == ["clip_000", "clip_001", "folder_000", "short_000", "small_000"]
    assert (scenes["clip_000"].frames, scenes["clip_001"].frames, scenes["clip_001"].first_frame) == (6, 5, 6)
    stored = np.load(dataset_dir / scenes["clip_001"].file)
    assert stored.shape == (5, 48, 64, 3) and np.array_equal(stored, np.stack(sources["b"]))
    assert not list(dataset_dir.parent.glob(".*part*"))  # no staging left behind


def test_prepare_refuses_overwrite_and_bad_sources(dataset_dir: Path, sources: dict, tmp_path: Path) -> None:
    stamp = (dataset_dir / "manifest.json").read_text()
    with pytest.raises(SavsrError, match="pass overwrite=True"):
        prepare_dataset([sources["folder"]], dataset_dir, progress=False)
    assert (dataset_dir / "manifest.json").read_text() == stamp
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 100)
    out = tmp_path / "new"
    assert main(["prepare", str(sources["folder"]), str(bad), "-o", str(out)]) == 2
    assert not out.exists() and not list(tmp_path.glob(".new*"))


def test_prepare_downscale(sources: dict, tmp_path: Path) -> None:
    scenes = prepare_dataset([sources["folder"]], tmp_path / "d2", downscale=2, progress=False)
    assert (scenes[0].height, scenes[0].width) == (20, 22)


def test_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(SavsrError, match="not a savsr dataset"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(SavsrError, match="corrupt"):
        load_manifest(tmp_path)


def test_short_and_small_scenes_are_refused_by_name(dataset_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = VideoPatchDataset(dataset_dir, scale=2, patch_size=24)
    assert sorted(e.name for _, e in ds.scenes) == ["clip_000", "clip_001", "folder_000"]
    assert "short_000 (3 frames < 5)" in caplog.text and "small_000" in caplog.text
    with pytest.raises(SavsrError, match="no usable scene"):
        VideoPatchDataset(dataset_dir, scale=2, patch_size=64)


@pytest.mark.parametrize("cache_lr", [False, True])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_samples_equal_the_degraded_whole_frame(dataset_dir: Path, scale: int, cache_lr: bool) -> None:
    ds = VideoPatchDataset(dataset_dir, scale=scale, patch_size=16, color="rgb", augment=False, samples_per_epoch=40,
                           cache_lr=cache_lr)
    for i in range(40):
        k, t, top, left, _ = ds.locate(i)
        root, entry = ds.scenes[k]
        frames = torch.from_numpy(np.load(root / entry.file)[t - 2 : t + 3]).permute(0, 3, 1, 2)
        hr, _, up = bi_degrade(frames, scale)
        lr_patch, hr_patch = ds[i]
        want_lr = up[:, :, top : top + 16, left : left + 16].float().reshape(-1, 16, 16) / 255
        assert torch.equal(lr_patch, want_lr)
        assert torch.equal(hr_patch, hr[2, :, top : top + 16, left : left + 16].float() / 255)


@pytest.mark.parametrize("cache_lr", [False, True])
def test_pair_samples_are_frames_t_and_t_plus_1(dataset_dir: Path, cache_lr: bool) -> None:
    ds = VideoPatchDataset(dataset_dir, scale=2, patch_size=16, color="rgb", augment=False, samples_per_epoch=30,
                           cache_lr=cache_lr, pairs=True)
    assert min(e.frames for _, e in ds.scenes) >= 6  # a 5-frame scene has no pair of windows
    for i in range(30):
        k, t, top, left, _ = ds.locate(i)
        root, entry = ds.scenes[k]
        assert 2 <= t <= entry.frames - 4  # both windows inside the scene, no replicated edge
        frames = torch.from_numpy(np.load(root / entry.file)[t - 2 : t + 4]).permute(0, 3, 1, 2)
        hr, _, up = bi_degrade(frames, 2)
        up = up[:, :, top : top + 16, left : left + 16].float() / 255
        hr = hr[:, :, top : top + 16, left : left + 16].float() / 255
        lr_patch, hr_patch = ds[i]
        assert lr_patch.shape == (18, 16, 16) and hr_patch.shape == (6, 16, 16)
        lr_t, lr_next, hr_t, hr_next = split_pair(lr_patch[None], hr_patch[None], 5)
        assert torch.equal(lr_t[0], up[0:5].reshape(-1, 16, 16)) and torch.equal(lr_next[0], up[1:6].reshape(-1, 16, 16))
        assert torch.equal(hr_t[0], hr[2]) and torch.equal(hr_next[0], hr[3])
    with pytest.raises(ValueError, match="lr has 15 channels, not the 18 of a pair"):
        split_pair(lr_patch[None, :15], hr_patch[None], 5)


@pytest.mark.parametrize("cache_lr", [False, True])
def test_clip_samples_hold_t_frames_and_their_windows(dataset_dir: Path, cache_lr: bool) -> None:
    """pairs = T-1: a clip of T frames for a recurrent network, the 2M+T LR frames (each frame's
    window is frames i … i+2M) and the T HR frames, at one position, against BI done here."""
    clip = 3
    ds = VideoPatchDataset(dataset_dir, scale=2, patch_size=16, color="rgb", augment=False, samples_per_epoch=20,
                           cache_lr=cache_lr, pairs=clip - 1, lr_space=True)
    for i in range(20):
        k, t, top, left, _ = ds.locate(i)
        root, entry = ds.scenes[k]
        assert 2 <= t <= entry.frames - 2 - clip
        frames = torch.from_numpy(np.load(root / entry.file)[t - 2 : t + 2 + clip]).permute(0, 3, 1, 2)
        hr, lr, _ = bi_degrade(frames, 2)
        lr_patch, hr_patch = ds[i]
        assert lr_patch.shape == (3 * (4 + clip), 8, 8) and hr_patch.shape == (3 * clip, 16, 16)
        lr = lr[:, :, top // 2 : top // 2 + 8, left // 2 : left // 2 + 8]
        assert torch.equal(lr_patch, lr.reshape(-1, 8, 8) / 255)
        assert torch.equal(hr_patch, hr[2 : 2 + clip, :, top : top + 16, left : left + 16].reshape(-1, 16, 16) / 255)


def test_y_samples_and_augmentation(dataset_dir: Path) -> None:
    rgb = VideoPatchDataset(dataset_dir, 2, 16, color="rgb", augment=True, samples_per_epoch=20)
    y = VideoPatchDataset(dataset_dir, 2, 16, color="y", augment=True, samples_per_epoch=20)
    for i in range(20):
        (lr_rgb, hr_rgb), (lr_y, hr_y) = rgb[i], y[i]
        assert lr_y.shape == (5, 16, 16) and hr_y.shape == (1, 16, 16)
        torch.testing.assert_close(hr_y, rgb_to_y(hr_rgb[None])[0])
        torch.testing.assert_close(lr_y, rgb_to_y(lr_rgb.reshape(5, 3, 16, 16))[:, 0])
    x = torch.arange(9.0).view(1, 3, 3)
    variants = {tuple(dihedral(x, c).flatten().tolist()) for c in range(8)}
    assert len(variants) == 8  # the 8 symmetries of the square, all distinct


def test_deterministic_and_epoch_dependent(dataset_dir: Path) -> None:
    a = VideoPatchDataset(dataset_dir, 2, 16, seed=7, samples_per_epoch=10)
    b = VideoPatchDataset(dataset_dir, 2, 16, seed=7, samples_per_epoch=10)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(10))
    first = [a.locate(i) for i in range(10)]
    a.set_epoch(1)
    assert [a.locate(i) for i in range(10)] != first
    c = VideoPatchDataset(dataset_dir, 2, 16, seed=8, samples_per_epoch=10)
    assert [c.locate(i) for i in range(10)] != first


def test_dataloader_workers_and_distributed_sampler(dataset_dir: Path) -> None:
    ds = VideoPatchDataset(dataset_dir, 2, 16, samples_per_epoch=12)
    direct = torch.stack([ds[i][1] for i in range(12)])
    loaded = torch.cat([hr for _, hr in DataLoader(ds, batch_size=4, num_workers=2)])
    assert torch.equal(loaded, direct)
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(ds, num_replicas=2, rank=rank, shuffle=True, seed=3)
        idx = list(sampler)
        seen += idx
        batch = next(iter(DataLoader(ds, batch_size=6, sampler=sampler)))[1]
        assert torch.equal(batch, direct[idx])
    assert sorted(seen) == list(range(12))
