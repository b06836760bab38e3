"""``savsr serve``: a local web page for upscaling, on the same file pipeline as ``savsr upscale``.

Uploads are streamed to disk and probed, jobs are kept in SQLite in the data folder and run one
after the other by a worker through :func:`savsr.infer.pipeline.upscale_file` (or on a Ray
cluster through the batch engine), so a killed server resumes them where they stopped. The page
(static files in ``static/``, nothing fetched from elsewhere) shows live progress, a before/after
slider and the W map of Eq. 3 for any frame (docs/serve.md).
"""

from __future__ import annotations

import multiprocessing
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError, SavsrError
from ..media.mux import DEFAULT_SEGMENT_FRAMES
from .app import AppConfig, create_app, names_this_machine
from .memory import limit_arenas

__all__ = ["ServeConfig", "create_app", "app_config", "check_binding", "new_token", "serve"]

DEFAULT_MAX_UPLOAD = 2 << 30  # 2 GiB: a few minutes of 1080p at a camera's bit rate


@dataclass(frozen=True)
class ServeConfig:
    """Where ``savsr serve`` listens, where it keeps its data, and what it offers."""

    data: Path = Path("serve_data")
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    model_files: tuple[Path, ...] = ()  # generator files offered beside the bundled models
    device: str = "auto"
    segment_frames: int = DEFAULT_SEGMENT_FRAMES
    ray: str | None = None  # None: jobs run here; "": a local Ray cluster; else its address
    keep_days: float | None = None  # finished jobs older than this are deleted at start; None: kept


def new_token() -> str:
    """A random token for a server that others can reach."""
    return secrets.token_urlsafe(24)


def check_binding(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token."""
    if not names_this_machine(host) and not token:
        raise ParameterError("token", f"{host} can be reached from other machines; listening there needs a token: "
                                      "pass {param} TOKEN, or {param} auto for a random one")


def app_config(config: ServeConfig) -> AppConfig:
    """The application's settings: the bundled models and the given files, by name."""
    from ..models.checkpoint import read_spec
    from ..models.zoo import DEFAULTS, available_models, purpose

    bundled = available_models()
    models = {m.name: m.name for m in bundled}
    scales = {m.name: m.spec.scale for m in bundled}
    purposes = {m.name: m.purpose for m in bundled}
    for path in config.model_files:
        if not path.is_file():
            raise SavsrError(f"{path}: no such generator file")
        spec, meta = read_spec(path)
        models[path.stem], scales[path.stem] = str(path.resolve()), spec.scale
        purposes[path.stem] = purpose(path.stem, spec, meta.get("degradation", "bi"))
    if not models:
        raise SavsrError("no models to offer: none is bundled and no generator file was given")
    defaults = {scale: name for scale, name in DEFAULTS.items() if models.get(name) == name}  # savsr upscale's
    return AppConfig(config.data.resolve(), models, scales, config.token, config.max_upload,
                     names_this_machine(config.host), config.device, config.segment_frames, config.ray,
                     purposes=purposes, defaults=defaults, keep_days=config.keep_days)


def _check_port(host: str, port: int) -> None:
    """Refuse, with one line, a port that is taken or that cannot be bound."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise SavsrError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def page_address(host: str, port: int, token: str | None) -> str:
    """The address to open the page at: the bound one, or where it listens on every address
    (0.0.0.0, ::), this machine's name, which other machines can open (an address of all
    interfaces is not one a browser can reach)."""
    bare = host.strip("[]")
    if bare in ("0.0.0.0", "::"):
        bare = socket.gethostname()
    shown = f"[{bare}]" if ":" in bare else bare
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(config: ServeConfig, announce=print) -> None:
    """Run the server until it is stopped (Ctrl-C); ``announce`` is given the page's address."""
    import uvicorn

    check_binding(config.host, config.token)
    _check_port(config.host, config.port)
    # A process a library starts from this threaded server is spawned: a forked child inherits
    # locks that other threads held, and hung holding the port (issue #51).
    multiprocessing.set_start_method("spawn", force=True)
    limit_arenas()  # this process is the server's: cap its arenas before its threads start
    app = create_app(app_config(config))
    announce(f"savsr serve: open {page_address(config.host, config.port, config.token)} "
             f"(data in {config.data}; Ctrl-C stops)")
    # A short graceful shutdown: open event streams would otherwise hold it until they close.
    uvicorn.run(app, host=config.host.strip("[]"), port=config.port, log_level="warning",
                timeout_graceful_shutdown=2)
