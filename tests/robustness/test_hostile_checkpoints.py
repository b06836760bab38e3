"""Checkpoints from strangers and from damaged disks: no code runs, corruption is detected, and a
file for another network or scale is refused with a message that says what does not fit."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from savsr.cli import main
from savsr.errors import SavsrError
from savsr.models.checkpoint import FORMAT, GeneratorSpec, load_generator, save_generator
from savsr.train import Trainer, load_config
from savsr.train.checkpoint import CheckpointManager, load_checkpoint
from savsr.train.trainer import build_discriminator
from train_helpers import make_dataset, write_config

PWNED = Path("/tmp/savsr-pwned-ckpt")


class Evil:
    """Unpickling this runs a shell command."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


@pytest.fixture(scope="module")
def generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    spec = GeneratorSpec(scale=4, blocks=1, features=8)
    return save_generator(spec.build(), spec, tmp_path_factory.mktemp("g") / "tiny_x4.safetensors")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training checkpoint of a tiny run at step 0, as Trainer.save writes it."""
    tmp = tmp_path_factory.mktemp("ckpt")
    cfg = write_config(tmp / "c.yaml", make_dataset(tmp))
    return Trainer(load_config(cfg), tmp / "run", progress=False).save()


def _resum(folder: Path) -> None:
    """Recompute checksums.json, as someone who altered the files on purpose would."""
    sums = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
            for name in json.loads((folder / "checksums.json").read_text())}
    (folder / "checksums.json").write_text(json.dumps(sums))


def _copy(checkpoint: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "checkpoints" / checkpoint.name
    folder.mkdir(parents=True)
    for f in checkpoint.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # our hand-made malicious pickle
def test_pickled_code_in_state_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    folder = _copy(checkpoint, tmp_path)
    (folder / "state.pt").write_bytes(pickle.dumps({"x": Evil()}))
    _resum(folder)
    with pytest.raises(SavsrError, match="refused") as info:
        load_checkpoint(folder)
    assert "\n" not in str(info.value)
    assert not PWNED.exists()


def test_pickle_given_as_a_model_is_not_unpickled(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tmp_path / "evil.safetensors"
    model.write_bytes(pickle.dumps({"weights": Evil()}))
    torch.save({"weights": Evil()}, tmp_path / "evil.pt")
    for path in (model, tmp_path / "evil.pt"):
        assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--model", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not a readable safetensors file" in err[0], err
    assert not PWNED.exists()


def test_checksum_mismatch_and_truncation_are_detected(checkpoint: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    folder = _copy(checkpoint, tmp_path)
    weights = folder / "generator.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(data)
    assert CheckpointManager(tmp_path).latest() is None
    assert "generator.safetensors does not match its checksum" in caplog.text
    with pytest.raises(SavsrError, match="does not match its checksum"):
        load_checkpoint(folder)
    # Truncated files whose checksums were recomputed still fail cleanly, not with a traceback.
    weights.write_bytes(data[:300])
    _resum(folder)
    with pytest.raises(SavsrError, match="corrupt weights"):
        load_checkpoint(folder)
    weights.write_bytes((checkpoint / weights.name).read_bytes())
    state = folder / "state.pt"
    state.write_bytes(state.read_bytes()[:1000])
    _resum(folder)
    with pytest.raises(SavsrError, match="state.pt: corrupt"):
        load_checkpoint(folder)


def _altered(generator: Path, tmp_path: Path, name: str, edit) -> Path:
    tensors = load_file(str(generator))
    meta = {"format": FORMAT, "scale": "4", "color": "y", "frames": "5", "blocks": "1", "features": "8"}
    edit(tensors, meta)
    save_file(tensors, str(tmp_path / name), metadata=meta)
    return tmp_path / name


def test_generator_with_wrong_tensors_names_them(generator: Path, tmp_path: Path) -> None:
    first = sorted(load_file(str(generator)))[0]
    cases = {
        "missing": (lambda t, m: t.pop(first), f"missing {first}"),
        "reshaped": (lambda t, m: t.update({first: torch.zeros(3, 3)}), f"{first} is [3, 3], not [8]"),
        "extra": (lambda t, m: t.update({"bogus": torch.zeros(1)}), "unexpected bogus"),
        "other_arch": (lambda t, m: m.update(blocks="2"), "missing body.1."),
    }
    for name, (edit, needle) in cases.items():
        path = _altered(generator, tmp_path, f"{name}.safetensors", edit)
        with pytest.raises(SavsrError) as info:
            load_generator(path)
        message = str(info.value)
        assert needle in message and str(path) in message and "\n" not in message, message
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(generator.read_bytes()[:400])
    with pytest.raises(SavsrError, match="not a readable safetensors file"):
        load_generator(truncated)


def test_resume_with_another_network_or_scale_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    folder = _copy(checkpoint, tmp_path)
    cfg = checkpoint.parents[2] / "c.yaml"
    for override, needle in (("model.blocks=3", "3 blocks"), ("data.scale=4", "×4")):
        trainer = Trainer(load_config(cfg, [override]), tmp_path, progress=False)
        with pytest.raises(SavsrError, match="this config trains") as info:
            trainer.resume("auto")
        assert needle in str(info.value) and str(folder) in str(info.value)


def test_discriminator_weights_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    """run.init_discriminator (and term_gradients' --discriminator): a file for another
    discriminator or a damaged file gives one line naming the file, not a traceback."""
    cfg = load_config(write_config(tmp_path / "c.yaml", make_dataset(tmp_path)))
    good = build_discriminator(cfg)
    state = {k: v.clone() for k, v in good.state_dict().items()}
    first = sorted(state)[0]
    wrong = tmp_path / "wrong.safetensors"
    save_file({**state, first: torch.zeros(2, 2)}, str(wrong))
    truncated = tmp_path / "truncated.safetensors"
    save_file(state, str(tmp_path / "full.safetensors"))
    truncated.write_bytes((tmp_path / "full.safetensors").read_bytes()[:300])
    for path, needle in ((wrong, first), (truncated, "discriminator")):
        with pytest.raises(SavsrError) as info:
            build_discriminator(cfg, str(path))
        message = str(info.value)
        assert needle in message and str(path) in message and "\n" not in message, message
    loaded = build_discriminator(cfg, str(tmp_path / "full.safetensors"))
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), state.values()))
