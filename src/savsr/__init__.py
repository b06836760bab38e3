"""savsr: spatially adaptive losses for video super-resolution with GANs.

Implements Wang, Lucas, Lopez-Tapia, Wu, Molina and Katsaggelos, "Spatially Adaptive Losses for
Video Super-Resolution with GANs", ICASSP 2019. Equations are named by their number in that paper.
"""

from importlib.metadata import PackageNotFoundError, version

from .telemetry import turn_off_telemetry

turn_off_telemetry()  # before anything imports OpenVINO, NNCF or Ray (savsr/telemetry.py)

try:
    __version__ = version("savsr")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["Upscaler", "__version__", "available_models", "load_model", "upscale_file"]


def __getattr__(name: str):
    # The API is imported on first use, so that `savsr --version` does not load torch.
    if name in ("load_model", "Upscaler"):
        from .infer import upscaler

        return getattr(upscaler, name)
    if name == "upscale_file":
        from .infer.pipeline import upscale_file

        return upscale_file
    if name == "available_models":
        from .models.zoo import available_models

        return available_models
    raise AttributeError(f"module 'savsr' has no attribute {name!r}")
