"""A batch on a Ray cluster (the optional extra ``savsr[cluster]``): one actor per GPU, or per
slot of CPUs, each holding the model; one input as the unit of work, handed to whichever actor is
free, so that inputs of unequal length balance.

An actor that dies (a lost node, a killed process, out of memory) is restarted by Ray and its
input retried; the input's resumable segments (:mod:`.pipeline`) mean that the retry continues
where the lost worker stopped. Why Ray: it already does placement, restarts and retries across
machines, which a home-made scheduler would have to get right again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import SavsrError
from ..fileio import Lock
from .batch import Job, Outcome, run_job
from .pipeline import DEFAULT_SEGMENT_FRAMES, EncodeOptions

TASK_RETRIES = 3


@dataclass(frozen=True)
class ModelArgs:
    """What each actor passes to :func:`savsr.load_model`."""

    name: str
    device: str = "auto"
    precision: str = "auto"
    tile: int | None = None
    tile_overlap: int | None = None
    self_ensemble: bool = False
    backend: str = "auto"


class _Worker:
    """One model in one process: upscales the jobs it is given."""

    def __init__(self, model: ModelArgs, threads: int) -> None:
        import torch

        from .upscaler import load_model

        torch.set_num_threads(max(threads, 1))
        self.upscaler = load_model(model.name, model.device, model.precision, model.tile, model.tile_overlap,
                                   model.self_ensemble, model.backend)

    def run(self, job: Job, overwrite: bool, restart: bool, encode: EncodeOptions, frames: str | None,
            segment_frames: int) -> Outcome:
        # A retry after a lost node finds that node's lock fresh for up to Lock.STALE: wait it out and resume.
        return run_job(self.upscaler, job, overwrite, restart, encode, frames, segment_frames,
                       lock_wait=Lock.STALE + Lock.HEARTBEAT)

    def pid(self) -> int:
        return os.getpid()


def _ray():
    try:
        import ray
    except ImportError:
        raise SavsrError("running on Ray needs the cluster extra: pip install 'savsr[cluster]'") from None
    return ray


def run_on_ray(model: ModelArgs, jobs: list[Job], address: str | None = None, workers: int | None = None,
               cpus_per_worker: int | None = None, overwrite: bool = False, restart: bool = False,
               encode: EncodeOptions = EncodeOptions(), frames: str | None = None,
               segment_frames: int = DEFAULT_SEGMENT_FRAMES) -> Iterator[Outcome]:
    """Yield each job's :class:`Outcome` as it finishes on the Ray cluster at ``address`` (None:
    a local one, started here). ``workers`` defaults to one per GPU of the cluster, else one per
    ``cpus_per_worker`` CPUs (default 4)."""
    ray = _ray()
    from ray.util import ActorPool

    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise SavsrError(f"cannot reach the Ray cluster {address or '(local)'}: {exc}") from None
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0)) if model.device in ("auto", "cuda") else 0
    cpus = int(resources.get("CPU", 1))
    per = cpus_per_worker or (max(cpus // gpus, 1) if gpus else min(4, cpus))
    count = workers or (gpus or max(cpus // per, 1))
    actor = ray.remote(num_gpus=1 if gpus else 0, num_cpus=per, max_restarts=-1,
                       max_task_retries=TASK_RETRIES)(_Worker)
    pool = ActorPool([actor.remote(model, per) for _ in range(count)])
    yield from pool.map_unordered(
        lambda a, job: a.run.remote(job, overwrite, restart, encode, frames, segment_frames), jobs)
