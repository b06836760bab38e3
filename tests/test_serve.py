"""`savsr serve`'s API in process (Starlette's TestClient): every endpoint, and each bad input
refused with its message while the server keeps serving (issue #34)."""

from __future__ import annotations

import io
import json
import socket
import sqlite3
import struct
import time
import zlib
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image
from starlette.testclient import TestClient

from media_clips import marked_clip, rich_clip
from serve_helpers import HEADERS, frames, noise_image, reference, wait_job
from savsr.cli import main
from savsr.data.resize import imresize
from savsr.models.zoo import default_model
from savsr.serve import ServeConfig, app_config, check_binding, page_address
from savsr.serve.app import AppConfig, create_app, public, safe_name
from savsr.serve.store import JobStore
from savsr.serve.worker import RunSettings, Worker

MAX_UPLOAD = 2_000_000
BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_clip(tmp_path_factory.mktemp("clip") / "phone.mkv", frames=8, size=(64, 48), rotation=0)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rich_clip(tmp_path_factory.mktemp("clip") / "long.mkv", frames=60, size=(160, 120), rotation=0)


def _config(data: Path, model_file: Path, **kw) -> AppConfig:
    return AppConfig(data, {"tiny": str(model_file)}, {"tiny": 2}, max_upload=MAX_UPLOAD, device="cpu",
                     segment_frames=4, **kw)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve_data")


@pytest.fixture(scope="module")
def client(data: Path, model_file: Path):
    with TestClient(create_app(_config(data, model_file)), base_url=BASE) as c:
        yield c


def _upload(client: TestClient, path: Path | bytes, name: str, **query) -> tuple[int, dict]:
    body = path if isinstance(path, bytes) else path.read_bytes()
    r = client.post("/api/jobs", params={"name": name, "model": "tiny", "precision": "fp32", **query},
                    content=body, headers=HEADERS)
    return r.status_code, r.json()


def _png(response) -> np.ndarray:
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def _w_reference(rgb: np.ndarray) -> np.ndarray:
    """W of Eq. 3 on Y, computed here by brute force: BT.601 Y, the variance over each 3×3 window
    clipped to the image, μ / (μ + 0.01), then viridis as 8-bit RGB."""
    x = rgb.astype(np.float64) / 255.0
    y = (16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0
    h, w = y.shape
    mu = np.empty_like(y)
    for i in range(h):
        for j in range(w):
            patch = y[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
            mu[i, j] = patch.var()
    return (colormaps["viridis"](mu / (mu + 0.01))[..., :3] * 255 + 0.5).astype(np.uint8)


def test_a_video_job_from_upload_to_download(client: TestClient, clip: Path, model_file: Path, tmp_path: Path,
                                             data: Path) -> None:
    """Upload, queue with a frame range, follow, download: the result is `savsr upscale`'s with the
    same settings, byte for byte; the frame views are the bicubic upsampling, the SR frame and W."""
    code, job = _upload(client, clip, "my clip.mkv", frames="2:7", scale="2")
    assert code == 201, job
    assert (job["name"], job["kind"], job["total"], job["start"], job["width"], job["status"]) == \
        ("my clip.mkv", "video", 5, 2, 64, "queued")
    done = wait_job(client.get, job["id"])
    assert done["done"] == 5 and done["result"] == "my clip_x2.mkv"
    assert job["id"] in [j["id"] for j in client.get("/api/jobs").json()["jobs"]]

    r = client.get(f"/api/jobs/{job['id']}/result")
    assert r.status_code == 200 and r.headers["content-disposition"] == "attachment; filename*=utf-8''my%20clip_x2.mkv"
    (tmp_path / "got.mkv").write_bytes(r.content)
    got = frames(tmp_path / "got.mkv")
    want = reference(clip, tmp_path / "want.mkv", model_file, "--precision", "fp32", "--frames", "2:7",
                     "--segment-frames", "4")
    assert got.shape == (5, 96, 128, 3) and np.array_equal(got, want)
    assert r.content == (tmp_path / "want.mkv").read_bytes()  # the same bytes, H.264 in Matroska

    lr = frames(clip)[3]
    sr = _png(client.get(f"/api/jobs/{job['id']}/frames/3/sr.png"))
    assert np.array_equal(sr, got[1])
    bicubic = _png(client.get(f"/api/jobs/{job['id']}/frames/3/bicubic.png"))
    up = imresize(torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1))), 2)  # MATLAB's bicubic on uint8
    assert bicubic.shape == sr.shape and np.array_equal(bicubic, up.permute(1, 2, 0).numpy())
    w = _png(client.get(f"/api/jobs/{job['id']}/frames/3/w.png"))
    assert w.shape == lr.shape and np.abs(w.astype(int) - _w_reference(lr)).max() <= 1
    assert not list((data / "incoming").iterdir())


def test_an_image_job(client: TestClient, model_file: Path, tmp_path: Path) -> None:
    src = noise_image(tmp_path / "still.png", (40, 30))
    code, job = _upload(client, src, "still.png")
    assert code == 201 and job["kind"] == "image" and job["total"] == 1
    wait_job(client.get, job["id"])
    r = client.get(f"/api/jobs/{job['id']}/result")
    (tmp_path / "got.png").write_bytes(r.content)
    assert np.array_equal(frames(tmp_path / "got.png"), reference(src, tmp_path / "want.png", model_file,
                                                                   "--precision", "fp32"))
    assert _png(client.get(f"/api/jobs/{job['id']}/frames/0/w.png")).shape == (30, 40, 3)


def test_cancel_a_queued_and_a_running_job(client: TestClient, long_clip: Path, clip: Path, data: Path) -> None:
    _, running = _upload(client, long_clip, "long.mkv")
    _, queued = _upload(client, clip, "waits.mkv")
    wait_job(client.get, running["id"], until=lambda j: j["status"] == "running" and j["fps"])
    r = client.post(f"/api/jobs/{queued['id']}/cancel", headers=HEADERS)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    mid = client.get(f"/api/jobs/{running['id']}").json()
    assert mid["fps"] and mid["fps"] > 0 and mid["eta"] is not None and mid["eta"] > 0
    assert client.post(f"/api/jobs/{running['id']}/cancel", headers=HEADERS).status_code == 200
    stopped = wait_job(client.get, running["id"], ("cancelled",))
    assert stopped["done"] < 60
    assert not list((data / "jobs" / running["id"] / "output").iterdir())  # no result, no work folder
    r = client.post(f"/api/jobs/{running['id']}/cancel", headers=HEADERS)
    assert r.status_code == 409 and r.json()["error"] == "the job is cancelled; only queued and running jobs can be cancelled"
    assert client.get(f"/api/jobs/{queued['id']}/result").status_code == 409
    for job in (queued, running):  # a cancelled job's input is not kept, and its views say why
        assert not (data / "jobs" / job["id"] / "input").exists()
        r = client.get(f"/api/jobs/{job['id']}/frames/0/bicubic.png")
        assert r.status_code == 409 and r.json()["error"] == "the job is cancelled; its input is not kept"


def test_a_rotated_clip_is_shown_upright(client: TestClient, tmp_path: Path) -> None:
    """A phone's portrait clip (display rotation 90° counter-clockwise) is shown as players show it
    in every pane: portrait, the mark coded at the top-left now at the bottom-left."""
    code, job = _upload(client, marked_clip(tmp_path / "portrait.mp4", 3, rotation=90), "portrait.mp4")
    assert code == 201, job
    wait_job(client.get, job["id"])
    for kind, shape in (("bicubic", (128, 96, 3)), ("sr", (128, 96, 3)), ("w", (64, 48, 3))):
        image = _png(client.get(f"/api/jobs/{job['id']}/frames/1/{kind}.png"))
        assert image.shape == shape, kind
        if kind != "w":
            assert image[-20:, :28].mean() > 200 and image[:20, :28].mean() < 100 and image[-20:, -28:].mean() < 100


def test_an_input_cut_short_is_reported(client: TestClient, tmp_path: Path) -> None:
    """A video that ends before the frames its container declares: the job says so, and a frame
    past its real end is refused with the job's range."""
    whole = marked_clip(tmp_path / "whole.mp4", 30, options={"movflags": "faststart"})  # the index first
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size * 6 // 10])
    code, job = _upload(client, cut, "cut.mp4")
    assert code == 201 and job["total"] == 30, job
    done = wait_job(client.get, job["id"])
    n = done["done"]
    assert 0 < n < 30 and done["message"] == (f"the input ended after {n} of the 30 frames its container declares "
                                              "(cut short or damaged?); those were all super-resolved")
    r = client.get(f"/api/jobs/{job['id']}/frames/{n}/sr.png")
    assert r.status_code == 404 and r.json()["error"] == f"frame {n} is not among this job's frames 0 to {n - 1}"


def test_frame_rate_and_eta_come_once_frames_flow(tmp_path: Path) -> None:
    """The first report (after the model loaded, or a resumed run's frames found finished) starts
    the clock: no frame/s and no ETA until a frame has been computed after it."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = {"id": "A" * 16, "name": "a.mkv", "src": "a", "dst": "b", "kind": "video", "width": 8, "height": 8,
           "model": "m", "scale": 2, "precision": "fp32", "frames": "", "start": 0, "total": 100, "status": "running"}
    store.add(job)
    tick = Worker(store, tmp_path, RunSettings({}))._progress(job)
    tick(40)  # a resumed run: 40 frames found finished, at once
    assert public(store.get(job["id"]))["eta"] is None and store.get(job["id"])["done"] == 40
    time.sleep(0.3)
    tick(1)
    got = public(store.get(job["id"]))
    assert got["done"] == 41 and 1 / 0.6 < got["fps"] < 1 / 0.29 and got["eta"] == pytest.approx(59 / got["fps"])


def _traces(data: Path, needles: list[str]) -> list[str]:
    """What the data folder still holds of ``needles`` (job ids, file names): paths that name
    one, and files whose bytes hold one (the job list's database and its log included)."""
    found = []
    for path in data.rglob("*"):
        body = path.read_bytes() if path.is_file() else b""
        found += [f"{path}: {n}" for n in needles if n in str(path.relative_to(data)) or n.encode() in body]
    return found


def test_delete_a_queued_a_running_and_a_done_job(model_file: Path, clip: Path, long_clip: Path,
                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    with TestClient(create_app(_config(data, model_file)), base_url=BASE) as c:
        _, done = _upload(c, clip, "finished clip.mkv")
        wait_job(c.get, done["id"])
        _, running = _upload(c, long_clip, "still running.mkv")
        _, queued = _upload(c, clip, "still queued.mkv")
        wait_job(c.get, running["id"], until=lambda j: j["status"] == "running" and j["done"] >= 1)
        for job in (queued, done, running):
            r = c.delete(f"/api/jobs/{job['id']}", headers=HEADERS)
            assert r.status_code == 200 and r.json() == {"deleted": [job["id"]]}, r.text
        assert [c.get(f"/api/jobs/{j['id']}").status_code for j in (queued, done)] == [404, 404]
        deadline = time.monotonic() + 60  # the running job goes once its next frame sees the cancel
        while c.get(f"/api/jobs/{running['id']}").status_code != 404 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/api/jobs").json()["jobs"] == []
        assert c.delete(f"/api/jobs/{done['id']}", headers=HEADERS).status_code == 404
        assert c.delete("/api/jobs/AAAAAAAAAAAAAAAA").status_code == 403  # without the request header: cross-site
    names = ["finished clip", "still running", "still queued"]
    assert _traces(data, [done["id"], running["id"], queued["id"], *names]) == []


def test_clear_finished_and_keep_days(model_file: Path, clip: Path, tmp_path: Path) -> None:
    """Clear finished deletes done, failed and cancelled jobs only; --keep-days N deletes at
    start the finished jobs last changed over N days ago."""
    data = tmp_path / "data"
    with TestClient(create_app(_config(data, model_file)), base_url=BASE) as c:
        ids = [_upload(c, clip, f"clip{i}.mkv")[1]["id"] for i in range(3)]
        for job_id in ids:
            wait_job(c.get, job_id)
    with sqlite3.connect(data / "jobs.sqlite3") as db:
        db.execute("UPDATE jobs SET updated = ? WHERE id = ?", (time.time() - 3 * 86400, ids[0]))
    with TestClient(create_app(_config(data, model_file, keep_days=2)), base_url=BASE) as c:
        assert [j["id"] for j in c.get("/api/jobs").json()["jobs"]] == ids[1:]
        c.app.state.server.worker.stop()  # nothing runs: the next upload stays queued
        _, waiting = _upload(c, clip, "waits.mkv")
        r = c.post("/api/jobs/clear", headers=HEADERS)
        assert r.status_code == 200 and r.json() == {"deleted": ids[1:]}
        assert [j["id"] for j in c.get("/api/jobs").json()["jobs"]] == [waiting["id"]]
    assert _traces(data, ids) == [] and (data / "jobs" / waiting["id"] / "input" / "waits.mkv").is_file()


@pytest.mark.parametrize("body, name, query, status, message", [
    (b"just some text\n", "notes.txt", {}, 415, "notes.txt: not a video or image name; expected one of"),
    (b"\x00\x00\x00\x18ftypmp42" + bytes(3000), "broken.mp4", {}, 415,
     "broken.mp4: not a readable image or video ("),
    (None, "x.mp4\x00.png", {}, 415, "x.mp4_.png: the file is a video, not what its name says; upload it under a video "
                                     "name (.mp4, .mkv, …)"),
    ("png", "photo.mp4", {}, 415, "photo.mp4: the file is an image, not what its name says; upload it under an image "
                                  "name (.png, .jpg, …)"),
    ("huge", "huge.png", {}, 415, "huge.png: declares a frame of over 178956970 pixels, which exceeds the limit of"),
    (b"", "empty.mp4", {}, 400, "the file is empty"),
    (bytes(MAX_UPLOAD + 1), "big.mp4", {}, 413, "the file is larger than this server's upload limit of 2,000,000 bytes"),
    (None, "clip.mkv", {"model": "../../etc/passwd"}, 400, "unknown model '../../etc/passwd'; this server offers tiny"),
    (None, "clip.mkv", {"scale": "4"}, 400, "model tiny super-resolves ×2, not ×4"),
    (None, "clip.mkv", {"precision": "fp8"}, 400, "unknown precision 'fp8'; expected one of auto, fp32, bf16, fp16, int8"),
    (None, "clip.mkv", {"frames": "5:2"}, 400, "frames '5:2': need 0 <= A < B"),
    (None, "clip.mkv", {"frames": "20:30"}, 400, "clip.mkv has 8 frame(s); the range 20:30 selects none"),
])
def test_bad_uploads_are_refused_and_deleted(client: TestClient, clip: Path, data: Path, body: bytes | None,
                                              name: str, query: dict, status: int, message: str) -> None:
    before = set((data / "jobs").iterdir())
    body = {None: clip.read_bytes(), "png": _png_bytes(16, 12), "huge": _png_header(100_000, 100_000)}.get(body, body)
    code, answer = _upload(client, body, name, **query)
    assert code == status and answer["error"].startswith(message), answer
    assert "\n" not in answer["error"] and str(data) not in answer["error"]
    assert set((data / "jobs").iterdir()) == before and not list((data / "incoming").iterdir())
    assert client.get("/api/models").status_code == 200  # still serving


def _png_bytes(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _png_header(w: int, h: int) -> bytes:
    """A PNG that declares w × h pixels and holds none (a decompression bomb's header)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("given, kept", [("視頻.mp4", "視頻.mp4"),
                                         ("e\u0301te\u0301 à la plage.mp4", "été à la plage.mp4")])
def test_names_in_any_script_are_kept(client: TestClient, clip: Path, data: Path, given: str, kept: str) -> None:
    """A name in any script, with accents and spaces, is kept (NFC) on disk, in the list and in the download."""
    code, job = _upload(client, clip, given)
    assert code == 201 and job["name"] == kept, job
    assert (data / "jobs" / job["id"] / "input" / kept).is_file()
    assert wait_job(client.get, job["id"])["result"] == kept.replace(".mp4", "_x2.mp4")
    r = client.get(f"/api/jobs/{job['id']}/result")
    assert r.headers["content-disposition"] == f"attachment; filename*=utf-8''{quote(kept.replace('.mp4', '_x2.mp4'))}"


def test_an_upload_without_a_length_is_capped_while_streamed(client: TestClient, data: Path) -> None:
    def chunks():
        for _ in range(40):
            yield bytes(64 * 1024)

    r = client.post("/api/jobs", params={"name": "stream.mp4", "model": "tiny"}, content=chunks(), headers=HEADERS)
    assert r.status_code == 413 and "upload limit" in r.json()["error"]
    assert not list((data / "incoming").iterdir())


def test_names_and_ids_cannot_reach_outside_the_data_folder(client: TestClient, tmp_path: Path, data: Path) -> None:
    assert safe_name("../../etc/passwd.png") == "passwd.png"
    assert safe_name("..\\..\\boot.ini.jpg") == "boot.ini.jpg"
    assert safe_name(".hidden video.mkv") == "hidden video.mkv"
    assert safe_name("a\u202egnp.mp4\n") == "a_gnp.mp4_"  # a right-to-left override and a newline: replaced
    assert safe_name("字" * 60 + ".mp4") == "字" * 48 + ".mp4"  # 150 bytes in UTF-8 at most
    code, job = _upload(client, noise_image(tmp_path / "x.png", (16, 12)), "../../../tmp/evil.png")
    assert code == 201 and job["name"] == "evil.png"
    assert (data / "jobs" / job["id"] / "input" / "evil.png").is_file()
    for path in ("/api/jobs/..%2F..%2Fjobs.sqlite3", "/api/jobs/%2e%2e/result", "/api/jobs/AAAAAAAAAAAAAAAA/result",
                 "/static/..%2F..%2F__init__.py", "/api/jobs/../../etc/passwd"):
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
    wait_job(client.get, job["id"])
    for path, status in ((f"/api/jobs/{job['id']}/frames/1/sr.png", 404), (f"/api/jobs/{job['id']}/frames/0/x.png", 404)):
        r = client.get(path)
        assert r.status_code == status and r.json()["error"], path


def test_cross_site_requests_and_foreign_hosts_are_refused(client: TestClient, clip: Path) -> None:
    r = client.post("/api/jobs", params={"name": "a.mkv"}, content=clip.read_bytes())
    assert r.status_code == 403 and r.json()["error"] == "cross-site request refused"
    r = client.post("/api/jobs", params={"name": "a.mkv"}, content=clip.read_bytes(),
                    headers={**HEADERS, "Origin": "http://evil.example"})
    assert r.status_code == 403
    for host in ("evil.example:8000", "127.0.0.1.evil.example", "localhost.evil.example:8000", "192.0.2.1:8000"):
        r = client.get("/api/jobs", headers={"Host": host})  # DNS rebinding
        assert r.status_code == 421 and r.json()["error"] == ("this server answers only for localhost and loopback "
                                                               f"addresses, not {host!r}"), host
    # Every loopback address answers, as `savsr serve --host 127.0.0.5` prints it.
    for host in ("localhost:8000", "127.0.0.1:8000", "127.0.0.5:8000", "127.1.2.3", "[::1]:8000", "[::1]", "localhost"):
        assert client.get("/api/jobs", headers={"Host": host}).status_code == 200, host


def test_the_printed_address_is_one_a_browser_can_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "studio-pc")
    assert page_address("127.0.0.5", 8000, None) == "http://127.0.0.5:8000/"
    assert page_address("::1", 8001, None) == "http://[::1]:8001/"
    assert page_address("0.0.0.0", 8000, "tok") == "http://studio-pc:8000/?token=tok"
    assert page_address("::", 8000, "tok") == "http://studio-pc:8000/?token=tok"
    assert page_address("192.0.2.7", 80, "tok") == "http://192.0.2.7:80/?token=tok"


def test_the_page_and_its_files(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script src="static/app.js">' in page.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # Nothing is fetched from elsewhere: no absolute URL in the page's files.
    static = Path(__file__).resolve().parents[1] / "src" / "savsr" / "serve" / "static"
    for f in static.iterdir():
        assert b"http://" not in f.read_bytes() and b"https://" not in f.read_bytes(), f
    icon = client.get("/static/favicon.png")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/png"
    assert '<link rel="icon" href="static/favicon.png"' in page.text
    models = client.get("/api/models").json()
    assert models["models"] == [{"name": "tiny", "scale": 2, "purpose": ""}] and models["max_upload"] == MAX_UPLOAD
    assert models["defaults"] == {"2": "tiny"} and models["scale"] == 2  # no ×4 here: the first offered


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_page_the_api_and_the_cli_take_one_default(scale: int, tmp_path: Path) -> None:
    """At every scale the page's preselection (/api/models), an upload without a model and
    `savsr upscale --scale S` take the registry's default, and the job's bytes are the CLI's."""
    image = noise_image(tmp_path / "in.png", (24, 16), seed=scale)
    with TestClient(create_app(app_config(ServeConfig(data=tmp_path / "data", device="cpu"))), base_url=BASE) as c:
        info = c.get("/api/models").json()
        assert info["defaults"][str(scale)] == default_model(scale) and info["scale"] == 4
        described = {m["name"]: m["purpose"] for m in info["models"]}
        assert described["sa-vsrgan-bd-lr-x4"].startswith("blurred input (BD")
        assert described[default_model(scale)].startswith("clean input")
        r = c.post("/api/jobs", params={"name": "in.png", "scale": scale}, content=image.read_bytes(), headers=HEADERS)
        assert r.status_code == 201, r.text
        assert wait_job(c.get, r.json()["id"], timeout=300)["model"] == default_model(scale)
        got = c.get(f"/api/jobs/{r.json()['id']}/result").content
        if scale == 4:  # no scale either: ×4, as the CLI
            r = c.post("/api/jobs", params={"name": "in.png"}, content=image.read_bytes(), headers=HEADERS)
            assert r.json()["model"] == default_model(4)
    assert main(["upscale", str(image), "-o", str(tmp_path / "cli.png"), "--scale", str(scale), "--device", "cpu"]) == 0
    assert got == (tmp_path / "cli.png").read_bytes()


def test_a_token_guards_every_request(data: Path, model_file: Path, tmp_path: Path) -> None:
    app = create_app(_config(tmp_path / "d", model_file, token="s3cret", loopback=False))
    with TestClient(app, base_url="http://192.0.2.1:8000") as c:
        for path in ("/", "/static/app.js", "/api/jobs", "/api/events", "/api/jobs/AAAAAAAAAAAAAAAA/result"):
            r = c.get(path)
            assert r.status_code == 401 and "token" in r.json()["error"], path
        assert c.get("/api/jobs", headers={"X-Savsr-Token": "wrong"}).status_code == 401
        # A browser opening the page without its token gets a page that says what to do.
        r = c.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        assert r.status_code == 401 and r.headers["content-type"].startswith("text/html")
        assert "a valid token is needed: open the address the server printed at its start." in r.text
        assert c.get("/api/jobs", headers={"X-Savsr-Token": "s3cret"}).status_code == 200
        page = c.get("/?token=s3cret")  # the address printed at start: sets the cookie for the rest
        assert page.status_code == 200 and "httponly" in page.headers["set-cookie"].lower()
        assert c.get("/static/app.js").status_code == 200 and c.get("/api/jobs").status_code == 200


def test_a_non_local_address_needs_a_token(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--data", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("savsr: error: 0.0.0.0 can be reached from other machines; listening there needs a "
                          "token: pass --token TOKEN, or --token auto") and err.count("\n") == 1
    assert not (tmp_path / "d").exists()
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        check_binding(host, None)
    check_binding("0.0.0.0", "tok")


def test_a_port_in_use_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), "--data", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.startswith(f"savsr: error: cannot listen on 127.0.0.1:{port}: ")


def test_the_job_list_outlives_the_server(data: Path, model_file: Path, client: TestClient) -> None:
    listed = client.get("/api/jobs").json()["jobs"]
    with TestClient(create_app(_config(data, model_file)), base_url=BASE) as again:
        assert again.get("/api/jobs").json()["jobs"] == listed


def test_jobs_go_to_ray_through_the_batch_engine(model_file: Path, clip: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With --ray, a job is one input of the batch engine's run_on_ray, with the job's settings."""
    from savsr.infer import cluster
    from savsr.infer.batch import run_job
    from savsr.infer.upscaler import load_model

    calls = []

    def fake_run_on_ray(spec, jobs, address=None, workers=None, **options):
        calls.append((spec, jobs, address, workers, options))
        upscaler = load_model(spec.name, spec.device, spec.precision)
        return iter([run_job(upscaler, jobs[0], frames=options["frames"], segment_frames=options["segment_frames"])])

    monkeypatch.setattr(cluster, "run_on_ray", fake_run_on_ray)
    with TestClient(create_app(_config(tmp_path / "d", model_file, ray="")), base_url=BASE) as c:
        _, job = _upload(c, clip, "c.mkv", frames="0:3")
        assert wait_job(c.get, job["id"])["done"] == 3
    (spec, jobs, address, workers, options), = calls
    assert (spec.name, spec.device, spec.precision) == (str(model_file), "cpu", "fp32")
    assert address is None and workers == 1 and options == {"frames": "0:3", "segment_frames": 4}
    assert jobs[0].src.name == "c.mkv" and jobs[0].dst.parent.name == "output"


def test_events_are_the_job_list(client: TestClient) -> None:
    """The event stream's first message is the job list, as /api/jobs gives it."""
    import anyio

    from savsr.serve.app import public

    server = client.app.state.server
    sent = []

    async def first_event() -> None:
        async def receive():
            await anyio.sleep(60)
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.body" and message.get("body", b"").startswith(b"data: "):
                sent.append(message["body"])
                raise anyio.get_cancelled_exc_class()()

        scope = {"type": "http", "method": "GET", "path": "/api/events", "headers": [], "query_string": b""}
        from starlette.requests import Request
        response = await server.events(Request(scope, receive))
        with anyio.move_on_after(10):
            try:
                await response(scope, receive, send)
            except anyio.get_cancelled_exc_class():
                pass

    anyio.run(first_event)
    assert json.loads(sent[0][len(b"data: "):]) == [public(j) for j in server.store.all()]
