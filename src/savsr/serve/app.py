"""The web application: the page, the job API, uploads and the event stream, behind a guard
that checks the token, the Host header and cross-site requests on every request."""

from __future__ import annotations

import asyncio
import hmac
import html
import ipaddress
import json
import os
import re
import secrets
import shutil
import threading
import unicodedata
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import SavsrError
from ..fileio import DISK_FULL
from ..infer.batch import plan
from ..infer.pipeline import parse_frames
from ..media.reader import IMAGE_SUFFIXES, VIDEO_INPUT_SUFFIXES, FrameSource
from .memory import release_memory
from .store import FINISHED, JobStore
from .views import VIEWS, view
from .worker import RunSettings, Worker

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")  # as savsr upscale's --precision
TOKEN_COOKIE, TOKEN_HEADER, REQUEST_HEADER = "savsr_token", "x-savsr-token", "x-savsr-request"
_ID = re.compile(r"[A-Za-z0-9_-]{16}")
EVENT_POLL, EVENT_KEEPALIVE = 0.5, 15.0  # seconds
# Uploads probed at once: each probe runs FFmpeg's decoder with its threads and frame buffers, so
# many uploads finishing together would otherwise hold as many decoders in memory.
PROBES_AT_ONCE = 2
# The names an upload may have. FFmpeg picks some demuxers by the name alone (a .txt file is
# "ANSI art" video to it), so a name outside these is refused before the probe.
UPLOAD_SUFFIXES = VIDEO_INPUT_SUFFIXES | IMAGE_SUFFIXES


@dataclass(frozen=True)
class AppConfig:
    """What the application needs: its data folder, the models it offers and its limits."""

    data: Path
    models: dict[str, str]  # name shown -> bundled name or generator file
    scales: dict[str, int]  # name shown -> its scale
    token: str | None = None
    max_upload: int = 2 << 30
    loopback: bool = True  # bound to this machine only: other Host headers are refused (DNS rebinding)
    device: str = "auto"
    segment_frames: int = 250
    ray: str | None = None
    purposes: dict[str, str] = field(default_factory=dict)  # name shown -> what it is for, in one line
    defaults: dict[int, str] = field(default_factory=dict)  # scale -> the model `savsr upscale --scale S` takes
    keep_days: float | None = None  # finished jobs older than this are deleted at start; None: kept

    def default_for(self, scale: int | None = None) -> str:
        """The model a job of ``scale`` gets when none is named: the CLI's default where this
        server offers it, else the first offered of that scale; ``scale`` None: ×4, as in the CLI."""
        offered = [n for n in self.models if self.scales[n] == (scale or 4)]
        if not offered and scale is not None:
            raise Refused(400, f"this server offers no ×{scale} model")
        first = (offered or list(self.models))[0]
        default = self.defaults.get(self.scales[first])
        return default if default in self.models else first


class Refused(Exception):
    """A request refused with an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _refusal(request: Request, status: int, message: str) -> Response:
    """The guard's refusal: a page for a browser that asks for one (opening the address without
    its token), the JSON error for the page's own requests and for scripts."""
    if "text/html" not in request.headers.get("accept", ""):
        return _error(status, message)
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>savsr: {status}</title></head>'
            f'<body style="font-family: system-ui, sans-serif; margin: 2rem"><h1>savsr serve</h1>'
            f"<p>{html.escape(message)}.</p></body></html>")
    return HTMLResponse(body, status_code=status)


def names_this_machine(host: str) -> bool:
    """Whether a Host header (name or address, with or without a port) names this machine:
    localhost, or any loopback address (127.0.0.0/8, ::1). Names others could point here by DNS
    are refused (DNS rebinding)."""
    if host.startswith("["):  # an IPv6 address, bracketed, with or without a port
        name = host[1:host.find("]")]
    else:  # a name or IPv4 address with or without a port, or a bare IPv6 address
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware in front of every route: with a token, a request must carry it (header,
    cookie or ``token`` query parameter); bound to loopback, the Host must name this machine;
    a request that changes state must carry the X-Savsr-Request header (which no cross-site form
    or simple request can send) and, if it has an Origin, come from this server's own."""

    def __init__(self, app: ASGIApp, token: str | None, loopback: bool) -> None:
        self.app, self.token, self.loopback = app, token, loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            problem = self._check(request)
            if problem is not None:
                await _refusal(request, *problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check(self, request: Request) -> tuple[int, str] | None:
        host = request.headers.get("host", "")
        if self.loopback and not names_this_machine(host):
            return 421, f"this server answers only for localhost and loopback addresses, not {host[:80]!r}"
        if self.token is not None:
            given = (request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
                     or request.query_params.get("token") or "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, "a valid token is needed: open the address the server printed at its start"
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if request.headers.get(REQUEST_HEADER) != "1" or (
                    origin is not None and origin != f"{request.url.scheme}://{host}"):
                return 403, "cross-site request refused"
        return None


NAME_BYTES = 150  # an upload's name at most, in UTF-8: file systems hold 255 bytes, and the job id goes before it


def safe_name(name: str) -> str:
    """An uploaded file's name as its user has it, made a safe file name: Unicode NFC, any letters,
    digits, spaces and punctuation kept; path separators and control and format characters
    replaced by '_'; the folders before the last separator, and leading dots and spaces, dropped
    (no hidden file, no '..'); at most :data:`NAME_BYTES` bytes in UTF-8, its suffix kept."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join("_" if unicodedata.category(c).startswith("C") else c for c in name).strip().lstrip(". ")
    stem, dot, suffix = (base or "upload").rpartition(".")
    stem, suffix = (stem, f".{suffix}") if dot and stem and len(suffix) <= 10 else (base or "upload", "")
    while len((stem + suffix).encode()) > NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip() + suffix


def public(job: dict) -> dict:
    """A job as the page sees it: no server paths, with its ETA and result name."""
    eta = None
    if job["status"] == "running" and job["fps"] and job["total"]:
        eta = max(job["total"] - job["done"], 0) / job["fps"]
    keys = ("id", "name", "kind", "width", "height", "model", "scale", "precision", "frames", "start", "total",
            "status", "done", "fps", "message", "created")
    return {**{k: job[k] for k in keys}, "eta": eta,
            "result": result_name(job) if job["status"] == "done" else None}


def result_name(job: dict) -> str:
    """The download's file name: the input's stem, the scale, and the output's suffix."""
    dst = Path(job["dst"])
    return f"{Path(job['name']).stem}_x{job['scale']}{dst.suffix}"


def count_frames(source: FrameSource) -> int | None:
    """A video's frame count: the container's, else its video packets counted (no decoding)."""
    if source.info.num_frames is not None or not source.info.is_video:
        return source.info.num_frames
    import av

    with av.open(str(source.path)) as container:
        return sum(1 for p in container.demux(container.streams.video[0]) if p.size) or None


class Server:
    """The routes, with the store and the worker they share."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.data = config.data
        for sub in ("jobs", "incoming"):
            (self.data / sub).mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.data / "incoming", ignore_errors=True)  # uploads cut short by a kill
        (self.data / "incoming").mkdir()
        self.store = JobStore(self.data / "jobs.sqlite3")
        self._probes = threading.BoundedSemaphore(PROBES_AT_ONCE)
        self.worker = Worker(self.store, self.data, RunSettings(config.models, config.device, config.segment_frames,
                                                                config.ray))

    # ------------------------------------------------------------------ pages and lists
    async def index(self, request: Request) -> Response:
        page = FileResponse(Path(str(files("savsr.serve") / "static" / "index.html")),
                            headers={"Cache-Control": "no-store"})
        if self.config.token is not None:  # the page's own later requests, downloads and events carry it
            page.set_cookie(TOKEN_COOKIE, self.config.token, httponly=True, samesite="strict")
        return page

    async def models(self, request: Request) -> Response:
        scales = sorted(set(self.config.scales.values()))
        models = [{"name": n, "scale": self.config.scales[n], "purpose": self.config.purposes.get(n, "")}
                  for n in self.config.models]
        return JSONResponse({"models": models, "defaults": {s: self.config.default_for(s) for s in scales},
                             "scale": self.config.scales[self.config.default_for()],
                             "precisions": list(PRECISIONS), "max_upload": self.config.max_upload})

    async def jobs(self, request: Request) -> Response:
        return JSONResponse({"jobs": [public(j) for j in self.store.all()]})

    def _job(self, request: Request) -> dict:
        job_id = request.path_params["job_id"]
        job = self.store.get(job_id) if _ID.fullmatch(job_id) else None
        if job is None:
            raise Refused(404, "no such job")
        return job

    async def job(self, request: Request) -> Response:
        return JSONResponse(public(self._job(request)))

    # ------------------------------------------------------------------ queueing
    def _options(self, request: Request) -> dict:
        """The job's settings from the query, checked before any byte is read."""
        q = request.query_params
        if q.get("scale") and not q["scale"].isdigit():
            raise Refused(400, f"scale {q['scale'][:10]!r}: expected 2, 3 or 4")
        model = q.get("model") or self.config.default_for(int(q["scale"]) if q.get("scale") else None)
        if model not in self.config.models:
            raise Refused(400, f"unknown model {model[:60]!r}; this server offers {', '.join(self.config.models)}")
        scale = self.config.scales[model]
        if q.get("scale") and q["scale"] != str(scale):
            raise Refused(400, f"model {model} super-resolves ×{scale}, not ×{q['scale'][:10]}")
        precision = q.get("precision") or "auto"
        if precision not in PRECISIONS:
            raise Refused(400, f"unknown precision {precision[:20]!r}; expected one of {', '.join(PRECISIONS)}")
        frames = (q.get("frames") or "").strip()
        try:
            parse_frames(frames or None)
        except SavsrError as exc:
            raise Refused(400, str(exc)) from None
        return {"model": model, "scale": scale, "precision": precision, "frames": frames}

    async def _receive(self, request: Request, path: Path) -> None:
        """Stream the request body into ``path``, refusing it past the upload limit or on a full disk."""
        limit = self.config.max_upload
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise Refused(413, f"the file is larger than this server's upload limit of {limit:,} bytes")
        size = 0
        try:
            with open(path, "xb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise Refused(413, f"the file is larger than this server's upload limit of {limit:,} bytes")
                    out.write(chunk)
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise Refused(507, "the server's disk is full; the upload was not kept") from None
            raise
        if size == 0:
            raise Refused(400, "the file is empty")

    async def create(self, request: Request) -> Response:
        """Upload one file (the request body) and queue it with the settings of the query."""
        options = self._options(request)
        name = safe_name(request.query_params.get("name") or "upload")
        if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
            raise Refused(415, f"{name}: not a video or image name; expected one of "
                               f"{', '.join(sorted(UPLOAD_SUFFIXES))}")
        job_id = secrets.token_urlsafe(12)
        incoming = self.data / "incoming" / f"{job_id}-{name}"
        try:
            await self._receive(request, incoming)
            job = await run_in_threadpool(self._queue, job_id, name, incoming, options)
        finally:
            incoming.unlink(missing_ok=True)
        self.worker.wake()
        return JSONResponse(public(job), status_code=201)

    def _queue(self, job_id: str, name: str, incoming: Path, options: dict) -> dict:
        """Probe the uploaded file, move it into its job's folder and add the job; a file that is
        not a video or image is refused (and the caller deletes it)."""
        try:
            with self._probes:
                try:
                    source = FrameSource(incoming)
                    total = count_frames(source)
                finally:
                    release_memory()
        except SavsrError as exc:  # its message names the file once: by the name the user gave it
            raise Refused(415, str(exc).replace(str(incoming), name)) from None
        info = source.info
        image_name = Path(name).suffix.lower() in IMAGE_SUFFIXES
        if info.is_video == image_name:  # the name's type only once the bytes agree
            found, wanted = ("a video", "a video name (.mp4, .mkv, …)") if info.is_video else (
                "an image", "an image name (.png, .jpg, …)")
            raise Refused(415, f"{name}: the file is {found}, not what its name says; upload it under {wanted}")
        start, stop = parse_frames(options["frames"] or None)
        if total is not None:
            stop = total if stop is None else min(stop, total)
            if start >= stop:
                raise Refused(400, f"{name} has {total} frame(s); the range {options['frames']} selects none")
            total = stop - start
        elif stop is not None:
            total = stop - start
        folder = self.data / "jobs" / job_id
        src = folder / "input" / name
        src.parent.mkdir(parents=True)
        try:
            os.replace(incoming, src)
            dst = plan([src], folder / "output")[0].dst
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if exc.errno in DISK_FULL:
                raise Refused(507, "the server's disk is full; the upload was not kept") from None
            raise
        job = {"id": job_id, "name": name, "src": str(src.relative_to(self.data)),
               "dst": str(dst.relative_to(self.data)), "kind": "video" if info.is_video else "image",
               "width": info.width, "height": info.height, **options, "start": start, "total": total,
               "status": "queued"}
        self.store.add(job)
        return self.store.get(job_id)

    async def cancel(self, request: Request) -> Response:
        job = self._job(request)
        if not self.worker.cancel(job["id"]):
            raise Refused(409, f"the job is {job['status']}; only queued and running jobs can be cancelled")
        return JSONResponse(public(self.store.get(job["id"])))

    async def delete(self, request: Request) -> Response:
        """Delete a job and all its files (a running job is cancelled first, and goes once it stops)."""
        job = self._job(request)
        if not await run_in_threadpool(self.worker.delete, job["id"]):
            raise Refused(404, "no such job")
        return JSONResponse({"deleted": [job["id"]]})

    async def clear(self, request: Request) -> Response:
        """Delete every finished job (done, failed, cancelled) and its files."""
        deleted = await run_in_threadpool(lambda: [i for i in self.store.ids(FINISHED) if self.worker.delete(i)])
        return JSONResponse({"deleted": deleted})

    # ------------------------------------------------------------------ results
    async def result(self, request: Request) -> Response:
        job = self._job(request)
        if job["status"] != "done":
            raise Refused(409, f"the job is {job['status']}; its result can be downloaded once it is done")
        return FileResponse(self.data / job["dst"], filename=result_name(job))

    async def frame(self, request: Request) -> Response:
        """A PNG of one frame: the bicubic upsampling, the SR frame, or W (Eq. 3) of the input."""
        job = self._job(request)
        kind, index = request.path_params["kind"], request.path_params["index"]
        if kind not in VIEWS:
            raise Refused(404, f"no view {kind[:20]!r}; the views are {', '.join(VIEWS)}")
        count = job["done"] if job["status"] == "done" else job["total"]  # an input cut short: the frames it had
        last = job["start"] + count - 1 if count else None
        if index < job["start"] or (last is not None and index > last):
            raise Refused(404, f"frame {index} is not among this job's frames {job['start']} to {last}")
        if kind == "sr" and job["status"] != "done":
            raise Refused(409, "the super-resolved frames can be seen once the job is done")
        if job["status"] in ("cancelled", "deleting"):
            raise Refused(409, f"the job is {job['status']}; its input is not kept")
        try:
            body = await run_in_threadpool(view, job, self.data, index, kind)
        except SavsrError as exc:
            raise Refused(404, str(exc).replace(f"{self.data}/", "")) from None
        return Response(body, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def events(self, request: Request) -> Response:
        """Server-sent events: the job list each time it changes (and a comment now and then,
        so that proxies keep the stream open)."""
        async def stream():
            last, quiet = None, 0.0
            while not await request.is_disconnected():
                body = json.dumps([public(j) for j in await run_in_threadpool(self.store.all)])
                if body != last:
                    yield f"data: {body}\n\n"
                    last, quiet = body, 0.0
                elif quiet >= EVENT_KEEPALIVE:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                await asyncio.sleep(EVENT_POLL)
                quiet += EVENT_POLL

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def create_app(config: AppConfig) -> Starlette:
    """The ASGI application of ``savsr serve``; its worker runs from start-up to shutdown."""
    server = Server(config)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        server.worker.start(config.keep_days)
        try:
            yield
        finally:
            await run_in_threadpool(server.worker.stop)
            server.store.close()

    def refused(request: Request, exc: Exception) -> Response:
        if isinstance(exc, Refused):
            return _error(exc.status, str(exc))
        return _error(400, str(exc).replace(f"{config.data}/", ""))  # a SavsrError, without server paths

    routes = [
        Route("/", server.index),
        Route("/api/models", server.models),
        Route("/api/jobs", server.jobs, methods=["GET"]),
        Route("/api/jobs", server.create, methods=["POST"]),
        Route("/api/jobs/clear", server.clear, methods=["POST"]),
        Route("/api/jobs/{job_id}", server.job, methods=["GET"]),
        Route("/api/jobs/{job_id}", server.delete, methods=["DELETE"]),
        Route("/api/jobs/{job_id}/cancel", server.cancel, methods=["POST"]),
        Route("/api/jobs/{job_id}/result", server.result),
        Route("/api/jobs/{job_id}/frames/{index:int}/{kind}.png", server.frame),
        Route("/api/events", server.events),
        Mount("/static", StaticFiles(packages=[("savsr.serve", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Refused: refused, SavsrError: refused})
    app.add_middleware(Guard, token=config.token, loopback=config.loopback)
    app.state.server = server
    return app
