"""The bundled models: the one registry that the Upscaler, the CLI, the evaluation and
scripts/bundle_model.py use.

A bundled model is a pair of files in the package's ``weights/`` folder: ``NAME.safetensors``
(the generator, with its architecture in the metadata) and ``NAME.md`` (its model card). NAME is
``FAMILY-xS`` (vsrresnet, vsrresfeatgan, sa-vsrgan and their LR-space siblings vsrresnet-lr, …;
S = 2, 3, 4), which scripts/reproduce.sh reads.
The registry is the folder itself, so bundling a model (scripts/bundle_model.py) registers it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from ..data.resize import check_scale
from ..errors import SavsrError
from .checkpoint import GeneratorSpec, read_spec


@dataclass(frozen=True)
class ModelInfo:
    """A bundled model: its name, file and model card."""

    name: str
    path: Path
    card: Path
    spec: GeneratorSpec


def weights_dir() -> Path:
    """The package folder that holds the bundled generators and their cards."""
    return Path(str(files("savsr") / "weights"))


# The model `savsr upscale --scale S`, `savsr demo` and `load_model()` use when none is named. The
# paper's generator, unless the LR-space model of that scale beats it on Vid4 on PSNR, SSIM, LPIPS
# and tLP alike (issue #31; docs/reproduction.md, "The LR-space family").
DEFAULTS = {2: "sa-vsrgan-x2", 3: "sa-vsrgan-x3", 4: "sa-vsrgan-lr-x4"}


def default_model(scale: int = 4) -> str:
    """The bundled model used for ``scale`` when none is named."""
    return DEFAULTS[check_scale(scale)]


def bundled_paths(name: str) -> tuple[Path, Path]:
    """(weights, card) paths of bundled model ``name``, whether or not they exist yet."""
    return weights_dir() / f"{name}.safetensors", weights_dir() / f"{name}.md"


def available_models() -> list[ModelInfo]:
    """The generators bundled with the package (``savsr models`` lists them)."""
    found = []
    for path in sorted(weights_dir().glob("*.safetensors")):
        spec, _ = read_spec(path)
        found.append(ModelInfo(path.stem, path, path.with_suffix(".md"), spec))
    return found


def model_path(name_or_path: str | os.PathLike) -> Path:
    """The file of a bundled model's name, or the path itself if it is a file path."""
    text = str(name_or_path)
    bundled = {m.name: m for m in available_models()}
    if text in bundled:
        return bundled[text].path
    if Path(text).suffix == ".safetensors" or Path(text).exists():
        return Path(text)
    names = ", ".join(sorted(bundled)) or "none bundled"
    raise SavsrError(f"unknown model {text!r}: not a bundled model ({names}) nor a file")


INT8_COSTS = "int8_cost.json"  # written by scripts/int8_cost.py


def int8_cost(name: str) -> dict | None:
    """Bundled model ``name``'s measured cost of int8 against fp32 on Vid4 at its scale (ΔPSNR,
    ΔSSIM, relative ΔLPIPS and ΔtLP, and the digest of the network it was measured on), or None
    where it was not measured."""
    path = weights_dir() / INT8_COSTS
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get(name)
    except ValueError as exc:
        raise SavsrError(f"{path}: not valid JSON ({exc})") from None
