"""Generator weights on disk: safetensors with the architecture in its metadata.

safetensors holds only tensors, so loading a file can never run code, unlike a pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..data.resize import SCALES
from ..errors import SavsrError
from ..fileio import atomic_output
from .lr_vsrresnet import LRVSRResNet
from .vsrresnet import VSRResNet

FORMAT = "savsr-generator"


@dataclass(frozen=True)
class GeneratorSpec:
    """What a generator file says about its network and how it was trained to be used."""

    scale: int
    color: str = "y"  # "y": super-resolves BT.601 Y; "rgb": all three channels
    frames: int = 5
    blocks: int = 15
    features: int = 64
    kind: str = "vsrresnet"  # a key of KINDS: which network (files before #31 hold no kind: VSRResNet)

    def __str__(self) -> str:
        return (f"×{self.scale} {self.color.upper()} {self.kind} generator, {self.frames} frames, "
                f"{self.blocks} blocks × {self.features} features")

    @property
    def channels(self) -> int:
        return 1 if self.color == "y" else 3

    @property
    def lr_input(self) -> bool:
        """True when the network takes the LR frames as they are, not bicubic-upsampled first."""
        return self.kind == "lr-vsrresnet"

    def flops_per_pixel(self) -> float:
        """FLOPs of one forward pass per output pixel (2 per multiply-add), counted by PyTorch
        on a small input: the same for any frame size, since every layer is a convolution."""
        from torch.utils.flop_counter import FlopCounterMode

        side = 8 if self.lr_input else 8 * self.scale
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            out = self.build()(torch.zeros(1, self.frames * self.channels, side, side))
        return counter.get_total_flops() / (out.shape[-2] * out.shape[-1])

    def build(self) -> nn.Module:
        if self.kind == "lr-vsrresnet":
            return LRVSRResNet(self.scale, self.frames, self.channels, self.blocks, self.features)
        return VSRResNet(frames=self.frames, channels=self.channels, blocks=self.blocks, features=self.features)


# The generator networks a file can hold: VSRResNet (Sec. 2.3, on bicubic-upsampled frames at the
# HR size) and its LR-space sibling (models/lr_vsrresnet.py).
KINDS = ("vsrresnet", "lr-vsrresnet")


def save_generator(
    model: nn.Module, spec: GeneratorSpec, path: str | Path, overwrite: bool = False, half: bool = False,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write ``model``'s weights and ``spec`` atomically to ``path`` (.safetensors)."""
    tensors = {k: (v.half() if half else v).detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": FORMAT, **{k: str(v) for k, v in asdict(spec).items()}, **(extra or {})}
    path = Path(path)
    with atomic_output(path, overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_spec(path: str | Path) -> tuple[GeneratorSpec, dict[str, str]]:
    """The spec and full metadata of a generator file, without loading its weights."""
    path = Path(path)
    if not path.is_file():
        raise SavsrError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SavsrError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise SavsrError(f"{path}: not a savsr generator (metadata format={meta.get('format')!r})")
    try:
        spec = GeneratorSpec(
            scale=int(meta["scale"]), color=meta["color"], frames=int(meta["frames"]),
            blocks=int(meta["blocks"]), features=int(meta["features"]), kind=meta.get("kind", "vsrresnet"),
        )
    except (KeyError, ValueError) as exc:
        raise SavsrError(f"{path}: incomplete generator metadata ({exc})") from None
    if spec.color not in ("y", "rgb") or spec.scale not in SCALES or spec.kind not in KINDS:
        raise SavsrError(f"{path}: unsupported generator (scale={spec.scale}, color={spec.color}, kind={spec.kind})")
    return spec, meta


def _few(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" (and {len(items) - 3} more)" if len(items) > 3 else "")


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module``, or raise a one-line SavsrError naming ``source`` and the
    tensors that are missing, unexpected or of the wrong shape."""
    expected = module.state_dict()
    problems = []
    if missing := sorted(expected.keys() - state.keys()):
        problems.append(f"missing {_few(missing)}")
    if unexpected := sorted(state.keys() - expected.keys()):
        problems.append(f"unexpected {_few(unexpected)}")
    if wrong := [f"{k} is {list(state[k].shape)}, not {list(expected[k].shape)}"
                 for k in sorted(expected.keys() & state.keys()) if state[k].shape != expected[k].shape]:
        problems.append(_few(wrong))
    if problems:
        raise SavsrError(f"{source}: tensors do not fit the {type(module).__name__}: {'; '.join(problems)}")
    module.load_state_dict(state)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, GeneratorSpec]:
    """Build the generator described by ``path`` and load its weights (as float32), in eval mode."""
    spec, _ = read_spec(path)
    model = spec.build()
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise SavsrError(f"{path}: weights do not load ({str(exc).splitlines()[0]})") from None
    load_weights(model, {k: v.float() for k, v in state.items()}, f"{path} (metadata: {spec})")
    return model.to(device).eval(), spec
