"""`savsr evaluate`: the bicubic baseline against Octave, and the model path on tiny sequences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import AVX2_ONLY, DATA, cpuinfo_has_bf16, require
from savsr.cli import main
from savsr.errors import SavsrError
from savsr.media.reader import FrameSource
from savsr.evaluation import EvalConfig, evaluate, protocol_frame, summary
from savsr.metrics.periodic import periodic_error
from savsr.models import VSRResNet
from savsr.models.checkpoint import GeneratorSpec, save_generator
from savsr.precision import missing_bf16_isa

OCTAVE = Path(__file__).parent / "fixtures" / "vid4_bicubic" / "vid4_bicubic_octave.json"


@pytest.mark.slow
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_vid4_matches_octave(scale: int) -> None:
    data = require(DATA / "vid4" / "GT")
    ref = json.loads(OCTAVE.read_text())["scales"][str(scale)]
    results, baseline = evaluate(EvalConfig(data, scale, lpips="none"), progress=False)
    assert baseline is results  # bicubic is its own baseline: no second row
    assert [r.name for r in results] == ["calendar", "city", "foliage", "walk"]
    for r in results:
        # imresize follows Octave's arithmetic, so per frame the metrics agree to a few pixels
        # that land on the other side of a rounding tie (measured: ≤ 1.3e-5 dB, ≤ 1.1e-6 SSIM);
        # the acceptance bar is 0.01 dB and 0.0005 SSIM on the means.
        np.testing.assert_allclose(r.psnr, ref[r.name]["psnr"], rtol=0, atol=1e-4)
        np.testing.assert_allclose(r.ssim, ref[r.name]["ssim"], rtol=0, atol=1e-5)
    mean = summary(results)["mean"]
    want = np.mean([np.mean(ref[s]["psnr"]) for s in ref])
    assert abs(mean["psnr"] - want) < 0.01
    if scale == 4:
        assert mean["psnr"] == pytest.approx(23.8068, abs=1e-4)


def _sequences(root: Path) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:52]
    for name, n in (("alpha", 6), ("beta", 5)):
        (root / name).mkdir(parents=True)
        for t in range(n):
            img = 128 + 80 * np.sin(0.3 * xx + 0.2 * yy + 0.4 * t)[..., None] + rng.normal(0, 8, (40, 52, 3))
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{t:02d}.png")
    return root


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = VSRResNet(blocks=1, features=8)
    torch.nn.init.zeros_(model.tail.weight)  # output = bicubic centre frame's Y
    torch.nn.init.zeros_(model.tail.bias)
    return save_generator(model, GeneratorSpec(scale=2, blocks=1, features=8), tmp_path / "tiny.safetensors")


def test_model_path_and_reports(tmp_path: Path, tiny_model: Path) -> None:
    data = _sequences(tmp_path / "seqs")
    out = tmp_path / "out"
    assert main(["evaluate", "--data", str(data), "--scale", "2", "--model", str(tiny_model), "-o", str(out)]) == 0
    table = json.loads((out / "results.json").read_text())["table"]
    bicubic = tmp_path / "bic"
    assert main(["evaluate", "--data", str(data), "--scale", "2", "-o", str(bicubic)]) == 0
    base = json.loads((bicubic / "results.json").read_text())["table"]
    # A zero residual returns the bicubic Y (rounded to 8 bits), so PSNR equals the bicubic row's
    # up to that rounding, and LPIPS too, since RGB is rebuilt from that Y and the bicubic Cb/Cr.
    for seq in ("alpha", "beta", "mean"):
        assert table[seq]["psnr"] == pytest.approx(base[seq]["psnr"], abs=0.05)
        assert table[seq]["lpips"] == pytest.approx(base[seq]["lpips"], abs=0.01)
    assert table["mean"]["frames"] == 11
    # The bicubic baseline is part of every model's table.
    assert table["bicubic (mean)"] == base["mean"]
    md = (out / "results.md").read_text()
    assert "| **mean** | 11 |" in md and "LPIPS-alex (RGB)" in md
    assert (out / "results.csv").read_text().splitlines()[0] == "sequence,frames,psnr,ssim,lpips,grid2,grid4"
    assert "| grid 2 px | grid 4 px |" in md
    # The periodic error ratios are those of metrics.periodic on the protocol's frame and border.
    per_frame = json.loads((bicubic / "results.json").read_text())["per_frame"]["alpha"]
    hr, up, _ = protocol_frame(FrameSource(data / "alpha"), 3, 2)
    want = periodic_error(up.double() / 255, hr.double() / 255, crop_border=2)
    assert (per_frame["grid2"][3], per_frame["grid4"][3]) == (want[2], want[4])
    # Existing results are not replaced without --overwrite.
    stamp = (out / "results.json").read_bytes()
    assert main(["evaluate", "--data", str(data), "--scale", "2", "--model", str(tiny_model), "-o", str(out)]) == 2
    assert (out / "results.json").read_bytes() == stamp


def test_inner_frames(tmp_path: Path) -> None:
    data = _sequences(tmp_path / "seqs")
    results, _ = evaluate(EvalConfig(data, 2, frames="inner", lpips="none"), progress=False)
    assert [r.frames for r in results] == [[2, 3], [2]]
    assert "bicubic (mean)" not in summary(results, _)


def test_default_vid4_is_one_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from savsr.cli import default_vid4

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAVSR_VID4", raising=False)
    with pytest.raises(SavsrError, match=r"Vid4 not found in data/vid4/GT \(set SAVSR_VID4 or pass --data"):
        default_vid4()
    (tmp_path / "data" / "vid4" / "GT").mkdir(parents=True)
    assert default_vid4() == Path("data/vid4/GT")
    monkeypatch.setenv("SAVSR_VID4", str(tmp_path / "elsewhere"))
    with pytest.raises(SavsrError, match="elsewhere"):
        default_vid4()


def test_bad_inputs(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture) -> None:
    data = _sequences(tmp_path / "seqs")
    cases = [
        (["--data", str(tmp_path / "nope"), "--scale", "2"], "no such folder"),
        (["--data", str(data), "--scale", "3", "--model", str(tiny_model)], "×2 model"),
        (["--data", str(data), "--scale", "2", "--model", str(tmp_path / "missing.safetensors")], "no such model"),
        (["--data", str(data), "--scale", "2", "--self-ensemble"], "bicubic has no network"),
        (["--data", str(data), "--scale", "5"], "--scale must be 2, 3 or 4, got 5"),
    ]
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\0\0\0\0\0\0\0{}garbage")
    cases.append((["--data", str(data), "--scale", "2", "--model", str(junk)], "junk.safetensors"))
    for args, needle in cases:
        assert main(["evaluate", *args, "-o", str(tmp_path / "o"), "--lpips", "none"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(data / "beta" / "99.png")
    assert main(["evaluate", "--data", str(data), "--scale", "2", "-o", str(tmp_path / "p"), "--lpips", "none"]) == 2
    assert "99.png" in capsys.readouterr().err


@pytest.mark.parametrize(("side", "scale", "lpips", "ok"), [
    (32, 2, "alex", True), (31, 2, "alex", False),  # LPIPS-alex takes 31 px; 31 crops to 30 at ×2
    (18, 3, "vgg", True), (17, 3, "vgg", False),    # LPIPS-vgg takes 16; 17 crops to 15 at ×3
    (20, 4, "none", True), (19, 4, "none", False),  # SSIM's 11 px + 2 × 4 border; 19 crops to 16
])
def test_frames_too_small_to_score(tmp_path: Path, side: int, scale: int, lpips: str, ok: bool) -> None:
    seq = tmp_path / "seqs" / "tiny"
    seq.mkdir(parents=True)
    Image.fromarray((np.random.default_rng(0).random((side, side, 3)) * 255).astype(np.uint8)).save(seq / "0.png")
    cfg = EvalConfig(tmp_path / "seqs", scale, lpips=lpips)
    if ok:  # the limit is the real one: one pixel more is scored
        results, _ = evaluate(cfg, progress=False)
        assert all(np.isfinite(getattr(results[0], m)[0]) for m in cfg.metrics if m != "lpips" or lpips != "none")
    else:
        with pytest.raises(SavsrError, match=f"{side}×{side} are too small"):
            evaluate(cfg, progress=False)


@pytest.mark.parametrize("cpu", ["this", "avx2"])
def test_precision_is_applied_and_recorded(cpu: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    """--precision bf16 runs the network in bf16 where the CPU computes it natively (scores move, a
    little) and says so in every report; elsewhere it computes in fp32, says so in one line, and
    the reports say fp32."""
    if cpu == "avx2":
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", AVX2_ONLY["ONEDNN_MAX_CPU_ISA"])
    native = cpu == "this" and cpuinfo_has_bf16()
    data = _sequences(tmp_path / "seqs")
    torch.manual_seed(0)
    model = VSRResNet(frames=5, channels=1, blocks=1, features=8)
    for p in model.parameters():
        p.data.mul_(4.0)  # a residual large enough that bf16 rounding changes some 8-bit pixels
    weights = save_generator(model, GeneratorSpec(scale=2, blocks=1, features=8), tmp_path / "rand.safetensors")
    tables = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        args = ["evaluate", "--data", str(data), "--scale", "2", "--model", str(weights), "--lpips", "none"]
        assert main([*args, "--precision", precision, "-o", str(out)]) == 0
        computed = "bf16" if precision == "bf16" and native else "fp32"
        payload = json.loads((out / "results.json").read_text())
        assert payload["config"]["precision"] == computed
        assert f"network in {computed}." in (out / "results.md").read_text()
        notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("savsr: note:")]
        assert notes == ([] if computed == precision else
                         [f"savsr: note: bf16 asked for, computing in fp32: {missing_bf16_isa()}"])
        tables[precision] = payload
    fp32, bf16 = (tables[p]["per_frame"]["alpha"]["psnr"] for p in ("fp32", "bf16"))
    if native:
        assert fp32 != bf16
        assert np.allclose(fp32, bf16, atol=0.1)
    else:
        assert fp32 == bf16


def test_self_ensemble_is_applied_and_recorded(tmp_path: Path) -> None:
    data = _sequences(tmp_path / "seqs")
    torch.manual_seed(0)
    model = VSRResNet(frames=5, channels=1, blocks=1, features=8)
    for p in model.parameters():
        p.data.mul_(4.0)  # a residual large enough that the 8 symmetries disagree
    weights = save_generator(model, GeneratorSpec(scale=2, blocks=1, features=8), tmp_path / "rand.safetensors")
    args = ["evaluate", "--data", str(data), "--scale", "2", "--model", str(weights), "--lpips", "none"]
    assert main([*args, "-o", str(tmp_path / "plain")]) == 0
    assert main([*args, "--self-ensemble", "-o", str(tmp_path / "se")]) == 0
    plain, se = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("plain", "se"))
    assert (plain["config"]["self_ensemble"], se["config"]["self_ensemble"]) == ("False", "True")
    assert "×8 self-ensemble." in (tmp_path / "se" / "results.md").read_text()
    assert "self-ensemble" not in (tmp_path / "plain" / "results.md").read_text()
    assert plain["per_frame"]["alpha"]["psnr"] != se["per_frame"]["alpha"]["psnr"]
