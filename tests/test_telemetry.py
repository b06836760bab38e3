"""savsr sends nothing anywhere (savsr/telemetry.py): a savsr process that quantizes a model to
int8 from an empty cache, importing OpenVINO and NNCF, sends no usage event, writes no client id
and forks no process, run as on a user's machine (OpenVINO's telemetry is quiet in CI by itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from savsr.infer.engine import openvino_available
from savsr.precision import nncf_available

# The variables by which OpenVINO's telemetry knows it runs in CI, and stays quiet without savsr.
CI_VARIABLES = ("CI", "TF_BUILD", "JENKINS_URL")

PROBE = r"""
import os, sys
forks = []
os.register_at_fork(before=lambda: forks.append(1))  # os.fork and multiprocessing's fork, not fork+exec
from savsr.cli import main
status = main(sys.argv[1:])
import openvino.tools.ovc.telemetry_utils as openvino_telemetry
import nncf.telemetry.wrapper as nncf_telemetry
print(status, len(forks), openvino_telemetry.tm.__name__, type(nncf_telemetry.telemetry).__name__,
      os.environ.get("RAY_USAGE_STATS_ENABLED", "unset"))
"""


@pytest.mark.skipif(not (openvino_available() and nncf_available()), reason="int8 needs openvino and nncf")
def test_an_int8_run_sends_nothing_and_forks_nothing(model_file: Path, tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    env.update(HOME=str(home), SAVSR_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", PROBE, "upscale", str(tmp_path / "in.png"),
                           "-o", str(tmp_path / "out.png"), "--model", str(model_file), "--device", "cpu",
                           "--precision", "int8"],
                          env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "quantizing the model to int8" in done.stderr  # from an empty cache: NNCF ran
    assert done.stdout.splitlines()[-1].split() == ["0", "0", "openvino.tools.ovc.telemetry_stub", "MagicMock", "0"]
    assert list(home.iterdir()) == []  # OpenVINO's telemetry keeps a client id in ~/intel
