"""The reproduction report machinery: scripts/reproduce.sh, reproduction_tables.py, plot_curves.py,
and the compute record of bundle_model.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from savsr.evaluation import VID4
from savsr.media.writer import VideoWriter
from savsr.models import VSRResNet
from savsr.models.checkpoint import GeneratorSpec, save_generator

sys.path.insert(0, str(REPO / "scripts"))
import bundle_model  # noqa: E402
import plot_curves  # noqa: E402
import plot_temporal  # noqa: E402
import reproduction_tables  # noqa: E402
import validation_log  # noqa: E402

DOC = """# Report

Hand-written intro.

<!-- BEGIN generated:table1 -->
old table
<!-- END generated:table1 -->

Hand-written middle.

<!-- BEGIN generated:regions -->
old regions
<!-- END generated:regions -->

<!-- BEGIN generated:selfensemble -->
old self-ensemble
<!-- END generated:selfensemble -->

<!-- BEGIN generated:periodic -->
old periodic
<!-- END generated:periodic -->

<!-- BEGIN generated:temporal -->
old temporal
<!-- END generated:temporal -->

<!-- BEGIN generated:lrfamily -->
old LR family
<!-- END generated:lrfamily -->

<!-- BEGIN generated:degraded -->
old degraded
<!-- END generated:degraded -->

Hand-written end.
"""


def fake_results(root: Path, scale: int, method: str, psnr: float) -> None:
    """A results.json as savsr evaluate --regions writes it, with chosen values."""
    row = {"psnr": psnr, "ssim": 0.7, "lpips": 0.28 if method == "sa-vsrgan" else 0.3, "psnr_high": psnr - 6, "psnr_flat": psnr + 7,
           "noise_flat": 5.0 if method == "sa-vsrgan" else 6.5, "frac_high": 0.11, "frac_flat": 0.55, "frames": 10,
           "grid2": 3.5 if method == "vsrresfeatgan" else 1.0, "grid4": 1.25}
    if method != "bicubic":  # bicubic's results predate --temporal here
        row |= {"tof": 0.8, "tlp": 9.0 if method == "vsrresfeatgan" else 6.0, "tof_high": 1.5, "tof_flat": 0.4,
                "tnoise_flat": 2.0, "pairs": 8}
    table = {seq: dict(row, psnr=psnr + k) for k, seq in enumerate(VID4)} | {"mean": row}
    config = {"model": method, "frames": "all", "data": "vid4", "lpips": "alex", "lpips_on": "rgb", "precision": "bf16",
              "regions": {"high": 0.5, "flat": 0.1, "delta": 0.01, "window": 3}}
    (root / f"x{scale}" / method).mkdir(parents=True)
    (root / f"x{scale}" / method / "results.json").write_text(json.dumps({"config": config, "table": table}))


def test_tables_beside_the_paper(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root, doc = tmp_path / "res", tmp_path / "doc.md"
    doc.write_text(DOC)
    fake_results(root, 4, "bicubic", 23.81)
    fake_results(root, 4, "vsrresfeatgan", 24.0)
    fake_results(root, 4, "sa-vsrgan", 24.5)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "vsrresnet-x4.safetensors").write_bytes(b"")  # bundled but not evaluated
    args = [str(root), "--doc", str(doc), "--weights", str(weights)]
    assert reproduction_tables.main(args) == 0
    text = doc.read_text()
    for hand in ("Hand-written intro.", "Hand-written middle.", "Hand-written end."):
        assert hand in text
    assert "old table" not in text and "old regions" not in text
    lines = text.splitlines()
    # SA-VSRGAN x4 PSNR: sequences 24.50 + k, mean 24.50, the paper's 24.72, Δ = −0.22.
    assert "| SA-VSRGAN | PSNR-Y (dB) | 24.50 | 25.50 | 26.50 | 27.50 | **24.50** | 24.72 | -0.22 |" in lines
    assert "|  | SSIM-Y | 0.7000 | 0.7000 | 0.7000 | 0.7000 | **0.7000** | 0.7023 | -0.0023 |" in lines
    assert "|  | PercepDist (LPIPS-alex) | 0.2800 | 0.2800 | 0.2800 | 0.2800 | **0.2800** | 0.1010 | +0.1790 |" in lines
    assert "|  | PercepDist (LPIPS-alex) | 0.3000 | 0.3000 | 0.3000 | 0.3000 | **0.3000** | 0.1043 | +0.1957 |" in lines
    # 0.28 / 0.30 − 1 = −6.7 %; the paper's 0.1010 / 0.1043 − 1 = −3.2 %.
    assert "PercepDist of SA-VSRGAN relative to VSRResFeatGAN: ours -6.7%, the paper's -3.2%." in lines
    assert "| VSRResNet | PSNR-Y (dB) | not evaluated | — | — | — | — | — | — |" in lines
    # x2 has no results: missing models with the paper's numbers still shown.
    assert "| SA-VSRGAN | PSNR-Y (dB) | not trained | — | — | — | — | 31.64 | — |" in lines
    assert "| *SA-VSRGAN − VSRResFeatGAN* | +0.50 | +0.50 | +0.50 | -1.500 |" in lines
    assert "| Bicubic | 23.81 | 17.81 | 30.81 | 6.500 |" in lines
    assert "No self-ensemble results yet" in text
    # The periodic section: x4 means, then calendar, city, foliage and walk (grid 2 px).
    assert "| VSRResFeatGAN | 3.500 | 1.250 | 24.00 | 0.3000 | 3.500 | 3.500 | 3.500 | 3.500 |" in lines
    assert "| VSRResNet | not evaluated |" + " — |" * 7 in lines
    # The temporal section: means, then tLP per sequence, and SA − baseline.
    assert "| SA-VSRGAN | 0.800 | 6.000 | 1.500 | 0.400 | 2.000 | 6.000 | 6.000 | 6.000 | 6.000 |" in lines
    assert "| *SA-VSRGAN − VSRResFeatGAN* | +0.000 | -3.000 | +0.000 | +0.000 | +0.000 | -3.000 | -3.000 | -3.000 | -3.000 |" in lines
    assert "| Bicubic | not scored (results without --temporal) |" + " — |" * 8 in lines
    # Idempotent: a second run gives the same page.
    assert reproduction_tables.main(args) == 0 and doc.read_text() == text
    doc.write_text(DOC.replace("<!-- END generated:regions -->\n", ""))
    capsys.readouterr()
    assert reproduction_tables.main(args) == 2
    assert "generated:regions" in capsys.readouterr().err


def test_lr_family_table(tmp_path: Path) -> None:
    """The LR-space family beside the paper's generator: scores, the one-run speed and the card's hours."""
    root, doc, weights = tmp_path / "res", tmp_path / "doc.md", tmp_path / "weights"
    doc.write_text(DOC)
    weights.mkdir()
    fake_results(root, 4, "sa-vsrgan", 24.5)
    fake_results(root, 4, "sa-vsrgan-lr", 24.75)
    (weights / "vsrresnet-lr-x4.safetensors").write_bytes(b"")  # bundled but not evaluated
    stage = "- **{}** (`runs/r`): 10 steps of 16 patches, on {}; best validation … Trained {} min."
    (weights / "sa-vsrgan-lr-x4.md").write_text("# sa-vsrgan-lr-x4\n\n## Training\n\n" + "\n".join(
        [stage.format("pretrain", "CPU", 55), stage.format("pretrain", "CUDA", 2), stage.format("gan", "CPU", 47)]) + "\n")
    speed = {"cpu": "AMD EPYC (Zen 4)", "threads": 2, "output": "720×576", "models": {
        "sa-vsrgan": {"seconds_per_frame": 2.4, "backend": "openvino", "precision": "bf16"},
        "sa-vsrgan-lr": {"seconds_per_frame": 0.2, "backend": "openvino", "precision": "bf16"}}}
    (root / "x4" / "speed.json").write_text(json.dumps(speed))
    args = [str(root), "--doc", str(doc), "--weights", str(weights), "--sections", "lrfamily"]
    assert reproduction_tables.main(args) == 0
    text = doc.read_text()
    assert "old LR family" not in text and "old table" in text
    lines = text.splitlines()
    # 2.4 / 0.2 = 12.0×; hours (55 + 47) / 60 = 1.7 on the CPU, 2 minutes on the GPU; the paper's
    # SA-VSRGAN is timed against itself (1.0×) and has no card here.
    assert ("| SA-VSRGAN-LR | LR-space | 24.75 | 0.7000 | 0.3000 | 0.800 | 6.000 | 1.000 | 1.250 | 0.200 | 12.0× "
            "| 1.7 CPU + 2 min GPU |") in lines
    assert "| SA-VSRGAN | paper (HR-space) | 24.50 | 0.7000 | 0.2800 | 0.800 | 6.000 | 1.000 | 1.250 | 2.400 | 1.0× | — |" in lines
    assert "| VSRResNet-LR | LR-space | not evaluated |" + " — |" * 9 in lines
    assert "| VSRResFeatGAN-LR | LR-space | not trained |" + " — |" * 9 in lines
    assert any("openvino bf16 on 2 threads (AMD EPYC (Zen 4))" in line for line in lines)
    assert "### ×2" in text and "No results at this scale yet." in text


def fake_degraded(root: Path, method: str, spec: str, psnr: float, bicubic: float | None = None) -> None:
    """fake_results of ``method`` under ``--degradation spec``, in reproduce.sh's METHOD@TAG folder."""
    name = reproduction_tables.degraded_method(method, spec)
    fake_results(root, 4, name, psnr)
    path = root / "x4" / name / "results.json"
    result = json.loads(path.read_text())
    result["config"] |= {"model": method, "degradation": spec}
    if method == "bicubic":  # as fake_results writes bicubic: without temporal scores
        for row in result["table"].values():
            for key in ("tof", "tlp", "tof_high", "tof_flat", "tnoise_flat", "pairs"):
                row.pop(key)
    result["degradation"] = {"spec": spec, "downsampling": "BD: the test's" if spec == "bd" else "BI: the test's"}
    if spec.startswith("h264"):
        result["degradation"]["codec"] = {"encoder": "libx264", "crf": int(spec[5:]), "preset": "medium", "gop": 250,
                                          "pix_fmt": "yuv420p", "matrix": "bt709", "range": "limited", "ffmpeg": "61.19.101"}
    if bicubic is not None:
        result["table"]["bicubic (mean)"] = {"psnr": bicubic, "ssim": 0.6, "lpips": 0.5}
    path.write_text(json.dumps(result))


def test_degraded_section(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue #33's tables: BD beside TecoGAN's published row, H.264 at CRF 15/25/35; missing models
    read "not trained" (no weights) or "not evaluated" (weights, no results)."""
    root, doc, weights = tmp_path / "res", tmp_path / "doc.md", tmp_path / "weights"
    doc.write_text(DOC)
    weights.mkdir()
    (weights / "vsrresnet-bd-lr-x4.safetensors").write_bytes(b"")  # bundled but not evaluated
    assert reproduction_tables.degraded_method("sa-vsrgan", "h264:25") == "sa-vsrgan@h264-25"
    assert reproduction_tables.degraded_method("bicubic", "bd+h264:25") == "bicubic@bd_h264-25"
    fake_degraded(root, "bicubic", "bd", 21.85)
    fake_degraded(root, "sa-vsrgan-bd-lr", "bd", 23.0, bicubic=21.85)
    fake_degraded(root, "bicubic", "h264:25", 22.91)
    fake_degraded(root, "sa-vsrgan", "h264:25", 22.5, bicubic=22.91)
    fake_degraded(root, "sa-vsrgan-real", "h264:25", 23.0, bicubic=22.91)
    fake_degraded(root, "sa-vsrgan", "bi", 24.5)  # the clean input: the BI tables' plain folders
    fake_degraded(root, "sa-vsrgan-real", "bi", 24.0)
    args = [str(root), "--doc", str(doc), "--weights", str(weights), "--sections", "degraded"]
    assert reproduction_tables.main(args) == 0
    text = doc.read_text()
    assert "old degraded" not in text and "old LR family" in text  # only that section
    lines = text.splitlines()
    # fake_results' means: SSIM 0.7, LPIPS 0.3, tOF 0.8, tLP 6.0 (bicubic: no temporal scores).
    assert "| Bicubic | 21.85 | 0.7000 | 0.3000 | — | — | — |" in lines
    assert "| SA-VSRGAN-BD-LR | 23.00 | 0.7000 | 0.3000 | 0.800 | 6.000 | +1.15 |" in lines
    assert "| VSRResNet-BD-LR | not evaluated | — | — | — | — | — |" in lines
    assert "| VSRResFeatGAN-BD-LR | not trained | — | — | — | — | — |" in lines
    assert "| *TecoGAN (published, approximate)* | *25.57 on RGB* | — | 0.162 | 0.190 | 0.668 | — |" in lines
    assert any("its PSNR is on RGB and ours on Y" in line and "The LR: BD: the test's." in line for line in lines)
    assert "| 25 | Bicubic | — | 22.91 | 0.7000 | 0.3000 | — | — | — |" in lines
    assert "|  | SA-VSRGAN | BI | 22.50 | 0.7000 | 0.3000 | 0.800 | 6.000 | -0.41 |" in lines
    assert "|  | SA-VSRGAN-LR | BI | not trained | — | — | — | — | — |" in lines
    assert "| 15 | Bicubic | — | not evaluated | — | — | — | — | — |" in lines
    assert lines.count("|  | SA-VSRGAN-real | H.264 15-35 | not trained | — | — | — | — | — |") == 2  # CRF 15, 35
    assert "| none (BI) | Bicubic | — | not evaluated | — | — | — | — | — |" in lines
    assert "|  | SA-VSRGAN-real | H.264 15-35 | 24.00 | 0.7000 | 0.3000 | 0.800 | 6.000 | — |" in lines
    # The done-when measures (fake_results' LPIPS: 0.30, but 0.28 in the plain sa-vsrgan folder).
    assert ("At CRF 25, SA-VSRGAN-real against SA-VSRGAN: +0.50 dB PSNR-Y, +0.0 % LPIPS. "
            "On the clean BI input: -0.50 dB PSNR-Y, +7.1 % LPIPS.") in lines
    assert any(line.startswith("Scored: 10 frames (all) of vid4") and "libx264 at the CRF shown, preset medium, GOP 250"
               in line for line in lines)
    # The real model's card: its clean Vid4 table, then each CRF evaluated beside bicubic's.
    card = weights / "sa-vsrgan-real-x4.md"
    card.write_text("# sa-vsrgan-real-x4\n\n<!-- BEGIN generated:vid4 -->\n<!-- END generated:vid4 -->\n")
    assert reproduction_tables.rewrite_cards(weights, root) == [card]
    card_lines = card.read_text().splitlines()
    assert "| **mean** | **24.00** | **0.7000** | **0.3000** |" in card_lines
    assert "| 25 | 23.00 | 0.7000 | 0.3000 | 22.91 | 0.5000 |" in card_lines
    assert not any(line.startswith(("| 15 |", "| 35 |")) for line in card_lines)  # not evaluated there
    # Results filed under the wrong degradation are refused, not tabulated.
    fake_degraded(root, "sa-vsrgan", "h264:35", 22.0)
    path = root / "x4" / "sa-vsrgan@h264-35" / "results.json"
    path.write_text(path.read_text().replace('"degradation": "h264:35"', '"degradation": "h264:25"'))
    capsys.readouterr()
    assert reproduction_tables.main(args) == 2
    assert "sa-vsrgan@h264-35/results.json was evaluated with --degradation h264:25, not h264:35" in capsys.readouterr().err


def test_self_ensemble_section_alone(tmp_path: Path) -> None:
    root, doc, weights = tmp_path / "res", tmp_path / "doc.md", tmp_path / "weights"
    doc.write_text(DOC)
    weights.mkdir()
    for method, psnr in (("sa-vsrgan", 24.5), ("sa-vsrgan+se", 24.7)):
        fake_results(root, 4, method, psnr)
        path = root / "x4" / method / "results.json"
        result = json.loads(path.read_text())
        result["table"]["bicubic (mean)"] = {"psnr": 23.81, "ssim": 0.6, "lpips": 0.5}
        path.write_text(json.dumps(result))
    args = [str(root), "--doc", str(doc), "--weights", str(weights), "--sections", "selfensemble"]
    assert reproduction_tables.main(args) == 0
    text = doc.read_text()
    assert "old table" in text and "old regions" in text and "old self-ensemble" not in text  # only that section
    lines = text.splitlines()
    assert "| SA-VSRGAN | single pass | 24.50 | 0.7000 | 0.2800 | 18.50 | 31.50 | 5.000 | +0.69 |" in lines
    assert "| SA-VSRGAN | ×8 self-ensemble | 24.70 | 0.7000 | 0.3000 | 18.70 | 31.70 | 6.500 | +0.89 |" in lines
    assert "### ×2" not in text  # no self-ensemble results there
    # The model card gives both means too.
    card = weights / "sa-vsrgan-x4.md"
    card.write_text("# sa-vsrgan-x4\n\n<!-- BEGIN generated:vid4 -->\n<!-- END generated:vid4 -->\n")
    assert reproduction_tables.main([*args, "--cards"]) == 0
    lines = card.read_text().splitlines()
    assert "| **mean** | **24.50** | **0.7000** | **0.2800** |" in lines
    assert "| mean with `--self-ensemble` | 24.70 | 0.7000 | 0.3000 |" in lines
    assert any("+0.69 dB (+0.89 dB with `--self-ensemble`, 8× the compute)" in line for line in lines)


def test_model_cards_get_their_vid4_table(tmp_path: Path) -> None:
    root, weights = tmp_path / "res", tmp_path / "weights"
    weights.mkdir()
    fake_results(root, 3, "sa-vsrgan", 26.0)
    row = {"psnr": 25.0, "ssim": 0.6, "lpips": 0.5}
    results = json.loads((root / "x3" / "sa-vsrgan" / "results.json").read_text())
    results["table"]["bicubic (mean)"] = row
    (root / "x3" / "sa-vsrgan" / "results.json").write_text(json.dumps(results))
    card = "# sa-vsrgan-x3\n\nText.\n\n<!-- BEGIN generated:vid4 -->\nNot evaluated yet.\n<!-- END generated:vid4 -->\n"
    for name in ("sa-vsrgan-x3", "sa-vsrgan-x2", "notes"):  # x2 has no results, notes is no model: both untouched
        (weights / f"{name}.md").write_text(card)
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    assert reproduction_tables.main([str(root), "--doc", str(doc), "--weights", str(weights), "--cards"]) == 0
    lines = (weights / "sa-vsrgan-x3.md").read_text().splitlines()
    assert "Not evaluated yet." not in lines and "Text." in lines
    assert "| calendar | 26.00 | 0.7000 | 0.2800 |" in lines and "| walk | 29.00 | 0.7000 | 0.2800 |" in lines
    assert "| **mean** | **26.00** | **0.7000** | **0.2800** |" in lines
    assert "| bicubic (mean) | 25.00 | 0.6000 | 0.5000 |" in lines
    assert "| paper's SA-VSRGAN (Table 1) | 26.80 | 0.8256 | 0.0641 |" in lines
    assert any("networks in bf16" in line and "PSNR gain over bicubic: +1.00 dB" in line for line in lines)
    for name in ("sa-vsrgan-x2", "notes"):
        assert (weights / f"{name}.md").read_text() == card


def test_a_bd_model_card_gets_its_bd_scores(tmp_path: Path) -> None:
    """A BD model's card is filled from its BD results (METHOD@bd), never from a BI evaluation."""
    root, weights = tmp_path / "res", tmp_path / "weights"
    weights.mkdir()
    fake_results(root, 4, "sa-vsrgan-bd-lr@bd", 24.5)
    path = root / "x4" / "sa-vsrgan-bd-lr@bd" / "results.json"
    results = json.loads(path.read_text())
    results["config"]["degradation"] = "bd"
    path.write_text(json.dumps(results))
    fake_results(root, 4, "sa-vsrgan-bd-lr", 20.0)  # a BI evaluation of it: not what its card shows
    card = "# sa-vsrgan-bd-lr-x4\n\n<!-- BEGIN generated:vid4 -->\nNot evaluated yet.\n<!-- END generated:vid4 -->\n"
    (weights / "sa-vsrgan-bd-lr-x4.md").write_text(card)
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    assert reproduction_tables.main([str(root), "--doc", str(doc), "--weights", str(weights), "--cards"]) == 0
    lines = (weights / "sa-vsrgan-bd-lr-x4.md").read_text().splitlines()
    assert "| **mean** | **24.50** | **0.7000** | **0.3000** |" in lines and "| calendar | 24.50 | 0.7000 | 0.3000 |" in lines


def tiny_vid4(root: Path) -> Path:
    """Four 3-frame sequences with Vid4's names, 36×48, smooth texture plus noise."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:36, 0:48]
    for k, name in enumerate(VID4):
        (root / name).mkdir(parents=True)
        for t in range(3):
            img = 128 + 90 * np.sin(0.35 * xx + 0.2 * (k + 1) * yy + 0.5 * t)[..., None] + rng.normal(0, 6, (36, 48, 3))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{t:08d}.png")
    return root


@pytest.mark.slow  # four runs of the script, a dozen Python start-ups: about 35 s of CPU
def test_reproduce_quick_end_to_end(tmp_path: Path) -> None:
    data, weights, out = tiny_vid4(tmp_path / "vid4"), tmp_path / "weights", tmp_path / "out"
    torch.manual_seed(0)
    save_generator(VSRResNet(blocks=1, features=8), GeneratorSpec(scale=4, blocks=1, features=8),
                   weights / "sa-vsrgan-x4.safetensors")
    clip = tmp_path / "clip.mkv"  # the real-footage figures' clip: 4 frames of 96×64
    writer = VideoWriter(clip, 96, 64, Fraction(25), codec="ffv1")
    for t in range(4):
        writer.write(np.full((64, 96, 3), 40 * t, np.uint8) + np.arange(96, dtype=np.uint8)[None, :, None])
    writer.close()
    env = os.environ | {"SCALES": "4", "DATA": str(data), "WEIGHTS": str(weights), "OUT": str(out), "QUICK": "2",
                        "CROP_BOX": "4 4 16 16", "DEVICE": "cpu", "BIN": str(Path(sys.executable).parent),
                        "DEGRADED": "h264:25", "REAL_CLIP": str(clip), "REAL_FRAME": "1", "REAL_REGION": "8 16 48 64",
                        "REAL_BOX": "8 8 16 24"}
    run = subprocess.run(["bash", str(REPO / "scripts" / "reproduce.sh")], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "x4 vsrresfeatgan: not trained" in run.stdout
    assert "x4 sa-vsrgan-real (h264:25): not trained" in run.stdout and "bd-lr" not in run.stdout  # DEGRADED: no bd
    assert "x4 sa-vsrgan-real (bi): not trained" in run.stdout  # the clean-input row of the H.264 table
    assert run.stdout.count("x4 sa-vsrgan: evaluating") == 1  # that row's BI results are reused, not redone
    crf = {m: json.loads((out / "x4" / f"{m}@h264-25" / "results.json").read_text()) for m in ("bicubic", "sa-vsrgan")}
    assert {r["config"]["degradation"] for r in crf.values()} == {"h264:25"}
    assert crf["sa-vsrgan"]["degradation"]["codec"]["crf"] == 25 and crf["sa-vsrgan"]["table"]["mean"]["frames"] == 8
    assert (out / "real_x4.png").stat().st_size > 0 and (out / "real_original_x4.png").stat().st_size > 0
    sa = json.loads((out / "x4" / "sa-vsrgan" / "results.json").read_text())
    assert sa["table"]["mean"]["frames"] == 8 and "bicubic (mean)" in sa["table"]  # QUICK=2: 2 frames × 4
    assert (out / "crops_x4.png").stat().st_size > 0
    doc = (out / "reproduction.md").read_text()  # the quick run's own copy; docs/ is untouched
    bicubic = json.loads((out / "x4" / "bicubic" / "results.json").read_text())["table"]
    assert f"| Bicubic | PSNR-Y (dB) | {bicubic['calendar']['psnr']:.2f} | {bicubic['city']['psnr']:.2f} |" in doc
    assert "| VSRResFeatGAN | PSNR-Y (dB) | not trained |" in doc
    mean = {m: r["table"]["mean"] for m, r in crf.items()}
    assert f"| 25 | Bicubic | — | {mean['bicubic']['psnr']:.2f} | {mean['bicubic']['ssim']:.4f} |" in doc
    gain = mean["sa-vsrgan"]["psnr"] - crf["sa-vsrgan"]["table"]["bicubic (mean)"]["psnr"]
    assert f"|  | SA-VSRGAN | BI | {mean['sa-vsrgan']['psnr']:.2f} |" in doc and f"| {gain:+.2f} |" in doc
    assert "| 15 | Bicubic | — | not evaluated |" in doc and "| SA-VSRGAN-BD-LR | not trained |" in doc
    # A second run reuses every evaluation; a changed model is evaluated again.
    again = subprocess.run(["bash", str(REPO / "scripts" / "reproduce.sh")], env=env, capture_output=True, text=True)
    # The default ENSEMBLE also scores sa-vsrgan-x4 with --self-ensemble.
    se = json.loads((out / "x4" / "sa-vsrgan+se" / "results.json").read_text())
    assert se["config"]["self_ensemble"] == "True" and se["table"]["mean"]["frames"] == 8
    mean = se["table"]["mean"]
    cells = [f"{mean[k]:.{d}f}" if mean[k] == mean[k] else "—"  # the tiny frames have no flat pixels: NaN
             for k, d in (("psnr", 2), ("ssim", 4), ("lpips", 4), ("psnr_high", 2), ("psnr_flat", 2), ("noise_flat", 3))]
    gain = mean["psnr"] - bicubic["mean"]["psnr"]
    assert f"| SA-VSRGAN | ×8 self-ensemble | {' | '.join(cells)} | {gain:+.2f} |" in doc
    # 3 on BI, the 2 CRF methods' clean-input rows (the BI results again), 2 on h264:25
    assert again.returncode == 0 and again.stdout.count("results reused") == 7
    save_generator(VSRResNet(blocks=1, features=8), GeneratorSpec(scale=4, blocks=1, features=8),
                   weights / "sa-vsrgan-x4.safetensors", overwrite=True)
    third = subprocess.run(["bash", str(REPO / "scripts" / "reproduce.sh")], env=env, capture_output=True, text=True)
    assert "x4 sa-vsrgan: evaluating" in third.stdout and "x4 bicubic: results reused" in third.stdout
    assert "x4 sa-vsrgan@h264-25: evaluating" in third.stdout and "x4 bicubic@h264-25: results reused" in third.stdout
    bad = subprocess.run(["bash", str(REPO / "scripts" / "reproduce.sh")], env=env | {"SCALES": "5"},
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "reproduce: error: SCALES: 5 is not 2, 3 or 4"


def test_plot_curves_of_a_tiny_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for name, offset in (("a", 0.0), ("b", 1.0)):
        with SummaryWriter(str(tmp_path / name / "tensorboard")) as w:
            for step in range(1, 6):
                w.add_scalar("loss/total", offset + 1.0 / step, step)
                w.add_scalar("val/psnr_y", 30 + step + offset, step)
                w.add_scalar("lr/g", 1e-4, step)
    got = plot_curves.read_scalars(tmp_path / "b")
    assert set(got) == {"loss/total", "val/psnr_y"}  # lr is not plotted
    assert got["val/psnr_y"][0] == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(got["loss/total"][1], [1.0 + 1.0 / s for s in range(1, 6)], rtol=1e-6)
    out = tmp_path / "curves.png"
    assert plot_curves.main([str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out)]) == 0
    assert Image.open(out).size[0] > 500
    assert plot_curves.main([str(tmp_path / "a"), "-o", str(out)]) == 2  # exists: no --overwrite
    assert plot_curves.main([str(tmp_path / "nothing"), "-o", str(tmp_path / "x.png")]) == 2
    assert "no TensorBoard event files" in capsys.readouterr().err


def test_plot_temporal_reads_per_frame_tlp(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "res"
    for s, method, tlp in ((4, "sa-vsrgan", [1.0, 2.0]), (4, "bicubic", [0.5, 0.25]), (2, "vsrresfeatgan", [3.0, 4.0])):
        (root / f"x{s}" / method).mkdir(parents=True)
        per_frame = {"calendar": {"frames": [0, 1, 2, 3, 4, 5], "pairs": [3, 4], "tlp": tlp}}
        (root / f"x{s}" / method / "results.json").write_text(json.dumps({"per_frame": per_frame}))
    (root / "x3" / "vsrresnet").mkdir(parents=True)  # results without --temporal: left out
    (root / "x3" / "vsrresnet" / "results.json").write_text(json.dumps({"per_frame": {"calendar": {"frames": [0]}}}))
    assert plot_temporal.read_tlp(root, "calendar") == {
        2: {"VSRResFeatGAN": ([3, 4], [3.0, 4.0])},
        4: {"Bicubic": ([3, 4], [0.5, 0.25]), "SA-VSRGAN": ([3, 4], [1.0, 2.0])},
    }
    out = tmp_path / "tlp.png"
    assert plot_temporal.main([str(root), "-o", str(out)]) == 0 and out.stat().st_size > 0
    assert plot_temporal.main([str(root), "-o", str(out)]) == 2  # exists: no --overwrite
    assert plot_temporal.main([str(root), "--sequence", "walk", "-o", str(tmp_path / "w.png")]) == 2
    assert "no results with per-frame tLP of 'walk'" in capsys.readouterr().err


def test_validation_log_of_a_resumed_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "cpu_stage_x4"
    (run / "tensorboard").mkdir(parents=True)
    (run / "config.yaml").write_text("data: {scale: 4}\nrun: {init: zoo/start.safetensors}\n")
    # Validated at 128 and 256, stopped before a checkpoint at 256: the resume redoes 256, then 384.
    for k, (steps, offset) in enumerate((([128, 256], 0.0), ([256, 384], 0.5))):
        with SummaryWriter(str(run / "tensorboard"), filename_suffix=f".{k}") as w:
            for step in steps:
                w.add_scalar("val/psnr_y", 30 + step / 128 + offset, step, walltime=1000.0 * k + step)
                w.add_scalar("val/lpips_alex", 0.2 - step / 12800, step, walltime=1000.0 * k + step)
    # The resume's file named to sort first, as a writer's per-process counter can make it (".10" < ".9").
    resumed = next(p for p in (run / "tensorboard").iterdir() if p.name.endswith(".1"))
    resumed.rename(run / "tensorboard" / "events.out.tfevents.0000000000.host.1.10.1")
    assert validation_log.main([str(run)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["# cpu_stage_x4 (scale:4; init zoo/start.safetensors)",
                       "128 31.0000 0.1900", "256 32.5000 0.1800", "384 33.5000 0.1700"]
    # The curves draw each step once too, with its latest value.
    steps, values = plot_curves.read_scalars(run)["val/psnr_y"]
    assert steps == [128, 256, 384] and np.allclose(values, [31.0, 32.5, 33.5])
    log = tmp_path / "validation_log.txt"
    log.write_text("# header\n" + "\n".join(printed) + "\n# other_run (x)\n1 2 3\n")
    assert validation_log.main(["--check", str(log), str(run)]) == 0
    log.write_text(log.read_text().replace("32.5000", "32.4000"))
    assert validation_log.main(["--check", str(log), str(run)]) == 1
    assert validation_log.main([str(tmp_path / "nothing")]) == 2


def test_training_minutes_leave_out_the_pauses_between_resumes(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    # Two sessions of one run: losses every 20 s, a 40-minute stop, the resume logging step 40 again.
    sessions = [[(20, 1000.0), (40, 1020.0), (60, 1040.0)], [(40, 3440.0), (60, 3460.0), (80, 3480.0), (100, 3500.0)]]
    for k, events in enumerate(sessions):
        with SummaryWriter(str(tmp_path / "tensorboard"), filename_suffix=f".{k}") as w:
            for step, wall in events:
                w.add_scalar("loss/mse", 0.1, step, walltime=wall)
                w.add_scalar("val/psnr_y", 30.0, step, walltime=wall + 500)  # not a loss: not counted
    # 40 s in the first session, 60 s in the second; the 2,400 s gap is a pause.
    assert bundle_model.training_minutes(tmp_path) == pytest.approx(100 / 60)


def test_stage_summary_of_a_gpu_run_that_came_back_without_checkpoints(tmp_path: Path) -> None:
    """The GPU runs return only config.yaml and the logs: the card takes the steps from the logs."""
    from torch.utils.tensorboard import SummaryWriter

    from savsr.train import dump_config, load_config

    cfg = load_config(REPO / "configs" / "gpu" / "vsrresnet_x4.yaml", ["run.epochs=2", "run.ema=0.99"])
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    with SummaryWriter(str(tmp_path / "tensorboard")) as w:
        for step in range(200, 8001, 200):
            w.add_scalar("loss/mse", 0.001, step, walltime=1000.0 + step / 100)
    text, minutes, where = bundle_model.stage_summary(tmp_path, final=False)
    assert where == "cuda" and minutes == pytest.approx(78 / 60)
    assert "8000 steps of 128 patches" in text and "(of" not in text  # 2 epochs of 4000 steps: all ran
    assert "at steps 4000, 6000" in text and "not validated during the run" in text
    assert "the next stage started from step 8000" in text
    assert "on CUDA, weights averaged (EMA, decay 0.99);" in text


def test_stage_summary_of_a_run_with_no_best_reports_the_used_checkpoints_validation(tmp_path: Path) -> None:
    """A GAN run stopped with every validation over run.best_max_grid2 has no best.json: bundled from
    a named checkpoint, the card gives that step's validation scores and says why none was best."""
    from torch.utils.tensorboard import SummaryWriter

    from savsr.train import dump_config, load_config

    cfg = load_config(REPO / "configs" / "cpu" / "lr_vsrresfeatgan_x3.yaml", [])
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    with SummaryWriter(str(tmp_path / "tensorboard")) as w:
        for step in range(20, 301, 20):
            w.add_scalar("loss/total", 1.0, step, walltime=1000.0 + step)
        for step, lpips, grid in ((128, 0.0513, 2.458), (256, 0.0535, 2.636)):
            w.add_scalar("val/lpips_alex", lpips, step, walltime=1000.0 + step)
            w.add_scalar("val/grid2", grid, step, walltime=1000.0 + step)
    text, _, _ = bundle_model.stage_summary(tmp_path, used="step_00000128")
    assert "300 steps (of 1280 planned, stopped there)" in text
    assert "validation LPIPS-alex 0.0513, grid 2 px 2.46 at step 128" in text
    assert "(no checkpoint of the run within run.best_max_grid2 1.56)" in text
    assert "this model uses step 128." in text and "best validation" not in text


def test_stage_summary_of_a_gpu_export_with_only_its_train_log(tmp_path: Path) -> None:
    """A device call returns 8 files: the export's train.log stands in for tensorboard/."""
    from savsr.train import dump_config, load_config

    cfg = load_config(REPO / "configs" / "gpu" / "lr_vsrresnet_x4.yaml", ["run.epochs=1"])
    (tmp_path / "config.yaml").write_text(dump_config(cfg))
    lines = ["[15:39:55] x4: 330 s budget -> 1 epoch(s) of 256000 patches",
             "2026-12-04 15:40:11,998 INFO computing in bf16 (run.amp bf16)"]
    # 2,000 steps, one line each 200: 4.5 s apart, then a 10-minute gap (a pause, not counted).
    for k, step in enumerate(range(200, 2001, 200)):
        seconds = 18 + 4.5 * k + (600 if step > 1000 else 0)
        lines.append(f"2026-12-04 15:{40 + int(seconds) // 60:02d}:{int(seconds) % 60:02d},{round(seconds % 1 * 1000):03d} "
                     f"INFO step {step}/2000 mse=0.001 g=0.001 patches_per_s=6000")
        if step == 2000:
            lines.append(f"2026-12-04 15:50:56,000 INFO checkpoint runs/gpu_lr_vsrresnet_x4/checkpoints/step_{step:08d}")
    (tmp_path / "train.log").write_text("\n".join(lines) + "\n")
    text, minutes, where = bundle_model.stage_summary(tmp_path)
    assert where == "cuda" and minutes == pytest.approx(8 * 4.5 / 60)
    assert "2000 steps of 128 patches (128×128, ×4, Y)" in text and "(of" not in text
    assert "amp bf16, on CUDA; not validated during the run; this model uses step 2000." in text


def test_scales_rewrites_only_their_blocks(tmp_path: Path) -> None:
    """After evaluating one scale, --scales 2 rewrites its blocks and keeps the others' text."""
    root, doc, weights = tmp_path / "res", tmp_path / "doc.md", tmp_path / "weights"
    doc.write_text(DOC)
    weights.mkdir()
    for s, psnr in ((2, 30.0), (4, 24.5)):
        fake_results(root, s, "sa-vsrgan", psnr)
    args = [str(root), "--doc", str(doc), "--weights", str(weights)]
    assert reproduction_tables.main(args) == 0
    first = doc.read_text()
    assert "| SA-VSRGAN | 1.000 | 1.250 | 24.50 | 0.2800 | 1.000 | 1.000 | 1.000 | 1.000 |" in first.splitlines()
    # A new x2 result, and the x4 one gone (another session, another machine): x4 keeps its text.
    import shutil

    shutil.rmtree(root / "x4")
    shutil.rmtree(root / "x2")
    fake_results(root, 2, "sa-vsrgan", 31.0)
    assert reproduction_tables.main([*args, "--scales", "2"]) == 0
    text = doc.read_text()
    assert "| SA-VSRGAN | PSNR-Y (dB) | 31.00 | 32.00 | 33.00 | 34.00 | **31.00** | 31.64 | -0.64 |" in text
    assert "| SA-VSRGAN | PSNR-Y (dB) | 24.50 | 25.50 | 26.50 | 27.50 | **24.50** | 24.72 | -0.22 |" in text
    assert "| SA-VSRGAN | PSNR-Y (dB) | 30.00" not in text
    # The x3 and x4 blocks of every section are as they were, character for character.
    for section in ("table1", "regions", "periodic"):
        old_body = first.split(f"generated:{section} -->")[1]
        new_body = text.split(f"generated:{section} -->")[1]
        assert old_body[old_body.index("### ×3"):] == new_body[new_body.index("### ×3"):]
    # Without --scales, the x4 block would say that nothing was evaluated.
    assert reproduction_tables.main(args) == 0
    assert "| SA-VSRGAN | PSNR-Y (dB) | not trained |" in doc.read_text()


def test_card_stages_carry_an_earlier_lineage() -> None:
    """--pretrain card:vsrresnet-x4 lists the ×4 model's stages (from its card, with their minutes
    and devices) as earlier stages of another model."""
    stages = bundle_model.card_stages(bundle_model.bundled_paths("vsrresnet-x4")[1])
    card = bundle_model.bundled_paths("vsrresnet-x4")[1].read_text()
    assert [w for _, _, w in stages] == ["cpu", "cpu", "cuda"]
    assert [m for _, m, _ in stages] == [39.0, 94.0, 2.0] and "Trained 94 min." in card
    assert stages[-1][0].endswith("; the next stage started from step 8000. Trained 2 min.")
    assert "this model uses step 8000" in card


@pytest.mark.parametrize(("spec", "words"), [("bi", "clean footage"), ("real", "real footage"),
                                             ("bd", "BD input"), ("h264:25", "degraded as `h264:25`")])
def test_card_says_which_footage_a_model_is_for(spec: str, words: str) -> None:
    """Issue #33: a bundled model's card names the footage its training degradation suits."""
    assert words in bundle_model.footage(spec)
