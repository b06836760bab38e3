"""Figures: the spatial-activity maps of the paper's Fig. 1."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402
from mpl_toolkits.axes_grid1 import make_axes_locatable  # noqa: E402

from .data.color import rgb_to_y  # noqa: E402
from .errors import SavsrError  # noqa: E402
from .fileio import atomic_output, check_writable  # noqa: E402
from .data.activity import DELTA, WINDOW, activity_weights  # noqa: E402


def check_figure_path(out: Path, overwrite: bool) -> None:
    """Refuse, before anything is drawn, an existing ``out`` (without ``overwrite``) or a name
    whose suffix matplotlib cannot write (it picks the format from the suffix)."""
    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix.lower().lstrip(".") not in formats:
        raise SavsrError(f"{out}: unsupported figure format {out.suffix or '(no suffix)'}; "
                         f"use one of {', '.join('.' + f for f in sorted(formats))}")
    check_writable(out, overwrite)


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W, C) float image to its (H, W) BT.601 Y in [0, 1] (grey images pass through)."""
    if image.shape[2] == 1:
        return image[..., 0]
    x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].double()
    return rgb_to_y(x)[0, 0].numpy()


def activity_map(image: np.ndarray, delta: float = DELTA, window: int = WINDOW) -> np.ndarray:
    """W of Eq. 3 on the Y channel of an (H, W, C) image in [0, 1]; returns (H, W) float64."""
    y = torch.from_numpy(luma(image))[None, None]
    return activity_weights(y, delta, window)[0, 0].numpy()


def save_activity_figure(
    image: np.ndarray, out: str | Path, delta: float = DELTA, window: int = WINDOW, overwrite: bool = False
) -> Path:
    """Draw Fig. 1 for one image: the image, W (Eq. 3) and the noise visibility 1 − W, with colour bars."""
    out = Path(out)
    check_figure_path(out, overwrite)
    w = activity_map(image, delta, window)
    h, wd = w.shape
    fig, axes = plt.subplots(1, 3, figsize=(16, 16 * h / wd / 3 + 0.9))
    shown = image[..., 0] if image.shape[2] == 1 else image
    axes[0].imshow(np.clip(shown, 0, 1), cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
    axes[0].set_title("image")
    # An empty bar slot keeps the three panels the same size.
    make_axes_locatable(axes[0]).append_axes("right", size="3%", pad=0.08).set_axis_off()
    for ax, data, title in ((axes[1], w, "W (Eq. 3)"), (axes[2], 1 - w, "noise visibility 1 − W")):
        im = ax.imshow(data, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title)
        # A bar of the image's own height, not the figure's.
        fig.colorbar(im, cax=make_axes_locatable(ax).append_axes("right", size="3%", pad=0.08))
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(f"Spatial activity on Y, window {window}×{window}, δ = {delta:g}")
    with atomic_output(out, overwrite) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def save_comparison_figure(
    panels: dict[str, np.ndarray], out: str | Path, box: tuple[int, int, int, int], overwrite: bool = False,
    title: str = "",
) -> Path:
    """Fig. 4/5-style comparison: each (H, W, 3) image in [0, 1] with a zoomed inset of ``box``.

    ``box`` is (top, left, height, width) in pixels; it is outlined on the full image and shown
    enlarged (nearest neighbour, so no detail is invented) below it.
    """
    from matplotlib.patches import Rectangle

    out = Path(out)
    check_figure_path(out, overwrite)
    top, left, bh, bw = box
    n = len(panels)
    first = next(iter(panels.values()))
    h, w = first.shape[:2]
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 4.2 * (h / w + bh / bw) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": [h / w, bh / bw]})
    for col, (name, img) in enumerate(panels.items()):
        img = np.clip(img, 0, 1)
        axes[0, col].imshow(img)
        axes[0, col].add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="yellow", linewidth=1.5))
        axes[0, col].set_title(name)
        axes[1, col].imshow(img[top : top + bh, left : left + bw], interpolation="nearest")
        for ax in axes[:, col]:
            ax.set_axis_off()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_output(out, overwrite) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
