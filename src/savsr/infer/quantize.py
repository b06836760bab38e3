"""int8 inference on the CPU: the generator's OpenVINO graph quantized by NNCF's post-training
quantization, calibrated on clips of the training sources, and cached on disk.

What is kept in higher precision was chosen by measurement (scripts/int8_ablation.py,
docs/performance.md "int8"): the first convolution, whose input is the frames themselves (kept
in fp32, sa-vsrgan-x4 scores 0.05 dB higher on the demo clip, at no cost in speed), and the
global skip, which the engine adds in fp32 anyway. The last convolution is kept in fp32 only in
an LR-space network (models/lr_vsrresnet.py), whose last convolution makes the S² sub-pixel
phases of every output pixel: there it is worth 0.01-0.16 dB on the demo clip for 3 % of the
speed, where in VSRResNet it bought nothing. :func:`recipe` names the choice.

The cache holds one folder per quantized network, named by a digest of its weights, its input
channels and :func:`recipe`; it records the OpenVINO and NNCF versions that made it and the
sha256 of its files. An entry made by other versions (stale) or whose files do not match
(corrupt) is rebuilt, with a one-line :class:`~savsr.errors.SavsrWarning`. Entries are published
by renaming a finished folder, so that processes sharing a cache never read a half-written one;
every process compiles the entry from disk, so that two started at once with an empty cache
both compute with the same quantized network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.resize import imresize
from ..data.window import stack_window
from ..errors import SavsrError, SavsrWarning
from ..models.lr_vsrresnet import LRVSRResNet
from ..models.zoo import int8_cost
from ..precision import nncf_available

# Changing what quantize() does to a network must change its recipe, so that old cache entries
# and measured costs are not reused.
RECIPE = "nncf-ptq performance preset, first convolution in fp32, 16 calibration windows"
RECIPE_LR_SPACE = "nncf-ptq performance preset, first and last convolutions in fp32, 16 calibration windows"


def recipe(model: nn.Module) -> str:
    """How ``model`` is quantized: :data:`RECIPE`, or :data:`RECIPE_LR_SPACE` for an LR-space
    network, which keeps its last convolution in fp32 too (the module's docstring says why)."""
    return RECIPE_LR_SPACE if isinstance(model, LRVSRResNet) else RECIPE


CALIBRATION = "calibration.npz"


def cache_root() -> Path:
    """Where quantized networks are kept: ``$SAVSR_CACHE/int8``, else ``$XDG_CACHE_HOME/savsr/int8``
    (default ``~/.cache/savsr/int8``)."""
    if os.environ.get("SAVSR_CACHE"):
        return Path(os.environ["SAVSR_CACHE"]) / "int8"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "savsr" / "int8"


def calibration_windows(to_input: Callable[[Tensor], Tensor], scale: int, frames: int) -> list[Tensor]:
    """The network inputs (1, frames·C, h, w) that calibration runs: each bundled HR clip
    (assets/calibration.npz, from the training sources) degraded by BI to its LR frames, each
    turned into the network's input by ``to_input`` (an LR uint8 frame (3, h, w) in), stacked."""
    with np.load(str(files("savsr") / "assets" / CALIBRATION)) as data:
        clips = torch.from_numpy(data["clips"]).permute(0, 1, 4, 2, 3)  # (clips, T, 3, H, W) uint8
    start = (clips.shape[1] - frames) // 2
    if start < 0:
        raise SavsrError(f"the calibration clips hold {clips.shape[1]} frames; the model takes {frames}")
    return [stack_window([to_input(imresize(hr, 1 / scale)) for hr in clip[start:start + frames]])[None].float()
            for clip in clips]


def network_digest(model: nn.Module, in_channels: int) -> str:
    """sha256 of the network's weights (in fp32, by name), its input channels and :func:`recipe`."""
    h = hashlib.sha256(f"{recipe(model)}|{in_channels}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:32]


def versions(model: nn.Module) -> dict[str, str]:
    """The OpenVINO and NNCF versions and the :func:`recipe` that ``model`` quantized depends on."""
    import nncf
    import openvino as ov

    return {"openvino": ov.get_version(), "nncf": nncf.__version__, "recipe": recipe(model)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _entry_problem(entry: Path, model: nn.Module) -> str | None:
    """Why cache entry ``entry`` of ``model`` cannot be used ("stale: …", "corrupt: …"), or None when it can."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        recorded = {k: meta[k] for k in ("openvino", "nncf", "recipe")}
        if recorded != versions(model):
            return f"stale: made by OpenVINO {meta['openvino']} and NNCF {meta['nncf']}"
        for name, digest in meta["files"].items():
            if _sha256(entry / name) != digest:
                return f"corrupt: {name} does not match its digest"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"corrupt: {type(exc).__name__}"
    return None


def _first_convolutions(ov_model) -> list[str]:
    """The names of the convolutions that read the network's input directly (its head)."""
    inputs = {p.get_friendly_name() for p in ov_model.get_parameters()}
    return [op.get_friendly_name() for op in ov_model.get_ordered_ops()
            if op.get_type_name() == "Convolution" and op.input_value(0).get_node().get_friendly_name() in inputs]


def convolutions(ov_model) -> list[str]:
    """The names of the model's convolutions, in execution order (the first is the head)."""
    return [op.get_friendly_name() for op in ov_model.get_ordered_ops() if op.get_type_name() == "Convolution"]


def kept_convolutions(ov_model, model: nn.Module) -> list[str]:
    """The convolutions of ``ov_model`` (the OpenVINO graph of ``model``) that :func:`recipe` keeps in fp32."""
    kept = _first_convolutions(ov_model)
    return kept + convolutions(ov_model)[-1:] if recipe(model) == RECIPE_LR_SPACE else kept


def quantize(ov_model, windows: list[Tensor], keep: list[str]):
    """``ov_model`` quantized to int8 by NNCF's post-training quantization, calibrated on ``windows``,
    with the convolutions named in ``keep`` left in higher precision (:func:`kept_convolutions`;
    scripts/int8_ablation.py tries others)."""
    import nncf

    logging.getLogger("nncf").setLevel(logging.ERROR)  # its INFO lines name every node it skips
    return nncf.quantize(ov_model, nncf.Dataset(windows, lambda x: x.numpy()), subset_size=len(windows),
                         preset=nncf.QuantizationPreset.PERFORMANCE,
                         ignored_scope=nncf.IgnoredScope(names=keep))


def _publish(build: Path, entry: Path) -> None:
    """Rename the finished folder ``build`` to ``entry``; if another process published it first, keep theirs."""
    try:
        os.rename(build, entry)
    except OSError:
        if not entry.is_dir():
            raise
        shutil.rmtree(build, ignore_errors=True)


def quantized_model(ov_model, model: nn.Module, in_channels: int, windows: Callable[[], list[Tensor]]):
    """The int8 version of ``ov_model`` (the OpenVINO graph of ``model``), read from the cache, or
    made by :func:`quantize` on ``windows()`` and cached first."""
    import openvino as ov

    root = cache_root()
    entry = root / network_digest(model, in_channels)
    if entry.is_dir():
        problem = _entry_problem(entry, model)
        if problem is None:
            return ov.Core().read_model(entry / "model.xml")
        warnings.warn(SavsrWarning(f"int8 cache entry {entry} is {problem}; quantizing again"), stacklevel=3)
        trash = entry.with_name(f".{entry.name}.{os.getpid()}.old")
        try:  # renamed away first, so that a process reading it meanwhile never sees it half deleted
            os.rename(entry, trash)
            shutil.rmtree(trash, ignore_errors=True)
        except OSError:
            pass  # another process moved it already
    try:
        root.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".part", dir=root))
    except OSError as exc:
        raise SavsrError(f"cannot write the int8 cache under {root}: {exc.strerror or exc}; "
                         "set SAVSR_CACHE to a writable folder") from None
    warnings.warn(SavsrWarning(f"quantizing the model to int8 (once: kept in {root})"), stacklevel=3)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bar, for a step that is ours to report
            quantized = quantize(ov_model, windows(), kept_convolutions(ov_model, model))
        ov.save_model(quantized, build / "model.xml", compress_to_fp16=False)
        meta = versions(model) | {"files": {name: _sha256(build / name) for name in ("model.xml", "model.bin")}}
        (build / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        _publish(build, entry)
    except OSError as exc:
        shutil.rmtree(build, ignore_errors=True)
        raise SavsrError(f"cannot write the int8 cache under {root}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    if (problem := _entry_problem(entry, model)) is not None:
        raise SavsrError(f"int8 cache entry {entry} is {problem} right after it was written")
    return ov.Core().read_model(entry / "model.xml")


# What `--precision auto` accepts of int8 (the cost measured on Vid4 against fp32, on the card).
INT8_AUTO = {"psnr": -0.05, "lpips_relative": 0.01}


def int8_by_default(name: str, model: nn.Module, in_channels: int) -> bool:
    """True when ``auto`` should run ``model`` in int8: it is bundled model ``name``, whose int8 cost
    was measured on this very network and recipe (models/zoo.py ``int8_cost``) and keeps ΔPSNR ≥
    −0.05 dB and LPIPS within +1 %, and nncf is installed."""
    cost = int8_cost(name)
    return (cost is not None and cost["psnr"] >= INT8_AUTO["psnr"]
            and cost["lpips_relative"] <= INT8_AUTO["lpips_relative"] and nncf_available()
            and cost["network"] == network_digest(model, in_channels))
