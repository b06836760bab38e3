"""The layering of docs/architecture.md, checked on every import in the package."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "savsr"
# Layer of each top-level module or sub-package (docs/architecture.md); a module may import its
# own layer and those below, except that losses and metrics (both 4) may not import each other.
LAYER = {
    "errors": 0, "fileio": 0, "device": 0, "precision": 0, "telemetry": 0,
    "media": 1, "data": 2, "models": 3, "losses": 4, "metrics": 4, "infer": 5, "evaluation": 6, "train": 7,
    "serve": 8, "figures": 9, "demo": 9, "cli": 9, "__main__": 9, "__init__": 9,
}
SIBLINGS_APART = {"losses", "metrics"}
# The "may import" column of docs/architecture.md for the layers below train (train and above may
# import everything below them, which LAYER checks).
BASE = {"errors", "fileio", "device", "precision", "telemetry"}
MAY_IMPORT = {
    **{unit: BASE for unit in BASE},
    "media": BASE, "data": BASE | {"media"}, "models": BASE | {"media", "data"},
    "losses": BASE | {"media", "data", "models"}, "metrics": BASE | {"media", "data", "models"},
    "infer": BASE | {"media", "data", "models"},
    "evaluation": BASE | {"media", "data", "models", "metrics", "infer"},
}


def _unit(path: Path) -> str:
    """The top-level module or sub-package a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_units(path: Path) -> set[str]:
    """The savsr units a file imports, anywhere in it."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(parts[: len(parts) - node.level])
                target = base + (node.module.split(".") if node.module else [])
                names = [target[0]] if target else [a.name for a in node.names]
            elif node.module and node.module.split(".")[0] == "savsr":
                target = node.module.split(".")[1:]
                names = [target[0]] if target else [a.name for a in node.names]
            else:
                continue
            found.update(n if n in LAYER else "__init__" for n in names)  # `from . import __version__`
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bits = alias.name.split(".")
                if bits[0] == "savsr" and len(bits) > 1:
                    found.add(bits[1])
    return found


def test_every_module_has_a_layer() -> None:
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units <= LAYER.keys(), f"modules missing from docs/architecture.md and LAYER: {units - LAYER.keys()}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        unit = _unit(path)
        for other in _imported_units(path) - {unit}:
            if other not in LAYER:
                wrong.append(f"{path.relative_to(REPO)} imports unknown savsr.{other}")
            elif LAYER[other] > LAYER[unit] or {unit, other} == SIBLINGS_APART:
                wrong.append(f"{path.relative_to(REPO)} ({unit}, layer {LAYER[unit]}) imports {other} (layer {LAYER[other]})")
    assert not wrong, "\n".join(wrong)


def test_imports_follow_the_may_import_column() -> None:
    wrong = [f"{path.relative_to(REPO)} ({_unit(path)}) imports {other}, not in its column"
             for path in sorted(PACKAGE.rglob("*.py")) if _unit(path) in MAY_IMPORT
             for other in sorted(_imported_units(path) - {_unit(path)} - MAY_IMPORT[_unit(path)])]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """A metrics module importing the trainer, relatively and lazily, is caught."""
    fake = PACKAGE / "metrics" / "_layering_probe.py"
    fake.write_text("def f():\n    from ..train import Trainer\n    from savsr.losses import charbonnier\n")
    try:
        assert _imported_units(fake) == {"train", "losses"}
    finally:
        fake.unlink()
