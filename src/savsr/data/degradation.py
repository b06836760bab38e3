"""Degradations: how a clip of HR frames becomes the LR clip a model is trained and scored on.

One seeded module for every degradation savsr knows, named by a spec string
(:func:`parse_degradation`):

- ``bi``: the paper's BI (Sec. 3.1), MATLAB's bicubic ``imresize`` by 1/s (:func:`bi_degrade`);
- ``bd``: the literature's BD, a 13×13 Gaussian blur then every s-th pixel (:func:`bd_downsample`);
- ``h264:CRF``, ``h265:CRF``: BI, then the whole LR clip through x264 or x265 at that CRF and back
  (:class:`VideoCodec`); ``bd+h264:CRF`` puts BD under the codec instead; ``h264:LO-HI`` draws the
  CRF per clip, uniformly from LO to HI (training on a range of rates);
- ``real``: a random pipeline in the spirit of Real-ESRGAN's second-order model and RealBasicVSR
  (:class:`RealConfig`, :func:`real_degrade`): blur, resize, noise, JPEG and a video codec, twice.

Every degradation takes a whole clip (T, C, H, W) uint8 and returns its LR clip
(T, C, H/s, W/s) uint8 with a record of every choice it made (:meth:`Degradation.apply`), so a
result can say exactly what its input was. Random parameters are drawn once per clip from a
seeded :class:`numpy.random.Generator` and shared by all its frames, as RealBasicVSR draws them,
so a network sees a temporally consistent degradation; only noise samples differ per frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ParameterError
from ..media.writer import X26X_PRESETS
from .resize import check_scale, crop_to_multiple, imresize

# ---------------------------------------------------------------------------------------- BD

BD_KERNEL_SIZE = 13
# σ = 0.4·s: 1.6 at ×4, the DUF/TecoGAN value; BasicSR's duf_downsample scales it so for ×2 (0.8)
# and ×3 (1.2), which is what BD means at those scales here.
BD_SIGMA_PER_SCALE = 0.4


def bd_kernel_1d(sigma: float, size: int = BD_KERNEL_SIZE) -> np.ndarray:
    """The 1-D taps (``size``, float64, summing to 1) of BasicSR's ``generate_gaussian_kernel``.

    That kernel is ``scipy.ndimage.gaussian_filter`` of a centred dirac on a size × size grid:
    the sampled Gaussian exp(−x²/2σ²) truncated at scipy's radius int(4σ + 0.5), normalised over
    that radius, applied along each axis; the 2-D kernel is the outer product of these taps.
    """
    radius = int(4.0 * sigma + 0.5)
    half = size // 2
    if radius > half:  # scipy would fold the tails back into the grid; no scale here reaches it
        raise ValueError(f"σ = {sigma} needs a kernel wider than {size}")
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    out = np.zeros(size)
    out[half - radius : half + radius + 1] = taps / taps.sum()
    return out


def bd_downsample(hr: Tensor, scale: int) -> Tensor:
    """BD: blur (…, H, W) with the 13×13 Gaussian of σ = 0.4·s, then keep every s-th pixel.

    Follows BasicSR's ``duf_downsample`` (basicsr/data/data_util.py), the BD of DUF's code that
    BasicSR's BD sets are made with: reflect padding (the edge pixel not repeated, numpy's
    ``reflect``), a stride-s convolution and the crop of two outputs a side, which together
    put LR pixel i on HR pixel s·i (phase 0: the top-left pixel of each s × s cell, not its
    centre as in BI). The output is ceil(H/s) × ceil(W/s). uint8 in is computed in float64 and
    rounded half up to uint8, as a saved LR set is; float in stays float, unclipped.
    """
    check_scale(scale)
    h, w = hr.shape[-2:]
    half = BD_KERNEL_SIZE // 2
    if min(h, w) <= half:
        raise ValueError(f"BD needs frames of at least {half + 1} pixels a side, got {w}×{h}")
    integer = not hr.is_floating_point()
    x = hr.to(torch.float64) if integer else hr
    k = torch.from_numpy(bd_kernel_1d(BD_SIGMA_PER_SCALE * scale)).to(x.dtype)
    flat = x.reshape(-1, 1, h, w)
    # Reflect by the kernel's half width only: BasicSR pads 6 + 2s and crops 2 outputs a side,
    # which keeps exactly the outputs centred on pixels 0, s, 2s, … that this computes.
    flat = F.pad(flat, (half, half, half, half), mode="reflect")
    # Separable: rows then columns, each a strided 1-D convolution (the 2-D kernel is their product).
    flat = F.conv2d(flat, k.view(1, 1, -1, 1), stride=(scale, 1))
    flat = F.conv2d(flat, k.view(1, 1, 1, -1), stride=(1, scale))
    out = flat.reshape(*hr.shape[:-2], *flat.shape[-2:])
    if integer:
        out = torch.floor(out + 0.5).clamp_(0, 255).to(hr.dtype)
    return out


# ------------------------------------------------------------------------------- video codecs

CODECS = {"h264": "libx264", "h265": "libx265"}
_DECODERS = {"libx264": "h264", "libx265": "hevc"}
CRF_RANGE = (0, 51)  # x264's and x265's
_BT709, _LIMITED = 1, 1  # FFmpeg's AVCOL_SPC_BT709 and AVCOL_RANGE_MPEG
X265_MIN_SIDE = 128  # see VideoCodec
X264_PARAMS, X265_PARAMS = "mbtree=0", "log-level=error:pools=none:frame-threads=1"  # see VideoCodec


@dataclass(frozen=True)
class VideoCodec:
    """A video codec round trip: a clip encoded with x264 or x265 in memory, then decoded.

    The whole clip is one stream, so its P and B frames predict from their neighbours and carry
    the inter-frame artefacts of real footage (blocks that move, ringing that flickers), which a
    per-frame JPEG lacks. The RGB frames become 4:2:0 YUV with the BT.709 matrix in limited range
    (what an HD file holds) and come back through the same matrix. 4:2:0 needs even sides, so an
    odd side is padded by repeating its last row or column and the pad cropped after decoding.
    x265 gets frames at least 128 pixels a side, padded the same way: the x265 that PyAV bundles
    (PyAV 18.1) corrupts its heap and aborts the process on some frames under 64 pixels (32×40 and
    64×48 do, 32×32 does not), and at 64×64 the same clip gave different bytes from run to run
    (it reads memory it never wrote); from 96 up, 20 runs of each size tested gave one stream.
    Small training windows would hit both.
    One encoder thread, and x264 without its macroblock tree (``mbtree=0``), so that the same clip
    always gives the same bytes: x264's output depends on its thread count, and with mb-tree on
    the x264 PyAV bundles gave a different stream for the same frames in up to half of 30 runs,
    even on one thread (measured: 60 of 60 alike without it). Its other settings are the preset's.
    """

    encoder: Literal["libx264", "libx265"] = "libx264"
    crf: int = 23
    preset: str = "medium"
    gop: int = 250  # the longest interval between keyframes: x264's and x265's default keyint
    pix_fmt: str = "yuv420p"
    fps: int = 25  # the rate the encoder is told (its rate control looks at time)

    def __post_init__(self) -> None:
        if self.encoder not in _DECODERS:
            raise ParameterError("degradation", f"{{param}}: unknown encoder {self.encoder!r}; expected libx264 or libx265")
        if not CRF_RANGE[0] <= self.crf <= CRF_RANGE[1]:
            raise ParameterError("degradation", f"{{param}}: CRF {self.crf} is outside {CRF_RANGE[0]}-{CRF_RANGE[1]}")
        if self.preset not in X26X_PRESETS:
            raise ParameterError("degradation", f"{{param}}: unknown preset {self.preset!r}")
        if self.gop < 1:
            raise ParameterError("degradation", f"{{param}}: GOP must be at least 1, got {self.gop}")

    def record(self) -> dict[str, Any]:
        """Every setting of the round trip, and the library versions that ran it."""
        import av

        return asdict(self) | {"bframes": "encoder default for the preset", "matrix": "bt709", "range": "limited",
                               "threads": 1,
                               "params": X265_PARAMS if self.encoder == "libx265" else X264_PARAMS, "padding": "edge rows/columns repeated to even sides"
                               + (f", at least {X265_MIN_SIDE} a side" if self.encoder == "libx265" else ""), "pyav": av.__version__, "ffmpeg": _ffmpeg_version()}

    def encode(self, clip: Tensor) -> bytes:
        """The elementary stream (H.264 or H.265 Annex B bytes) of a (T, 3, h, w) uint8 RGB clip, even sides."""
        import av

        t, c, h, w = clip.shape
        if h % 2 or w % 2:
            raise ValueError(f"4:2:0 needs even sides, got {w}×{h}")
        if self.encoder == "libx265" and min(h, w) < X265_MIN_SIDE:
            raise ValueError(f"x265 needs frames of at least {X265_MIN_SIDE} pixels a side, got {w}×{h}")
        ctx = av.CodecContext.create(self.encoder, "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, self.pix_fmt
        ctx.time_base, ctx.framerate = Fraction(1, self.fps), Fraction(self.fps)
        ctx.gop_size, ctx.thread_count = self.gop, 1
        ctx.colorspace, ctx.color_range = _BT709, _LIMITED
        options = {"crf": str(self.crf), "preset": self.preset}
        if self.encoder == "libx265":  # x265 logs to stderr itself, and makes its own thread pools
            options["x265-params"] = X265_PARAMS
        else:
            options["x264-params"] = X264_PARAMS
        ctx.options = options
        if c != 3:
            raise ValueError(f"expected RGB frames, got {c} channels")
        frames = clip.permute(0, 2, 3, 1).numpy()
        packets: list[bytes] = []
        for i in range(t):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame = frame.reformat(format=self.pix_fmt, dst_colorspace=_BT709, dst_color_range=_LIMITED)
            frame.pts = i
            packets += [bytes(p) for p in ctx.encode(frame)]
        packets += [bytes(p) for p in ctx.encode(None)]
        return b"".join(packets)

    def decode(self, stream: bytes) -> Tensor:
        """The RGB frames (T, 3, h, w) uint8 of an elementary stream made by :meth:`encode`, in display order."""
        import io

        import av

        with av.open(io.BytesIO(stream), format=_DECODERS[self.encoder]) as container:
            container.streams.video[0].thread_count = 1
            frames = [f.reformat(format="rgb24", src_colorspace=_BT709, src_color_range=_LIMITED).to_ndarray()
                      for f in container.decode(video=0)]
        return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)

    def __call__(self, clip: Tensor) -> Tensor:
        """The (T, C, h, w) uint8 clip (C = 1 or 3) after the round trip, the same shape (sides padded, then cropped)."""
        t, c, h, w = clip.shape
        least = X265_MIN_SIDE if self.encoder == "libx265" else 2
        ph, pw = max(h + h % 2, least) - h, max(w + w % 2, least) - w
        padded = F.pad(clip.float(), (0, pw, 0, ph), mode="replicate").to(torch.uint8) if ph or pw else clip
        # Grey goes in as RGB with neutral chroma and comes back as the mean of R, G and B: FFmpeg's
        # "gray" to limited-range YUV and back shifts levels by 2 (measured), RGB does not.
        out = self.decode(self.encode(padded.expand(-1, 3, -1, -1).contiguous()))
        if out.shape[0] != t:  # an encoder that drops or adds frames would shift every pair of the scores
            raise RuntimeError(f"{self.encoder} returned {out.shape[0]} frames for {t}")
        out = out[..., :h, :w]
        if c == 1:
            out = torch.round(out.float().mean(dim=1, keepdim=True)).to(torch.uint8)
        return out.contiguous()


def _ffmpeg_version() -> str:
    import av

    return ".".join(str(v) for v in av.library_versions.get("libavcodec", ()))


# ---------------------------------------------------------------------------- the real pipeline

KERNELS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc")


@dataclass(frozen=True)
class RealConfig:
    """The ranges of the ``real`` pipeline; defaults are RealBasicVSR's REDS recipe
    (realbasicvsr_c64b20_1x30x8_lr5e-5_150k_reds.py), itself Real-ESRGAN's second-order model
    (Wang et al., ICCVW 2021) with a video codec, except where a field says otherwise.

    Order 1: blur, resize, noise, JPEG, codec; order 2: blur (``blur2_prob``), resize, noise,
    JPEG, then in random order the codec and [resize to exactly H/s × W/s, sinc blur
    (``final_sinc_prob``)]; then 8-bit quantisation. Values are on a 0-255 scale where noted.
    """

    kernel_sizes: tuple[int, ...] = (7, 9, 11, 13, 15, 17, 19, 21)
    kernel_probs: tuple[float, ...] = (0.405, 0.225, 0.108, 0.027, 0.108, 0.027, 0.1)  # over KERNELS
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    beta_gaussian: tuple[float, float] = (0.5, 4.0)
    beta_plateau: tuple[float, float] = (1.0, 2.0)
    blur2_prob: float = 0.8
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_probs2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    resize_modes: tuple[str, ...] = ("bilinear", "area", "bicubic")  # equally likely
    gaussian_noise_prob: float = 0.5  # else Poisson
    noise_sigma: tuple[float, float] = (1.0, 30.0)  # Gaussian σ, 0-255 scale
    noise_sigma2: tuple[float, float] = (1.0, 25.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    poisson_scale2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob: float = 0.4  # the same noise on every channel
    jpeg_quality: tuple[int, int] = (30, 95)
    # RealBasicVSR draws libx264 at a bitrate of 10-100 kbit/s; savsr draws a CRF, the rate
    # control real files are made with, and takes H.265 too (issue #33).
    codec_encoders: tuple[str, ...] = ("libx264", "libx265")
    codec_probs: tuple[float, ...] = (0.7, 0.3)
    codec_crf: tuple[int, int] = (18, 35)
    codec_presets: tuple[str, ...] = ("medium",)
    codec_prob: float = 1.0  # order 1's codec (RealBasicVSR: always)
    codec_prob2: float = 1.0  # the final stage's codec
    final_sinc_prob: float = 0.8
    final_sinc_omega: tuple[float, float] = (math.pi / 3, math.pi)


def _sigma_matrix(sx: float, sy: float, theta: float) -> np.ndarray:
    u = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return u @ np.diag([sx * sx, sy * sy]) @ u.T


def blur_kernel(kind: str, size: int, sx: float = 1.0, sy: float = 1.0, theta: float = 0.0, beta: float = 1.0,
                omega: float = math.pi) -> np.ndarray:
    """A size × size blur kernel (float64, sum 1), Real-ESRGAN's families.

    With d = xᵀΣ⁻¹x (Σ from σx, σy rotated by θ): Gaussian exp(−d/2), generalized Gaussian
    exp(−d^β/2), plateau 1/(1 + d^β); ``sinc`` is the circular low-pass of cutoff ω,
    ω·J1(ω r)/(2π r).
    """
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2
    xx, yy = np.meshgrid(ax, ax)
    if kind == "sinc":
        from scipy.special import j1

        r = np.hypot(xx, yy)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = omega * j1(omega * r) / (2 * np.pi * r)
        k[r == 0] = omega * omega / (4 * np.pi)
        return k / k.sum()
    inv = np.linalg.inv(_sigma_matrix(sx, sy, theta))
    d = inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy
    if kind.startswith("plateau"):
        k = 1.0 / (d**beta + 1.0)
    elif kind.startswith("generalized"):
        k = np.exp(-0.5 * d**beta)
    else:
        k = np.exp(-0.5 * d)
    return k / k.sum()


def _draw_kernel(rng: np.random.Generator, cfg: RealConfig, sigma: tuple[float, float]) -> dict[str, Any]:
    """One blur's parameters, Real-ESRGAN's ``random_mixed_kernels`` way (isotropic: σy = σx, θ = 0)."""
    kind = KERNELS[int(rng.choice(len(KERNELS), p=np.asarray(cfg.kernel_probs) / sum(cfg.kernel_probs)))]
    size = int(rng.choice(cfg.kernel_sizes))
    if kind == "sinc":  # Real-ESRGAN: wider cutoffs only for large kernels
        low = math.pi / 3 if size < 13 else math.pi / 5
        return {"kind": kind, "size": size, "omega": float(rng.uniform(low, math.pi))}
    sx = float(rng.uniform(*sigma))
    iso = kind.endswith("iso") and not kind.endswith("aniso")
    sy, theta = (sx, 0.0) if iso else (float(rng.uniform(*sigma)), float(rng.uniform(-math.pi, math.pi)))
    p: dict[str, Any] = {"kind": kind, "size": size, "sx": sx, "sy": sy, "theta": theta}
    if kind.startswith("generalized"):
        lo, hi = cfg.beta_gaussian  # Real-ESRGAN: β < 1 and β > 1 equally likely
        p["beta"] = float(rng.uniform(lo, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, hi))
    elif kind.startswith("plateau"):
        lo, hi = cfg.beta_plateau
        p["beta"] = float(rng.uniform(lo, 1.0) if rng.random() < 0.5 and lo < 1 else rng.uniform(max(lo, 1.0), hi))
    return p


def _blur(x: Tensor, p: dict[str, Any]) -> Tensor:
    """(T, C, H, W) float32 convolved with the kernel of ``p``, reflect-padded as Real-ESRGAN's
    filter2D pads. OpenCV's filter2D (a DFT for large kernels) is 10× faster here than a
    one-channel conv2d; it correlates, which equals convolving with these point-symmetric kernels."""
    import cv2

    k = blur_kernel(**p).astype(np.float32)
    frames = x.permute(0, 2, 3, 1).numpy()
    out = np.stack([cv2.filter2D(f, -1, k, borderType=cv2.BORDER_REFLECT_101).reshape(f.shape) for f in frames])
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def _resize(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """(T, C, H, W) float resized by F.interpolate's ``mode``, as Real-ESRGAN resizes (no antialiasing but area's)."""
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode=mode) if mode == "area" else F.interpolate(
        x, size=size, mode=mode, align_corners=False)


def _draw_resize(rng: np.random.Generator, probs: tuple[float, ...], span: tuple[float, float],
                 modes: tuple[str, ...]) -> dict[str, Any]:
    way = ("up", "down", "keep")[int(rng.choice(3, p=np.asarray(probs) / sum(probs)))]
    factor = float(rng.uniform(1.0, span[1]) if way == "up" else rng.uniform(span[0], 1.0) if way == "down" else 1.0)
    return {"factor": factor, "mode": str(rng.choice(modes))}


def _draw_noise(rng: np.random.Generator, cfg: RealConfig, sigma: tuple[float, float],
                poisson: tuple[float, float]) -> dict[str, Any]:
    gray = bool(rng.random() < cfg.gray_noise_prob)
    if rng.random() < cfg.gaussian_noise_prob:
        return {"kind": "gaussian", "sigma": float(rng.uniform(*sigma)), "gray": gray}
    return {"kind": "poisson", "scale": float(rng.uniform(*poisson)), "gray": gray}


def _noise(x: Tensor, p: dict[str, Any], rng: np.random.Generator) -> Tensor:
    """Gaussian (σ/255) or Poisson noise (Real-ESRGAN's: Poisson of x·vals, vals the distinct 8-bit
    levels rounded up to a power of 2, scaled), a new sample per frame; gray noise is computed on
    the luma (BT.601) and added to every channel. Clipped to [0, 1]."""
    t, c, h, w = x.shape
    src = x if not p["gray"] or c == 1 else (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    shape = src.shape
    if p["kind"] == "gaussian":
        noise = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)) * (p["sigma"] / 255.0)
    else:
        levels = int(np.count_nonzero(np.bincount(torch.round(src * 255.0).to(torch.uint8).numpy().ravel(), minlength=256)))
        vals = 2 ** math.ceil(math.log2(max(levels, 2)))
        lam = (src.clamp(0, 1) * vals).numpy().astype(np.float64)
        noise = (torch.from_numpy(rng.poisson(lam).astype(np.float32)) / vals - src) * p["scale"]
    return (x + noise.expand(t, c, h, w)).clamp_(0.0, 1.0)


def _jpeg(x: Tensor, quality: int) -> Tensor:
    """Each frame of (T, C, H, W) float through OpenCV's JPEG encoder (4:2:0) at ``quality`` and back."""
    import cv2

    u8 = torch.round(x.clamp(0, 1) * 255.0).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    out = []
    for frame in u8:
        bgr = frame[..., ::-1] if frame.shape[2] == 3 else frame[..., 0]
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR if frame.shape[2] == 3 else cv2.IMREAD_GRAYSCALE)
        out.append(dec[..., ::-1] if frame.shape[2] == 3 else dec[..., None])
    return torch.from_numpy(np.ascontiguousarray(np.stack(out))).permute(0, 3, 1, 2).float() / 255.0


def _codec(x: Tensor, p: dict[str, Any]) -> Tensor:
    clip = torch.round(x.clamp(0, 1) * 255.0).to(torch.uint8)
    return VideoCodec(p["encoder"], p["crf"], p["preset"])(clip).float() / 255.0


def _draw_codec(rng: np.random.Generator, cfg: RealConfig) -> dict[str, Any]:
    encoder = str(rng.choice(cfg.codec_encoders, p=np.asarray(cfg.codec_probs) / sum(cfg.codec_probs)))
    return {"encoder": encoder, "crf": int(rng.integers(cfg.codec_crf[0], cfg.codec_crf[1] + 1)),
            "preset": str(rng.choice(cfg.codec_presets))}


def draw_real(rng: np.random.Generator, cfg: RealConfig) -> dict[str, Any]:
    """The parameters of one clip's ``real`` degradation, drawn in a fixed order from ``rng``."""
    jq = cfg.jpeg_quality
    return {
        "blur": _draw_kernel(rng, cfg, cfg.blur_sigma),
        "resize": _draw_resize(rng, cfg.resize_probs, cfg.resize_range, cfg.resize_modes),
        "noise": _draw_noise(rng, cfg, cfg.noise_sigma, cfg.poisson_scale),
        "jpeg": int(rng.integers(jq[0], jq[1] + 1)),
        "codec": _draw_codec(rng, cfg) if rng.random() < cfg.codec_prob else None,
        "blur2": _draw_kernel(rng, cfg, cfg.blur_sigma2) if rng.random() < cfg.blur2_prob else None,
        "resize2": _draw_resize(rng, cfg.resize_probs2, cfg.resize_range2, cfg.resize_modes),
        "noise2": _draw_noise(rng, cfg, cfg.noise_sigma2, cfg.poisson_scale2),
        "jpeg2": int(rng.integers(jq[0], jq[1] + 1)),
        "codec2": _draw_codec(rng, cfg) if rng.random() < cfg.codec_prob2 else None,
        "final_mode": str(rng.choice(cfg.resize_modes)),
        "final_sinc": ({"kind": "sinc", "size": int(rng.choice(cfg.kernel_sizes)),
                        "omega": float(rng.uniform(*cfg.final_sinc_omega))}
                       if rng.random() < cfg.final_sinc_prob else None),
        "codec_last": bool(rng.random() < 0.5),  # the final stage's order
    }


def real_degrade(hr: Tensor, scale: int, params: dict[str, Any], rng: np.random.Generator) -> Tensor:
    """The ``real`` pipeline with drawn ``params`` (:func:`draw_real`) on a (T, C, H, W) uint8 clip
    whose sides are multiples of ``scale``; returns (T, C, H/s, W/s) uint8. ``rng`` draws the noise."""
    t, c, h, w = hr.shape
    x = hr.float() / 255.0

    def scaled(factor: float) -> tuple[int, int]:
        return max(2, round(x.shape[-2] * factor)), max(2, round(x.shape[-1] * factor))

    x = _blur(x, params["blur"])
    x = _resize(x, scaled(params["resize"]["factor"]), params["resize"]["mode"]).clamp_(0, 1)
    x = _noise(x, params["noise"], rng)
    x = _jpeg(x, params["jpeg"])
    if params["codec"] is not None:
        x = _codec(x, params["codec"])
    if params["blur2"] is not None:
        x = _blur(x, params["blur2"])
    x = _resize(x, scaled(params["resize2"]["factor"]), params["resize2"]["mode"]).clamp_(0, 1)
    x = _noise(x, params["noise2"], rng)
    x = _jpeg(x, params["jpeg2"])

    def final_resize(y: Tensor) -> Tensor:
        y = _resize(y, (h // scale, w // scale), params["final_mode"]).clamp_(0, 1)
        return _blur(y, params["final_sinc"]) if params["final_sinc"] is not None else y

    codec2 = params["codec2"]
    if params["codec_last"]:
        x = final_resize(x)
        x = _codec(x, codec2) if codec2 is not None else x
    else:
        x = _codec(x, codec2) if codec2 is not None else x
        x = final_resize(x)
    return torch.round(x.clamp(0, 1) * 255.0).to(torch.uint8)


# ------------------------------------------------------------------------- the degradation

BASES = ("bi", "bd", "real")


@dataclass(frozen=True)
class Degradation:
    """One degradation: a downsampling ``base`` and, for bi and bd, an optional ``codec`` over the LR clip.

    Build it from a spec string with :func:`parse_degradation`; :attr:`spec` gives the string back.
    """

    base: Literal["bi", "bd", "real"] = "bi"
    codec: VideoCodec | None = None
    real: RealConfig = field(default_factory=RealConfig)
    # The codec's CRF drawn per clip from this inclusive range (codec.crf is its low end), or None.
    crf_range: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.base not in BASES:
            raise ParameterError("degradation", f"{{param}}: unknown base {self.base!r}")
        if self.base == "real" and self.codec is not None:
            raise ParameterError("degradation", "{param}: real draws its own codec; it takes no codec after it")
        if self.crf_range is not None:
            lo, hi = self.crf_range
            if self.codec is None or self.codec.crf != lo or not lo < hi <= CRF_RANGE[1]:
                raise ParameterError("degradation", f"{{param}}: a CRF range needs a codec and {lo} < high <= "
                                     f"{CRF_RANGE[1]}, got {lo}-{hi}")

    @property
    def spec(self) -> str:
        """The spec string that :func:`parse_degradation` reads back into this degradation."""
        if self.codec is None:
            return self.base
        name = {v: k for k, v in CODECS.items()}[self.codec.encoder]
        crf = f"{self.crf_range[0]}-{self.crf_range[1]}" if self.crf_range else str(self.codec.crf)
        return f"{'' if self.base == 'bi' else self.base + '+'}{name}:{crf}"

    @property
    def flips_commute(self) -> bool:
        """Whether flipping the HR and flipping its LR give the same pair. BI and real resize about
        pixel centres, so all 8 dihedral symmetries keep an LR pixel on its HR cell; BD puts LR
        pixel i on HR pixel s·i, which a flip moves to s·i + s − 1 (a transpose keeps it)."""
        return self.base != "bd"

    @property
    def per_frame(self) -> bool:
        """Whether each frame's LR depends on that frame only (no codec, nothing random): then a
        crop of the degraded frame equals the degraded crop away from the borders, and a clip
        can be degraded frame by frame."""
        return self.base != "real" and self.codec is None

    @property
    def random(self) -> bool:
        """Whether :meth:`apply` draws from its seed (``real``, and a codec with a CRF range)."""
        return self.base == "real" or self.crf_range is not None

    def downsample(self, hr: Tensor, scale: int) -> Tensor:
        """The LR of (…, H, W) by the deterministic base (bi or bd), HR cropped to multiples of
        ``scale`` first; for bi the LR of :func:`bi_degrade`, without its upsampling."""
        if self.base == "real":
            raise ValueError("real is a clip-level pipeline; use apply()")
        hr = crop_to_multiple(hr, scale)
        if hr.dim() == 4 and hr.shape[0] > _CHUNK:  # a whole scene at once would hold several GB of float64
            return torch.cat([self.downsample(hr[i : i + _CHUNK], scale) for i in range(0, hr.shape[0], _CHUNK)])
        return bd_downsample(hr, scale) if self.base == "bd" else imresize(hr, 1 / scale)

    def apply(self, hr: Tensor, scale: int, seed: int | tuple[int, ...] = 0) -> tuple[Tensor, dict[str, Any]]:
        """The LR clip (T, C, H/s, W/s) uint8 of a (T, C, H, W) uint8 clip (C = 1 or 3) cropped to
        multiples of ``scale``, and what was done: the spec, the codec's settings, and for
        ``real`` the seed and every drawn parameter (JSON-ready)."""
        check_scale(scale)
        if hr.dim() != 4 or hr.dtype != torch.uint8:
            raise ValueError(f"expected a (T, C, H, W) uint8 clip, got {tuple(hr.shape)} {hr.dtype}")
        hr = crop_to_multiple(hr, scale)
        if self.base == "real":
            rng = np.random.default_rng(seed)
            params = draw_real(rng, self.real)
            record = {"spec": self.spec, "scale": scale, "seed": _seed_json(seed), "params": params}
            return real_degrade(hr, scale, params, rng), record
        lr, record = self.compress(self.downsample(hr, scale), seed)
        return lr, {"spec": self.spec, "scale": scale} | record

    def compress(self, lr: Tensor, seed: int | tuple[int, ...] = 0) -> tuple[Tensor, dict[str, Any]]:
        """The codec stage alone (bi and bd bases), over a (T, C, h, w) uint8 clip that
        :meth:`downsample` made: the clip after the codec (itself without one) and, for a CRF range,
        the seed and the drawn CRF. ``apply(hr, s, seed)`` is ``compress(downsample(hr, s), seed)``."""
        if self.base == "real":
            raise ValueError("real draws its codecs inside its pipeline; use apply()")
        if self.codec is None:
            return lr, {}
        if self.crf_range is None:
            return self.codec(lr), {}
        crf = int(np.random.default_rng(seed).integers(self.crf_range[0], self.crf_range[1] + 1))
        return (replace(self.codec, crf=crf)(lr),
                {"seed": _seed_json(seed), "params": {"crf": crf}})

    def describe(self) -> dict[str, Any]:
        """The fixed choices of this degradation (no drawn values), for a results file."""
        out: dict[str, Any] = {"spec": self.spec, "downsampling": DESCRIPTIONS[self.base]}
        if self.codec is not None:
            out["codec"] = self.codec.record() | {"applied_to": "the whole LR clip, one stream"}
            if self.crf_range is not None:
                out["codec"]["crf"] = f"{self.crf_range[0]}-{self.crf_range[1]}, drawn per clip"
        if self.base == "real":
            out["ranges"] = asdict(self.real)
        return out


DESCRIPTIONS = {
    "bi": "BI: MATLAB bicubic imresize by 1/s, antialiased (Sec. 3.1), uint8",
    "bd": f"BD: {BD_KERNEL_SIZE}×{BD_KERNEL_SIZE} Gaussian, σ = {BD_SIGMA_PER_SCALE}·s, reflect padding, "
          "every s-th pixel from the first (BasicSR duf_downsample), uint8",
    "real": "real: Real-ESRGAN/RealBasicVSR second-order random pipeline with H.264/H.265 (savsr.data.degradation)",
}
BI = Degradation("bi")
_CHUNK = 16  # frames downsampled at once by Degradation.downsample


def _seed_json(seed: int | tuple[int, ...]) -> int | list[int]:
    """A seed as a record holds it (JSON has no tuples)."""
    return list(seed) if isinstance(seed, tuple) else seed


_SPEC = re.compile(r"^(?:(?P<base>bi|bd)\+)?(?P<codec>h264|h265):(?P<crf>-?\d+)(?:-(?P<high>\d+))?$")
SPEC_HELP = "bi, bd, real, h264:CRF, h265:CRF or bd+h264:CRF (CRF 0-51, or a range LO-HI drawn per clip)"


def parse_degradation(spec: str | Degradation) -> Degradation:
    """The degradation a spec string names: ``bi``, ``bd``, ``real``, ``h264:CRF`` or ``h265:CRF``
    (BI then the codec over the whole LR clip, CRF 0-51, preset medium), or ``bd+h264:CRF``; a CRF
    written ``LO-HI`` is drawn per clip. A ParameterError naming ``degradation`` for anything else."""
    if isinstance(spec, Degradation):
        return spec
    text = spec.strip().lower()
    if text in BASES:
        return Degradation(text)
    m = _SPEC.match(text)
    if m is None:
        raise ParameterError("degradation", f"{{param}}: unknown degradation {spec!r}; expected {SPEC_HELP}")
    crf = int(m["crf"])
    return Degradation(m["base"] or "bi", VideoCodec(CODECS[m["codec"]], crf),
                       crf_range=(crf, int(m["high"])) if m["high"] is not None else None)
