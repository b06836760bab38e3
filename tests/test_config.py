"""Typed configs: every shipped config loads, errors name the key, overrides work."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from savsr.errors import SavsrError
from savsr.train.config import dump_config, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_shipped_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.frames == 5
    if cfg.model.kind == "lr-vsrresnet":  # HR patches on the LR grid, LR patches of 24 pixels or more
        assert cfg.data.patch_size % cfg.data.scale == 0 and cfg.data.patch_size // cfg.data.scale >= 24
    else:
        assert cfg.data.patch_size == 36
    if path.parent == CONFIGS:  # paper-scale values (Sec. 3.1)
        assert cfg.run.batch_size == 64
        if cfg.stage == "pretrain":
            assert (cfg.optim.lr_g, cfg.optim.milestones, cfg.run.epochs) == (1e-3, [0.5, 0.75], 100)
        else:
            assert (cfg.optim.lr_g, cfg.optim.lr_d, cfg.run.epochs) == (1e-4, 1e-4, 30)
            assert (cfg.optim.weight_decay_g, cfg.optim.weight_decay_d) == (1e-4, 1e-3)
            baseline = path.name.startswith("vsrresfeatgan")
            assert (cfg.loss.beta2, cfg.loss.beta3) == ((0.0, 0.0) if baseline else (0.1, 0.1))
            assert (cfg.loss.alpha1, cfg.loss.alpha2, cfg.loss.alpha3) == (0.001, 0.001, 0.798)
    elif path.parent.name == "gpu":  # sized by scripts/gpu/train_pretrain.sh to a time budget
        assert cfg.data.cache_lr and cfg.run.device == "cuda" and not cfg.data.val
        assert "time budget" in path.read_text().split("stage:")[0]
    else:  # budget recipes state their budget in the opening comment
        assert "minutes" in path.read_text().split("\n\n")[0].split("stage:")[0]


def test_every_scale_and_kind_is_shipped() -> None:
    for s in (2, 3, 4):
        for kind in ("vsrresnet", "vsrresfeatgan", "sa_vsrgan"):
            assert (CONFIGS / f"{kind}_x{s}.yaml").is_file()


def test_overrides_and_round_trip(tmp_path: Path) -> None:
    overrides = ["run.epochs=2", "loss.beta2=0", "data.roots=[a, b]", "run.seed=3", "optim.lr_g=2e-4"]
    cfg = load_config(CONFIGS / "sa_vsrgan_x4.yaml", overrides)
    assert (cfg.run.epochs, cfg.loss.beta2, cfg.data.roots, cfg.run.seed) == (2, 0.0, ["a", "b"], 3)
    assert cfg.optim.lr_g == 2e-4  # YAML 1.1 reads 2e-4 as a string
    dumped = tmp_path / "c.yaml"
    dumped.write_text(dump_config(cfg))
    assert load_config(dumped) == cfg


@pytest.mark.parametrize(
    "override, message",
    [
        ("run.epoch=3", "run.epoch: unknown key"),
        ("loss.gamma.x=1", "loss.gamma: unknown key"),
        ("run.epochs=ten", "run.epochs: expected int"),
        ("optim.lr_g=fast", "optim.lr_g: expected float"),
        ("loss.fusion=median", "loss.fusion: expected one of"),
        ("data.scale=5", "data.scale: must be 2, 3 or 4"),
        ("loss.feature_layers=[relu9_9]", "loss.feature_layers"),
        ("run.init=null", "run.init"),
        ("optim.milestones=[1.5]", "optim.milestones"),
        ("run.ema=1", "run.ema: is a decay in"),
        ("loss.temporal=-1", "loss.temporal: must be >= 0"),
        ("loss.periodic=-1", "loss.periodic: must be >= 0"),
        (["loss.periodic=1", "data.patch_size=98"], "loss.periodic: needs a data.patch_size that is a multiple of 4"),
        ("epochs", "expected KEY=VALUE"),
    ],
)
def test_errors_name_the_key(override: str | list[str], message: str) -> None:
    with pytest.raises(SavsrError, match=message.replace("[", r"\[")):
        load_config(CONFIGS / "sa_vsrgan_x4.yaml", [override] if isinstance(override, str) else override)


@pytest.mark.parametrize("term", ["temporal", "periodic"])
def test_terms_beyond_the_paper_are_for_the_gan_stage_only(term: str) -> None:
    assert getattr(load_config(CONFIGS / "sa_vsrgan_x4.yaml", [f"loss.{term}=0.5"]).loss, term) == 0.5
    with pytest.raises(SavsrError, match=f"loss.{term}: is a term of the gan stage"):
        load_config(CONFIGS / "vsrresnet_x4.yaml", [f"loss.{term}=0.5"])


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SavsrError, match="no such config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: [unclosed")
    with pytest.raises(SavsrError, match="not valid YAML"):
        load_config(bad)
    bad.write_text(yaml.safe_dump(["a", "list"]))
    with pytest.raises(SavsrError, match="mapping"):
        load_config(bad)
