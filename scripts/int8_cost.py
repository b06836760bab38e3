"""Measure what int8 costs each bundled model on Vid4, and record it where `--precision auto` reads it.

    .venv/bin/python scripts/int8_cost.py sa-vsrgan-x4            # one model (default: every bundled one)
    .venv/bin/python scripts/int8_cost.py --table                 # docs/performance.md's table of every record
    .venv/bin/python scripts/int8_cost.py --cards                 # rewrite each measured model's card from its record

For each model: `savsr evaluate` at its scale on all Vid4 frames (degraded as the model was trained,
BI or BD, from its metadata; Y, LPIPS-alex on RGB, tOF/tLP),
through OpenVINO in fp32 and in int8, into eval_output/int8/NAME/{fp32,int8}/ (reused while the
weights, the data and the OpenVINO and NNCF versions are unchanged). Then:
- src/savsr/weights/int8_cost.json gets the model's ΔPSNR, ΔSSIM, ΔLPIPS (and relative), ΔtOF and
  ΔtLP (relative) of int8 against fp32, and the digest of the network measured
  (infer/quantize.py ``network_digest``): `auto` takes int8 only for that network
  (ΔPSNR ≥ −0.05 dB and ΔLPIPS ≤ +1 %, infer/quantize.py ``INT8_AUTO``);
- the model card's ``int8`` section shows the same, with the CPU it was measured on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from savsr import load_model
from savsr.errors import SavsrError
from savsr.evaluation import EvalConfig, evaluate, write_reports
from savsr.fileio import atomic_output
from savsr.infer.quantize import INT8_AUTO, versions, network_digest
from savsr.models.zoo import INT8_COSTS, available_models, bundled_paths, weights_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import machine_info  # noqa: E402
from scripts.bundle_model import INT8_SECTION  # noqa: E402
from scripts.reproduction_tables import replace_sections  # noqa: E402

KEYS = (("psnr", "PSNR-Y (dB)", 2), ("ssim", "SSIM-Y", 4), ("lpips", "LPIPS-alex", 4), ("tof", "tOF", 3),
        ("tlp", "tLP", 3))


def scored(name: str, scale: int, precision: str, data: Path, out: Path, degradation: str, int8: dict) -> dict:
    """The mean row of ``name``'s Vid4 evaluation in ``precision``, evaluated now or reused (an int8
    one while its quantization, ``int8``: infer/quantize.py ``versions``, is the same)."""
    folder = out / name / precision
    stamp = json.dumps({"weights": hashlib.sha256(bundled_paths(name)[0].read_bytes()).hexdigest(), "data": str(data),
                        **({"degradation": degradation} if degradation != "bi" else {}),
                        **(int8 if precision == "int8" else {})}, sort_keys=True)
    if (folder / "stamp").is_file() and (folder / "stamp").read_text() == stamp and (folder / "results.json").is_file():
        print(f"{name} {precision}: results reused ({folder})")
    else:
        print(f"{name} {precision}: evaluating into {folder}")
        cfg = EvalConfig(data=data, scale=scale, model=name, precision=precision, backend="openvino", temporal=True,
                         degradation=degradation)
        results, baseline = evaluate(cfg)
        write_reports(results, baseline, cfg, folder, overwrite=True)
        (folder / "stamp").write_text(stamp)
    return json.loads((folder / "results.json").read_text())["table"]["mean"]


def auto_takes(record: dict) -> bool:
    """Whether `--precision auto` takes int8 for a model with this cost (infer/quantize.py ``INT8_AUTO``)."""
    return record["psnr"] >= INT8_AUTO["psnr"] and record["lpips_relative"] <= INT8_AUTO["lpips_relative"]


def card_section(name: str, record: dict) -> str:
    """The card's int8 table: fp32, int8 and their difference, and whether `auto` takes int8."""
    fp32, int8 = record["fp32"], record["int8"]
    rows = ["| | " + " | ".join(label for _, label, _ in KEYS) + " |", "|---|" + "---:|" * len(KEYS),
            "| fp32 | " + " | ".join(f"{fp32[k]:.{d}f}" for k, _, d in KEYS) + " |",
            "| int8 | " + " | ".join(f"{int8[k]:.{d}f}" for k, _, d in KEYS) + " |",
            "| int8 − fp32 | " + " | ".join(f"{int8[k] - fp32[k]:+.{d}f}" for k, _, d in KEYS) + " |"]
    auto = auto_takes(record)
    degradation = record.get("degradation", "bi")
    given = f" ({degradation.upper()} input, as the model was trained)" if degradation != "bi" else ""
    return ("\n".join(rows) + f"\n\nAll {record['frames']} Vid4 frames at ×{record['scale']}{given}, OpenVINO on {record['cpu']} "
            f"(OpenVINO {record['openvino']}, NNCF {record['nncf']}; {record['recipe']}); LPIPS {record['lpips_relative']:+.1%}, "
            f"tLP {record['tlp_relative']:+.1%}. `--precision auto` "
            + ("takes int8 for this model (ΔPSNR ≥ −0.05 dB and ΔLPIPS ≤ +1 %)." if auto else
               "does not take int8 for this model (it needs ΔPSNR ≥ −0.05 dB and ΔLPIPS ≤ +1 %).")
            + " Made by `scripts/int8_cost.py`.\n")


def table(costs: dict[str, dict]) -> str:
    """docs/performance.md's table of the measured costs, one row per model (by name)."""
    def signed(text: str) -> str:
        return text.replace("-", "−").replace("%", " %")

    rows = ["| model | ΔPSNR-Y (dB) | ΔLPIPS | ΔtLP | `auto` takes int8 | measured on |", "|---|---:|---:|---:|---|---|"]
    for name, r in costs.items():
        given = f" ({r['degradation'].upper()} input)" if r.get("degradation", "bi") != "bi" else ""
        numbers = signed(f"{r['psnr']:+.3f} | {r['lpips_relative']:+.2%} | {r['tlp_relative']:+.2%}")
        rows.append(f"| {name}{given} | {numbers} | {'yes' if auto_takes(r) else 'no'} | {r['cpu']} |")
    return "\n".join(rows)


def write_card(name: str, record: dict) -> Path:
    """Put ``record`` into the int8 section of ``name``'s card (added to a card from before int8)."""
    card = bundled_paths(name)[1]
    if "<!-- BEGIN generated:int8 -->" not in card.read_text():
        card.write_text(card.read_text().rstrip() + "\n\n" + INT8_SECTION)
    replace_sections(card, {"int8": card_section(name, record)})
    return card


def record_for(name: str, data: Path, out: Path) -> dict:
    """Measure ``name`` in fp32 and int8 and return its int8_cost.json record."""
    up = load_model(name, device="cpu", precision="fp32", backend="torch")
    scale = up.scale
    degradation = up.degradation.spec  # from the weights' metadata: a BD model is scored on BD input
    quantization = versions(up.model)
    fp32, int8 = (scored(name, scale, precision, data, out, degradation, quantization) for precision in ("fp32", "int8"))
    return {"psnr": int8["psnr"] - fp32["psnr"], "ssim": int8["ssim"] - fp32["ssim"],
            "lpips": int8["lpips"] - fp32["lpips"], "lpips_relative": int8["lpips"] / fp32["lpips"] - 1,
            "tof": int8["tof"] - fp32["tof"], "tlp_relative": int8["tlp"] / fp32["tlp"] - 1,
            "network": network_digest(up.model, up.spec.frames * up.spec.channels), "scale": scale,
            "frames": int(fp32["frames"]), "degradation": degradation, "cpu": machine_info()["cpu"], **quantization,
            "fp32": {k: fp32[k] for k, _, _ in KEYS}, "int8": {k: int8[k] for k, _, _ in KEYS}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", help="bundled model names (default: all)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/vid4/GT"))
    parser.add_argument("--out", type=Path, default=Path("eval_output/int8"))
    parser.add_argument("--table", action="store_true", help="print the table of every record and stop")
    parser.add_argument("--cards", action="store_true", help="rewrite the cards of every record and stop")
    args = parser.parse_args(argv)
    names = args.models or [m.name for m in available_models()]
    path = weights_dir() / INT8_COSTS
    if args.table:
        print(table(json.loads(path.read_text())))
        return 0
    if args.cards:
        for name, record in json.loads(path.read_text()).items():
            print(f"{write_card(name, record)} updated")
        return 0
    try:
        for name in names:
            record = record_for(name, args.data, args.out)
            costs = json.loads(path.read_text()) if path.is_file() else {}
            costs[name] = record
            with atomic_output(path, overwrite=True) as tmp:  # one record replaced, the others kept
                tmp.write_text(json.dumps(dict(sorted(costs.items())), indent=2) + "\n")
            card = write_card(name, record)
            print(f"{name}: ΔPSNR {record['psnr']:+.3f} dB, ΔLPIPS {record['lpips_relative']:+.2%}, "
                  f"ΔtLP {record['tlp_relative']:+.2%}; {path} and {card} updated")
    except SavsrError as exc:
        print(f"int8_cost: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
