"""Eq. 6-7 against the closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from savsr.losses import activity_weights, charbonnier


def closed_form(u: np.ndarray, v: np.ndarray, w: np.ndarray | float = 1.0, eps: float = 1e-3) -> float:
    return float(np.sum(w * np.sqrt((u - v) ** 2 + eps**2)))


def test_matches_closed_form_sum_and_mean() -> None:
    rng = np.random.default_rng(1)
    u, v, w = rng.random((3, 2, 3, 8, 9))
    tu, tv, tw = (torch.from_numpy(a) for a in (u, v, w))
    assert charbonnier(tu, tv, reduction="sum").item() == pytest.approx(closed_form(u, v), rel=1e-12)
    assert charbonnier(tu, tv, tw, reduction="sum").item() == pytest.approx(closed_form(u, v, w), rel=1e-12)
    assert charbonnier(tu, tv, tw).item() == pytest.approx(closed_form(u, v, w) / u.size, rel=1e-12)
    assert charbonnier(tu, tv, eps=0.1, reduction="sum").item() == pytest.approx(
        closed_form(u, v, eps=0.1), rel=1e-12
    )


def test_identical_inputs_cost_eps_per_element() -> None:
    u = torch.rand(1, 1, 5, 5, dtype=torch.float64)
    assert charbonnier(u, u, eps=1e-3, reduction="sum").item() == pytest.approx(25e-3, rel=1e-12)


def test_unit_weight_equals_unweighted() -> None:
    u, v = torch.rand(2, 2, 1, 7, 7, dtype=torch.float64)
    plain = charbonnier(u, v)
    assert charbonnier(u, v, torch.ones_like(u)).item() == plain.item()
    assert charbonnier(u, v, 1.0).item() == plain.item()


def test_weighted_on_real_frames_against_numpy(calendar_rgb: np.ndarray, davis_rgb: np.ndarray) -> None:
    hr = calendar_rgb[:256, :256].transpose(2, 0, 1)
    sr = np.clip(hr + 0.05 * (davis_rgb[:256, :256].transpose(2, 0, 1) - 0.5), 0, 1)
    w = activity_weights(torch.from_numpy(hr.copy())[None])[0].numpy()
    weight = 0.001 + 0.1 * 10 * w
    got = charbonnier(torch.from_numpy(hr.copy()), torch.from_numpy(sr.copy()), torch.from_numpy(weight), reduction="sum")
    assert got.item() == pytest.approx(closed_form(hr, sr, weight), rel=1e-12)


def test_gradcheck() -> None:
    u = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    v = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.rand(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: charbonnier(a, b, c, eps=1e-2), (u, v, w))
    assert torch.autograd.gradcheck(lambda a, b: charbonnier(a, b, reduction="sum"), (u, v))


def test_rejects_bad_arguments() -> None:
    u = torch.rand(1, 1, 4, 4)
    with pytest.raises(ValueError, match="shape"):
        charbonnier(u, torch.rand(1, 1, 4, 5))
    with pytest.raises(ValueError, match="reduction"):
        charbonnier(u, u, reduction="max")
    with pytest.raises(ValueError, match="broadcast"):
        charbonnier(u, u, torch.rand(2, 1, 4, 4))
