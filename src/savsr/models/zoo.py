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

from ..data.degradation import parse_degradation
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
    degradation: str = "bi"  # the spec it was trained on (savsr.data.degradation)

    @property
    def purpose(self) -> str:
        return purpose(self.name, self.spec, self.degradation)


def weights_dir() -> Path:
    """The package folder that holds the bundled generators and their cards."""
    return Path(str(files("savsr") / "weights"))


# The model `savsr upscale --scale S`, `savsr demo` and `load_model()` use when none is named. The
# paper's generator, unless the LR-space model of that scale beats it on Vid4 on PSNR, SSIM, LPIPS
# and tLP alike (issue #31; docs/reproduction.md, "The LR-space family").
DEFAULTS = {2: "sa-vsrgan-x2", 3: "sa-vsrgan-x3", 4: "sa-vsrgan-lr-x4"}


def default_model(scale: int = 4) -> str:
    """The bundled model used for ``scale`` when none is named: by the CLI, the Python API and
    ``savsr serve`` alike."""
    return DEFAULTS[check_scale(scale)]


# The loss each family was trained with (NAME is FAMILY-xS or FAMILY-bd-lr-xS, …).
LOSSES = {"sa-vsrgan": "the paper's spatially adaptive GAN loss", "vsrresfeatgan": "the paper's baseline GAN loss",
          "vsrresnet": "MSE: highest PSNR, smoother"}


def purpose(name: str, spec: GeneratorSpec, degradation: str = "bi") -> str:
    """What a model is for, in one line: the input it was trained on (clean, blurred, compressed
    or real), its loss (from its family's name, where it has one) and its network."""
    d = parse_degradation(degradation)
    made = {"bd": "blurred input (BD, as in TecoGAN's tables)", "real": "real footage"}.get(d.base, "clean input")
    if d.codec is not None:
        made = f"compressed {made}"
    loss = next((text for family, text in LOSSES.items() if name.startswith(family + "-")), None)
    network = "fast LR-space network" if spec.lr_input else "the paper's generator"
    return "; ".join(part for part in (made, loss, network) if part)


def bundled_paths(name: str) -> tuple[Path, Path]:
    """(weights, card) paths of bundled model ``name``, whether or not they exist yet."""
    return weights_dir() / f"{name}.safetensors", weights_dir() / f"{name}.md"


def available_models() -> list[ModelInfo]:
    """The generators bundled with the package (``savsr models`` lists them)."""
    found = []
    for path in sorted(weights_dir().glob("*.safetensors")):
        spec, meta = read_spec(path)
        found.append(ModelInfo(path.stem, path, path.with_suffix(".md"), spec, meta.get("degradation", "bi")))
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
