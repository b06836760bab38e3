"""The trainer: both stages end to end, checkpoints, determinism, crash and signal recovery, DDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import cpuinfo_has_bf16
from savsr.cli import main
from savsr.data.window import split_pair
from savsr.errors import SavsrError
from savsr.losses import periodic_loss, temporal_difference_loss
from savsr.models.checkpoint import load_generator
from savsr.train import Trainer, load_config
from savsr.train.checkpoint import CheckpointManager, load_checkpoint, read_best, verify
from scripts.bundle_model import computed_precisions
from train_helpers import make_dataset, same_weights, start_training, wait_for_checkpoint, weights, write_config

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("train"))


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def pretrained(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pre")
    cfg = write_config(tmp / "pre.yaml", dataset)
    assert main(["train", str(cfg), "--out", str(tmp / "run")]) == 0
    return tmp / "run"


def test_pretrain_end_to_end(pretrained: Path) -> None:
    ckpts = sorted(p.name for p in (pretrained / "checkpoints").iterdir())
    assert ckpts == ["best", "best.json", "step_00000008", "step_00000012", "step_00000016"]  # keep_last 3
    assert (pretrained / "config.yaml").is_file()
    tags = scalars(pretrained)
    for tag in ("loss/mse", "lr/g", "throughput/patches_per_s", "val/psnr_y", "val/lpips_alex"):
        assert tag in tags, tag
    # The precision that computed, whatever run.amp asked (auto here): read back as bundle_model's card does.
    assert computed_precisions(pretrained) == ["bf16" if cpuinfo_has_bf16() else "fp32"]
    lrs = [v for _, v in tags["lr/g"]]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-5)  # ÷10 at 50 % and 75 %
    best = json.loads((pretrained / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "psnr_y"
    assert best["value"] == pytest.approx(max(v for _, v in tags["val/psnr_y"]), abs=1e-5)  # TB stores float32


def test_export_run_writes_fp16_weights_and_never_overwrites(pretrained: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    script = Path(__file__).parents[1] / "scripts" / "export_run.py"
    out = tmp_path / "zoo" / "pre"

    def export(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), str(pretrained), *args], capture_output=True, text=True)

    assert export("step_00000016", str(out)).returncode == 0
    saved = load_file(str(pretrained / "checkpoints" / "step_00000016" / "generator.safetensors"))
    exported = load_file(str(out / "generator.safetensors"))
    assert exported.keys() == saved.keys()
    for k, v in saved.items():
        assert exported[k].dtype == torch.float16 and torch.equal(exported[k], v.half()), k
    assert json.loads((out / "source.json").read_text())["step"] == "16"
    assert (out / "config.yaml").read_text() == (pretrained / "config.yaml").read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["pre"]  # no .part folder left
    for args, message in ((("best", str(out)), "exists; pass --overwrite"),
                          (("step_00000099", str(tmp_path / "other")), "no checkpoint there")):
        res = export(*args)
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "other").exists()
    assert export("best", str(out), "--overwrite").returncode == 0
    best = json.loads((pretrained / "checkpoints" / "best.json").read_text())["step"]
    assert json.loads((out / "source.json").read_text())["step"] == str(best)


def test_best_checkpoint_by_lowest_lpips_and_older_best_json(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep_last=1)
    net = torch.nn.Linear(2, 2)
    for step, lpips in ((1, 0.30), (2, 0.20), (3, 0.25)):
        mgr.save(step, {"generator": net}, {"step": step}, best=("lpips_alex", lpips))
    assert read_best(mgr.dir, "lpips_alex") == (2, 0.20)
    assert json.loads((mgr.dir / "best.json").read_text()) == {"step": 2, "metric": "lpips_alex", "value": 0.20}
    assert json.loads((mgr.dir / "best" / "checksums.json").read_text()) and not (mgr.dir / "step_00000002").exists()
    assert read_best(mgr.dir, "psnr_y") is None  # resumed with another run.best_metric: its best starts again
    # A run from before the format stored a "higher is better" score, LPIPS negated: it goes on.
    (mgr.dir / "best.json").write_text(json.dumps({"step": 2, "metric": -0.20}))
    assert read_best(mgr.dir, "lpips_alex") == (2, 0.20)
    mgr.save(4, {"generator": net}, {"step": 4}, best=("lpips_alex", 0.22))  # worse: best stays at step 2
    assert read_best(mgr.dir, "lpips_alex") == (2, 0.20)
    mgr.save(5, {"generator": net}, {"step": 5}, best=("lpips_alex", 0.10))
    assert json.loads((mgr.dir / "best.json").read_text()) == {"step": 5, "metric": "lpips_alex", "value": 0.10}
    mgr.save(6, {"generator": net}, {"step": 6}, best=("psnr_y", 20.0))  # switched metric: a new best
    assert json.loads((mgr.dir / "best.json").read_text()) == {"step": 6, "metric": "psnr_y", "value": 20.0}
    (mgr.dir / "best.json").write_text(json.dumps({"step": 7, "metric": 31.5}))  # an old PSNR record
    assert read_best(mgr.dir, "psnr_y") == (7, 31.5)


@pytest.mark.parametrize("limit, best_step", [(None, 12), (1.6, 8)])
def test_best_skips_checkpoints_above_the_grid_limit(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     limit: float | None, best_step: int) -> None:
    # Validation scores by step (the real validator is tested elsewhere): the LPIPS-best step 12 has a grid.
    scores = {4: (0.30, 1.2), 8: (0.20, 1.5), 12: (0.10, 2.5), 16: (0.25, 1.3)}
    monkeypatch.setattr(Trainer, "validate", lambda self: {
        "val/psnr_y": 30.0, "val/lpips_alex": scores[self.step][0], "val/grid2": scores[self.step][1]})
    cfg = write_config(tmp_path / "c.yaml", dataset, val_every=4, checkpoint_every=4, best_metric="lpips_alex",
                       best_max_grid2=limit)
    Trainer(load_config(cfg), tmp_path / "run", progress=False).fit()
    assert read_best(tmp_path / "run" / "checkpoints", "lpips_alex") == (best_step, scores[best_step][0])


def test_gan_end_to_end_logs_every_term(pretrained: Path, dataset: Path, tmp_path: Path) -> None:
    init = pretrained / "checkpoints" / "best" / "generator.safetensors"
    cfg = write_config(tmp_path / "gan.yaml", dataset, stage="gan", init=str(init), epochs=1, best_metric="lpips_alex")
    assert main(["train", str(cfg), "--out", str(tmp_path / "gan")]) == 0
    tags = scalars(tmp_path / "gan")
    for tag in ("loss/total", "loss/pixel_eq8", "loss/feature_eq9", "loss/adversarial_eq11",
                "loss/discriminator_eq12", "d/real_prob", "d/fake_prob", "lr/g", "lr/d", "val/psnr_y"):
        assert tag in tags, tag
    best = json.loads((tmp_path / "gan" / "checkpoints" / "best.json").read_text())
    assert best["metric"] == "lpips_alex"
    assert best["value"] == pytest.approx(min(v for _, v in tags["val/lpips_alex"]), abs=1e-5)  # lowest LPIPS
    last = tmp_path / "gan" / "checkpoints" / "step_00000008"
    assert (last / "discriminator.safetensors").is_file()
    # A GAN run carried to another machine: G via run.init, D via run.init_discriminator.
    again = Trainer(load_config(cfg, [f"run.init={last / 'generator.safetensors'}",
                                      f"run.init_discriminator={last / 'discriminator.safetensors'}"]), tmp_path / "g2")
    assert same_weights(weights(last / "discriminator.safetensors"),
                        {k: v for k, v in again.d.state_dict().items()})
    # The exported generator is what `savsr evaluate` takes.
    assert main(["evaluate", "--data", str(dataset.parent / "src"), "--scale", "2", "--lpips", "none",
                 "--model", str(last / "generator.safetensors"), "-o", str(tmp_path / "ev")]) == 0


def test_terms_beyond_the_paper_are_logged_at_their_values_for_the_first_batch(
        pretrained: Path, dataset: Path, tmp_path: Path) -> None:
    init = pretrained / "checkpoints" / "best" / "generator.safetensors"
    cfg = write_config(tmp_path / "gan.yaml", dataset, stage="gan", init=str(init), epochs=1, log_every=1, amp="none")
    trainer = Trainer(load_config(cfg, ["loss.temporal=0.5", "loss.periodic=0.3"]), tmp_path / "run", progress=False)
    # The first batch is samples 0-3 of epoch 0, each the windows at t and t+1 and both HR frames.
    lr, hr = (torch.stack(x) for x in zip(*(trainer.dataset[i] for i in range(4))))
    lr_t, lr_next, hr_t, hr_next = split_pair(lr, hr, 5)
    g, _ = load_generator(init)
    with torch.no_grad():
        sr = g(lr_t)
        temporal = float(temporal_difference_loss(sr, g(lr_next), hr_t, hr_next))
        periodic = float(periodic_loss(sr, hr_t))  # frame t only, as Eq. 11-13
    trainer.fit()
    logged = scalars(tmp_path / "run")
    assert logged["loss/temporal"][0] == (1, pytest.approx(temporal, rel=1e-4))
    assert logged["loss/periodic"][0] == (1, pytest.approx(periodic, rel=1e-4))
    terms = ("loss/pixel_eq8", "loss/feature_eq9")
    total = sum(logged[t][0][1] for t in terms) + 0.001 * logged["loss/adversarial_eq11"][0][1]
    assert logged["loss/total"][0][1] == pytest.approx(total + 0.5 * temporal + 0.3 * periodic, rel=1e-4)


def test_same_seed_same_losses(dataset: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", dataset, log_every=1)
    for name in ("a", "b"):
        assert main(["train", str(cfg), "--out", str(tmp_path / name)]) == 0
    assert scalars(tmp_path / "a")["loss/mse"] == scalars(tmp_path / "b")["loss/mse"]
    final = "checkpoints/step_00000016/generator.safetensors"
    assert same_weights(weights(tmp_path / "a" / final), weights(tmp_path / "b" / final))


def test_sigkill_then_resume_equals_uninterrupted(dataset: Path, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", dataset, epochs=6, checkpoint_every=2, val_every=1000, image_every=1000)
    assert main(["train", str(cfg), "--out", str(tmp_path / "whole")]) == 0
    proc = start_training(cfg, tmp_path / "killed")
    wait_for_checkpoint(tmp_path / "killed", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted((tmp_path / "killed" / "checkpoints").glob("step_*"))
    assert done and done[-1].name != "step_00000048", "the run ended before it was killed"
    # The resume continues from the newest checkpoint: its step, and Adam's state as saved there
    # (a resume that silently restarted from step 0 would reach the same final weights).
    trainer = Trainer(load_config(cfg), tmp_path / "killed", progress=False)
    trainer.resume("auto")
    _, state = load_checkpoint(done[-1])
    assert trainer.step == int(done[-1].name[5:]) > 0
    saved, live = state["optimizers"]["g"]["state"], trainer.opt_g.state_dict()["state"]
    assert saved.keys() == live.keys() and saved
    for k in saved:
        assert int(live[k]["step"]) == trainer.step
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(saved[k][name], live[k][name])
    trainer.fit()
    final = "checkpoints/step_00000048/generator.safetensors"
    assert same_weights(weights(tmp_path / "whole" / final), weights(tmp_path / "killed" / final))


def test_ema_is_the_running_average_of_the_online_weights_and_resumes(pretrained: Path, dataset: Path, tmp_path: Path) -> None:
    """run.ema: each checkpoint's generator is the EMA of the trained (online) weights, recomputed
    here in float64 numpy from every step's online weights; a resumed run continues both exactly."""
    decay = 0.75
    over = [f"run.ema={decay}", "run.checkpoint_every=1", "run.keep_last=100", "optim.milestones=[]"]
    init = pretrained / "checkpoints" / "best" / "generator.safetensors"
    cfg = write_config(tmp_path / "c.yaml", dataset, stage="gan", init=str(init))
    Trainer(load_config(cfg, over), tmp_path / "whole").fit()
    ckpts = sorted((tmp_path / "whole" / "checkpoints").glob("step_*"))
    assert len(ckpts) == 16
    ema: dict[str, np.ndarray] = {}
    for c in ckpts:
        online = {k: v.double().numpy() for k, v in weights(c / "generator_online.safetensors").items()}
        ema = {k: decay * ema[k] + (1 - decay) * online[k] for k in online} if ema else online
        got = weights(c / "generator.safetensors")
        for k in online:
            np.testing.assert_allclose(got[k].double().numpy(), ema[k], rtol=1e-5, atol=1e-6, err_msg=f"{c.name} {k}")
    assert not np.allclose(ema["head.0.weight"], online["head.0.weight"], atol=1e-6), "the average must lag the online weights"
    best = tmp_path / "whole" / "checkpoints" / "best"
    assert (best / "generator_online.safetensors").is_file()
    # Half the run, then resumed in a new process-like Trainer: same online and averaged weights.
    Trainer(load_config(cfg, [*over, "run.epochs=1"]), tmp_path / "split").fit()
    resumed = Trainer(load_config(cfg, over), tmp_path / "split")
    resumed.resume("auto")
    assert resumed.step == 8
    resumed.fit()
    for name in ("generator", "generator_online"):
        f = f"checkpoints/step_00000016/{name}.safetensors"
        assert same_weights(weights(tmp_path / "whole" / f), weights(tmp_path / "split" / f)), name


@pytest.mark.parametrize("workers", [0, 2])
def test_sigterm_writes_a_checkpoint_and_exits(dataset: Path, tmp_path: Path, workers: int) -> None:
    cfg = write_config(tmp_path / "c.yaml", dataset, epochs=200, checkpoint_every=4, val_every=10**6, image_every=10**6)
    out = tmp_path / "run"
    proc = subprocess.Popen([str(BIN / "savsr"), "train", str(cfg), "--out", str(out), "--set", f"data.workers={workers}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for_checkpoint(out, proc)
    # The whole process group, DataLoader workers included, as Ctrl-C or a scheduler does.
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    latest = CheckpointManager(out).latest()
    assert latest is not None and verify(latest) is None
    # Without --resume, an existing run is never overwritten.
    assert main(["train", str(cfg), "--out", str(out)]) == 2


def test_corrupt_checkpoints_are_skipped(pretrained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    run = tmp_path / "run"
    shutil.copytree(pretrained, run)
    newest = run / "checkpoints" / "step_00000016"
    state = newest / "state.pt"
    state.write_bytes(state.read_bytes()[:100])  # truncated
    latest = CheckpointManager(run).latest()
    assert latest == run / "checkpoints" / "step_00000012"
    assert "step_00000016" in caplog.text and "checksum" in caplog.text
    with pytest.raises(SavsrError, match="state.pt"):
        load_checkpoint(newest)
    # A half-written checkpoint folder (no checksums yet) is never taken either.
    (run / "checkpoints" / "step_00000020").mkdir()
    assert CheckpointManager(run).latest() == latest


def test_non_finite_losses_restore_then_stop(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import savsr.train.trainer as trainer_mod

    real = trainer_mod.F.mse_loss
    calls = {"n": 0}

    class PoisonedF:
        def __getattr__(self, name):
            return getattr(torch.nn.functional, name)

        @staticmethod
        def mse_loss(a, b):
            calls["n"] += 1
            loss = real(a, b)
            return loss * float("nan") if 6 <= calls["n"] < 9 else loss

    monkeypatch.setattr(trainer_mod, "F", PoisonedF())
    cfg = load_config(write_config(tmp_path / "c.yaml", dataset, nan_tolerance=3, checkpoint_every=2,
                                   val_every=1000, image_every=1000))
    t = Trainer(cfg, tmp_path / "run", progress=False)
    t.fit()
    assert t.step == 16 and t.lr_scale == pytest.approx(0.1)  # restored once with lr / 10, then finished
    # With no restores allowed, it stops with a clear message.
    calls["n"] = 0
    cfg.run.nan_restores = 0
    with pytest.raises(SavsrError, match="training diverged"):
        Trainer(cfg, tmp_path / "run2", progress=False).fit()


@pytest.mark.slow
def test_ddp_two_ranks_gloo_hold_identical_weights(dataset: Path, tmp_path: Path) -> None:
    # Validation (rank 0 only) at steps that are not checkpoint steps: every rank must still
    # reach the checkpoint's barrier, or the ranks' collectives fall out of step.
    cfg = write_config(tmp_path / "c.yaml", dataset, epochs=1, val_every=3, image_every=1000)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [str(BIN / "torchrun"), "--nproc_per_node=2", "--master_port=29517",
         str(Path(__file__).parent / "ddp_worker.py"), str(cfg), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, env=env, cwd=Path(__file__).parent,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = weights(tmp_path / "run" / "rank0.safetensors"), weights(tmp_path / "run" / "rank1.safetensors")
    assert same_weights(a, b)
    init = weights(tmp_path / "run" / "checkpoints" / "step_00000008" / "generator.safetensors")
    assert same_weights(a, init)  # rank 0 wrote the checkpoint of the shared weights
    assert "loss/mse" in scalars(tmp_path / "run")
