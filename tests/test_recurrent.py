"""The recurrent LR-space generator (models/recurrent_lr_vsrresnet.py, issue #52): warm-started
from a window model it computes that model's output whatever its state, and the state's way in
learns from the second frame of a clip on."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from savsr.models.lr_vsrresnet import LRVSRResNet
from savsr.models.recurrent_lr_vsrresnet import RecurrentLRVSRResNet


def _pair() -> tuple[LRVSRResNet, RecurrentLRVSRResNet]:
    torch.manual_seed(0)
    window = LRVSRResNet(scale=2, frames=3, channels=1, blocks=2, features=8).eval()
    for p in window.parameters():  # a trained-looking start: not ICNR's tied phases
        p.data.add_(0.05 * torch.randn_like(p))
    recurrent = RecurrentLRVSRResNet(scale=2, frames=3, channels=1, blocks=2, features=8).eval()
    missing, unexpected = recurrent.load_state_dict(window.state_dict(), strict=False)
    assert sorted(missing) == ["memory.bias", "memory.weight"] and not unexpected
    return window, recurrent


def test_a_warm_start_is_the_window_model_whatever_the_state() -> None:
    window, recurrent = _pair()
    x = torch.rand(2, 3, 11, 9)
    want = window(x)
    sr, state = recurrent(x)
    assert torch.equal(sr, want) and state.shape == (2, 8, 11, 9)
    sr, state2 = recurrent(x, torch.randn_like(state) * 10)
    assert torch.equal(sr, want) and torch.equal(state2, state)
    assert torch.equal(recurrent.residual(x), window.residual(x))


def test_the_state_learns_from_the_second_frame_on() -> None:
    _, recurrent = _pair()
    recurrent.train()
    clip, target = torch.rand(1, 4, 10, 10), torch.rand(1, 2, 20, 20)  # 2 frames, each a 3-frame window
    sr0, state = recurrent(clip[:, 0:3])
    F.mse_loss(sr0, target[:, :1]).backward(retain_graph=True)
    assert recurrent.memory.weight.grad is None  # a cold start: nothing reaches the memory
    sr1, _ = recurrent(clip[:, 1:4], state)
    F.mse_loss(sr1, target[:, 1:]).backward()
    assert recurrent.memory.weight.grad.abs().sum() > 0


def test_the_state_cannot_grow_over_a_long_clip() -> None:
    """However the memory is trained, what it adds is bounded: 300 steps with a memory whose gain
    would blow an unbounded state up stay finite and within a few units."""
    _, recurrent = _pair()
    torch.manual_seed(1)
    with torch.no_grad():
        recurrent.memory.weight.normal_(0, 1.0)
    x, state, peak = torch.rand(1, 3, 12, 12), None, 0.0
    with torch.no_grad():
        for _ in range(300):
            sr, state = recurrent(x, state)
            peak = max(peak, float(state.abs().max()))
    assert torch.isfinite(sr).all() and peak < 50, peak
