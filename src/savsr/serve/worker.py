"""The worker: runs the queued jobs one after the other through the file pipeline, in this
process or on a Ray cluster, and keeps each job's progress in the store."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..infer.batch import Job, Outcome, run_job
from ..infer.pipeline import work_dir
from .memory import release_memory
from .store import FINISHED, JobStore

# How often the progress of a running job is written to the store: often enough for a live bar,
# rarely enough that a fast model does not spend its time in SQLite.
PROGRESS_EVERY = 0.25


class Cancelled(Exception):
    """Raised from the progress callback to stop a job that was cancelled."""


class Stopping(Exception):
    """Raised from the progress callback when the server stops: the job stays queued and resumes."""


@dataclass(frozen=True)
class RunSettings:
    """How the worker runs a job: the models it may load and where they compute."""

    models: dict[str, str]  # the name shown on the page -> a bundled model's name or a generator file
    device: str = "auto"
    segment_frames: int = 250
    ray: str | None = None  # None: in this process; "" a local Ray cluster; else its address


Runner = Callable[[dict, Job, Callable[[int], None]], Outcome]


class Worker:
    """A thread that takes the oldest queued job, runs it, and records its outcome."""

    def __init__(self, store: JobStore, data: Path, settings: RunSettings) -> None:
        self.store, self.data, self.settings = store, data, settings
        self._models: dict[tuple[str, str], object] = {}  # (name, precision) -> Upscaler, loaded once
        self._cancelled: set[str] = set()
        self._deleting: set[str] = set()  # running jobs to remove once they stop
        self._current: str | None = None  # the job being run
        # Held while a job changes hands (taken, finished) and while one is deleted, so that a
        # delete either finds the job running here or takes it from the store itself.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="savsr-serve-worker", daemon=True)
        self._run: Runner = self._on_ray if settings.ray is not None else self._here

    def start(self, keep_days: float | None = None) -> None:
        """Finish the deletes a killed server left, delete the jobs finished over ``keep_days``
        days ago (None: keep them), queue again what a killed server left running, then start
        taking jobs."""
        for job_id in self.store.ids(("deleting",)):
            self._remove(job_id)
        known = {job["id"] for job in self.store.all()}
        for folder in (self.data / "jobs").iterdir():  # an upload a kill cut between its folder and its row
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
        if keep_days is not None:
            for job_id in self.store.ids(FINISHED, before=time.time() - keep_days * 86400):
                self._remove(job_id)
        self.store.requeue_running()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current frame; the running job stays queued and resumes at the next start."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job, and remove its input; whether it was one."""
        with self._lock:
            if self.store.update(job_id, only_if=("queued",), status="cancelled"):
                shutil.rmtree(self.data / "jobs" / job_id / "input", ignore_errors=True)
                return True
            if job_id != self._current or self.store.get(job_id)["status"] != "running":
                return False
            self._cancelled.add(job_id)  # the job's next frame stops it
            return True

    def delete(self, job_id: str) -> bool:
        """Delete a job, its row and all its files; a running job is cancelled first and removed
        when it stops (its status is "deleting" until then). Whether there was such a job."""
        with self._lock:
            if self.store.get(job_id) is None:
                return False
            self.store.update(job_id, status="deleting", fps=None)  # from now on no worker takes it
            if job_id == self._current:
                self._deleting.add(job_id)
                self._cancelled.add(job_id)
                return True
        self._remove(job_id)
        return True

    def _remove(self, job_id: str) -> None:
        """Remove a job's folder, then its row (a kill in between leaves a "deleting" row, removed
        at the next start)."""
        shutil.rmtree(self.data / "jobs" / job_id, ignore_errors=True)
        self.store.remove(job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                job = self.store.next_queued()
                self._current = job["id"] if job is not None else None
            if job is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            self._take(job)
            release_memory()  # a job's frames and activations are freed; give their pages back

    def _take(self, job: dict) -> None:
        """Run one job and record its outcome; only this job fails, whatever happens in it."""
        files = Job(self.data / job["src"], self.data / job["dst"])
        stopping = False
        try:
            outcome = self._run(job, files, self._progress(job))
        except Cancelled:
            outcome = None
        except Stopping:
            outcome, stopping = None, True
        except Exception as exc:  # noqa: BLE001 - loading a model, Ray: the job fails, the server stays up
            outcome = Outcome(files, "failed", f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._current = None
            self._record(job, files, outcome, stopping)

    def _record(self, job: dict, files: Job, outcome: Outcome | None, stopping: bool) -> None:
        """Keep a job's outcome in the store (None: cancelled, or stopped with the server), or
        remove the job if it was deleted while it ran."""
        cancelled = job["id"] in self._cancelled  # on Ray a cancelled job runs to its end, then is dropped
        self._cancelled.discard(job["id"])
        if job["id"] in self._deleting:
            self._deleting.discard(job["id"])
            self._remove(job["id"])
        elif stopping:
            self.store.update(job["id"], status="queued", fps=None)
        elif outcome is None or cancelled:
            self._discard(files)
            shutil.rmtree(files.src.parent, ignore_errors=True)  # a cancelled job's input is not kept
            self.store.update(job["id"], status="cancelled", fps=None)
        elif outcome.status == "failed":
            self._discard(files)
            self.store.update(job["id"], status="failed", fps=None, message=self._public(outcome.reason))
        else:  # done, or "skipped": a server killed between publishing the output and recording it
            done = outcome.frames or job["total"] or self.store.get(job["id"])["done"]
            short = outcome.frames and job["total"] and outcome.frames < job["total"]
            message = (f"the input ended after {outcome.frames} of the {job['total']} frames its container "
                       "declares (cut short or damaged?); those were all super-resolved") if short else ""
            self.store.update(job["id"], status="done", done=done, message=message)

    def _public(self, reason: str) -> str:
        """A failure's reason without the server's own folders in it."""
        return reason.replace(f"{self.data.resolve()}/", "").replace(f"{self.data}/", "")

    def _discard(self, files: Job) -> None:
        """Remove what a failed or cancelled job wrote (a failed job's input stays for the frame views)."""
        shutil.rmtree(work_dir(files.dst), ignore_errors=True)
        files.dst.unlink(missing_ok=True)

    def _progress(self, job: dict) -> Callable[[int], None]:
        """The callback ``upscale_file`` calls with each step's frames: it stores frames done and
        frame/s now and then, and stops the job when it is cancelled or the server stops."""
        state = {"done": 0, "computed": 0, "t0": None, "written": 0.0}
        job_id = job["id"]
        self.store.update(job_id, done=0)

        def tick(n: int) -> None:
            if job_id in self._cancelled:
                raise Cancelled
            if self._stop.is_set():
                raise Stopping
            now = time.monotonic()
            state["done"] += n
            # The clock starts at the first report, so that neither loading the model nor the frames
            # a resumed run found finished count: frame/s and the ETA come once frames flow.
            if state["t0"] is None:
                state["t0"] = now
            else:
                state["computed"] += n
            if now - state["written"] >= PROGRESS_EVERY:
                fps = state["computed"] / (now - state["t0"]) if state["computed"] else None
                self.store.update(job_id, done=state["done"], fps=fps)
                state["written"] = now

        return tick

    def _model(self, name: str, precision: str):
        """The Upscaler for a model and precision, loaded on first use and kept."""
        from ..infer.upscaler import load_model

        key = (name, precision)
        if key not in self._models:
            self._models[key] = load_model(self.settings.models[name], self.settings.device, precision)
        return self._models[key]

    def _here(self, job: dict, files: Job, progress: Callable[[int], None]) -> Outcome:
        """Run a job in this process."""
        upscaler = self._model(job["model"], job["precision"])
        return run_job(upscaler, files, frames=job["frames"] or None, segment_frames=self.settings.segment_frames,
                       progress=progress)

    def _on_ray(self, job: dict, files: Job, progress: Callable[[int], None]) -> Outcome:
        """Run a job on the Ray cluster, through the batch engine's actors. A remote job reports
        no frames while it runs: its progress appears when it ends."""
        from ..infer.cluster import ModelArgs, run_on_ray

        spec = ModelArgs(self.settings.models[job["model"]], self.settings.device, job["precision"])
        outcomes = run_on_ray(spec, [files], self.settings.ray or None, workers=1, frames=job["frames"] or None,
                              segment_frames=self.settings.segment_frames)
        outcome = next(iter(outcomes))
        if outcome.status == "done":
            progress(outcome.frames)
        return outcome
