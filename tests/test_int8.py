"""int8 inference (infer/quantize.py): NNCF's quantization of the OpenVINO graph, what it keeps in
fp32, its on-disk cache (reused, rebuilt when corrupt or stale, shared by processes started at
once), and when `--precision int8` and `auto` take it or refuse it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from savsr.errors import ParameterError, SavsrWarning
from savsr.infer import quantize
from savsr.infer.engine import OpenVINOEngine, openvino_available
from savsr.infer.upscaler import load_model
from savsr.models.checkpoint import GeneratorSpec, save_generator

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (openvino_available() and quantize.nncf_available()),
                                reason="openvino and nncf are not installed")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean()))


@pytest.fixture(scope="module")
def lr_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ×2 LR-space generator (2 blocks × 8 features, seed 1)."""
    torch.manual_seed(1)
    spec = GeneratorSpec(scale=2, blocks=2, features=8, kind="lr-vsrresnet")
    return save_generator(spec.build(), spec, tmp_path_factory.mktemp("m") / "tiny_lr_x2.safetensors")


def _clip_window(height: int = 40, width: int = 36) -> torch.Tensor:
    """5 frames of the bundled demo clip (held out of training and calibration), Y, as a window."""
    from savsr.data.color import rgb_to_y
    from savsr.media import FrameSource

    source = FrameSource(REPO / "src" / "savsr" / "assets" / "bedroom_clip.mkv")
    frames = [torch.as_tensor(np.asarray(f)) for _, f in zip(range(5), source.frames())]
    rgb = torch.stack(frames).permute(0, 3, 1, 2)[:, :, 60:60 + height, 100:100 + width].float() / 255
    return rgb_to_y(rgb).reshape(1, 5, height, width)


def _runtime_precisions(engine: OpenVINOEngine) -> list[str]:
    """runtimePrecision of each convolution of the compiled graph, in execution order."""
    model = engine.request.get_compiled_model().get_runtime_model()
    return [op.get_rt_info()["runtimePrecision"].astype(str) for op in model.get_ordered_ops()
            if op.get_rt_info()["layerType"].astype(str) == "Convolution"]


@pytest.mark.parametrize("which", ["vsrresnet", "lr-vsrresnet"])
def test_int8_keeps_the_recipes_convolutions_in_fp32(which: str, model_file: Path, lr_model_file: Path) -> None:
    path = model_file if which == "vsrresnet" else lr_model_file
    ref = load_model(path, device="cpu", precision="fp32", backend="torch")
    up = load_model(path, device="cpu", precision="int8", backend="openvino")
    x = _clip_window()
    got = up._predict(x)
    assert up.precision == "int8"
    kinds = _runtime_precisions(up.engine)
    # The head reads the frames in fp32, and so does an LR-space network's tail (it makes the
    # sub-pixel phases); every other convolution computes in u8.
    fp32 = [0, len(kinds) - 1] if which == "lr-vsrresnet" else [0]
    assert [i for i, k in enumerate(kinds) if k == "f32"] == fp32 and len(kinds) >= 6, kinds
    assert {k for i, k in enumerate(kinds) if i not in fp32} == {"u8"}, kinds
    assert quantize.recipe(up.model) == (quantize.RECIPE_LR_SPACE if which == "lr-vsrresnet" else quantize.RECIPE)
    # Close to fp32 (static per-tensor scales: an error of a few levels), but not equal: really int8.
    assert 30 < _psnr(got, ref._predict(x)) < 100
    # Tiles, and a transposed shape, through the same compiled network: the whole frame's result.
    up.tile = 16
    torch.testing.assert_close(up._predict(x), got, rtol=0, atol=1e-5)
    up.tile = 0
    ens = load_model(path, device="cpu", precision="int8", backend="openvino", self_ensemble=True)
    assert 30 < _psnr(ens._predict(x), ref._predict(x))


def test_the_cache_is_reused_and_rebuilt_when_corrupt_or_stale(model_file: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAVSR_CACHE", str(tmp_path))
    calls = []
    real = quantize.quantize
    monkeypatch.setattr(quantize, "quantize", lambda *a: calls.append(1) or real(*a))
    x = torch.rand(1, 5, 24, 20)

    def run() -> torch.Tensor:
        return load_model(model_file, device="cpu", precision="int8", backend="openvino")._predict(x)

    with pytest.warns(SavsrWarning, match="quantizing the model to int8"):
        first = run()
    entries = list((tmp_path / "int8").iterdir())
    assert len(calls) == 1 and len(entries) == 1  # no temporary folder left behind
    meta = json.loads((entries[0] / "meta.json").read_text())
    assert meta["nncf"] == __import__("nncf").__version__ and set(meta["files"]) == {"model.xml", "model.bin"}
    assert torch.equal(run(), first) and len(calls) == 1  # reused, and the same network
    (entries[0] / "model.bin").write_bytes((entries[0] / "model.bin").read_bytes()[:-8])
    with pytest.warns(SavsrWarning, match="is corrupt: model.bin does not match its digest; quantizing again"):
        assert torch.equal(run(), first)
    assert len(calls) == 2
    meta = json.loads((entries[0] / "meta.json").read_text())
    (entries[0] / "meta.json").write_text(json.dumps(meta | {"nncf": "0.0"}))
    with pytest.warns(SavsrWarning, match="is stale: made by OpenVINO .* and NNCF 0.0; quantizing again"):
        assert torch.equal(run(), first)
    assert len(calls) == 3 and len(list((tmp_path / "int8").iterdir())) == 1


WORKER = r"""
import sys, numpy as np, torch
from savsr.infer.upscaler import load_model
up = load_model(sys.argv[1], device="cpu", precision="int8", backend="openvino")
x = torch.from_numpy(np.load(sys.argv[2]))
np.save(sys.argv[3], up._predict(x).numpy())
"""


def test_two_processes_with_an_empty_cache_get_the_same_network(model_file: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", torch.rand(1, 5, 30, 26).numpy())
    env = {**__import__("os").environ, "SAVSR_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(model_file), str(tmp_path / "x.npy"),
                               str(tmp_path / f"out{i}.npy")], env=env, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    assert np.array_equal(np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy"))
    assert [p.name for p in (tmp_path / "cache" / "int8").iterdir()] == [quantize.network_digest(
        load_model(model_file, device="cpu", precision="fp32", backend="torch").model, 5)]


def test_int8_is_refused_where_it_cannot_run(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParameterError, match="int8 runs through OpenVINO, and the torch backend was asked for"):
        load_model(model_file, device="cpu", precision="int8", backend="torch")
    with pytest.raises(ParameterError, match="int8 runs on the CPU"):
        from savsr.precision import resolve_precision

        resolve_precision("int8", torch.device("cuda"))


HIDDEN_NNCF = r"""
import sys
sys.modules["nncf"] = None
from savsr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_nncf_int8_is_one_line_and_auto_never_takes_it(model_file: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(tmp_path / "in.png")
    done = subprocess.run([sys.executable, "-c", HIDDEN_NNCF, "upscale", str(tmp_path / "in.png"), "-o",
                           str(tmp_path / "out.png"), "--model", str(model_file), "--precision", "int8"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "savsr: error: --precision int8 needs the nncf package, which quantizes the model: pip install 'savsr[int8]'"]
    assert not (tmp_path / "out.png").exists()
    # auto takes int8 for a bundled model only when its recorded cost was measured on this very
    # network, within the limits, and nncf is there.
    model = load_model(model_file, device="cpu", precision="fp32", backend="torch").model
    record = {"psnr": -0.01, "lpips_relative": 0.004, "network": quantize.network_digest(model, 5)}
    monkeypatch.setattr(quantize, "int8_cost", lambda name: record if name == "tiny_x2" else None)
    assert load_model(model_file, device="cpu", backend="openvino").precision == "int8"
    assert load_model(model_file, device="cpu", backend="torch").precision != "int8"
    for bad in ({"psnr": -0.06}, {"lpips_relative": 0.011}, {"network": "another"}):
        monkeypatch.setattr(quantize, "int8_cost", lambda name, bad=bad: record | bad)
        assert load_model(model_file, device="cpu", backend="openvino").precision != "int8"
    monkeypatch.setattr(quantize, "int8_cost", lambda name: record)
    monkeypatch.setattr(quantize, "nncf_available", lambda: False)
    assert load_model(model_file, device="cpu", backend="openvino").precision != "int8"


def test_calibration_comes_from_the_training_sources() -> None:
    """The bundled clips: 16 windows of 5 frames whose input has the model's layout at every scale."""
    for scale in (2, 3, 4):
        windows = quantize.calibration_windows(lambda lr: lr.float()[:1] / 255, scale, 5)
        assert len(windows) == 16 and windows[0].shape == (1, 5, 120 // scale, 120 // scale)
        assert 0.2 < float(torch.cat(windows).mean()) < 0.8


def test_the_measured_cost_reaches_the_card_and_auto(model_file: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/int8_cost.py with its evaluations faked: the record and the card's table it writes,
    and `auto` taking int8 for the model exactly when the record allows."""
    sys.path.insert(0, str(REPO / "scripts"))
    import int8_cost

    from savsr.models import zoo

    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "tiny-x2.safetensors").write_bytes(model_file.read_bytes())
    (weights / "tiny-x2.md").write_text("# tiny-x2\n\nA card from before int8.\n")
    for module in (zoo, int8_cost):
        monkeypatch.setattr(module, "weights_dir", lambda: weights)
    means = {"fp32": {"psnr": 30.0, "ssim": 0.9, "lpips": 0.2, "tof": 0.3, "tlp": 0.8, "frames": 171},
             "int8": {"psnr": 29.97, "ssim": 0.899, "lpips": 0.201, "tof": 0.31, "tlp": 0.81, "frames": 171}}
    given = []  # the degradation each evaluation is asked for: the model's own (its metadata; BI here)
    monkeypatch.setattr(int8_cost, "scored", lambda name, scale, precision, data, out, degradation, int8:
                        given.append((degradation, int8["recipe"])) or means[precision])
    assert int8_cost.main(["tiny-x2", "--data", str(tmp_path)]) == 0
    record = json.loads((weights / "int8_cost.json").read_text())["tiny-x2"]
    assert given == [("bi", quantize.RECIPE)] * 2 and record["degradation"] == "bi"
    assert record["recipe"] == quantize.RECIPE
    assert record["psnr"] == pytest.approx(-0.03) and record["lpips_relative"] == pytest.approx(0.005)
    assert record["tlp_relative"] == pytest.approx(0.0125) and record["scale"] == 2
    card = (weights / "tiny-x2.md").read_text()
    assert "A card from before int8." in card
    assert "| int8 − fp32 | -0.03 | -0.0010 | +0.0010 | +0.010 | +0.010 |" in card.splitlines()
    assert "`--precision auto` takes int8 for this model" in card
    assert int8_cost.table({"tiny-x2": record}).splitlines()[2] == (
        f"| tiny-x2 | −0.030 | +0.50 % | +1.25 % | yes | {record['cpu']} |")
    assert load_model("tiny-x2", device="cpu", backend="openvino").precision == "int8"
    # A cost over the limit: recorded, said on the card, and auto keeps the default.
    means["int8"]["lpips"] = 0.203
    assert int8_cost.main(["tiny-x2", "--data", str(tmp_path)]) == 0
    assert "does not take int8 for this model" in (weights / "tiny-x2.md").read_text()
    assert card.count("## int8") == 1 == (weights / "tiny-x2.md").read_text().count("## int8")
    assert load_model("tiny-x2", device="cpu", backend="openvino").precision != "int8"
