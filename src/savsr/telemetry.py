"""savsr sends nothing anywhere: the usage telemetry of the libraries it runs is turned off in
every process that imports savsr, before any of them is imported.

- OpenVINO sends an event when it is imported, and NNCF when it quantizes, both through the
  ``openvino_telemetry`` package, which posts each event from a forked child process (a fork
  from a threaded server, which hung and kept its port). Both treat that package as optional and
  send nothing where it cannot be imported, so savsr makes it unimportable in its processes.
  Their documented opt-out, ``opt_in_out --opt_out``, writes the user's consent file for every
  OpenVINO tool they use: a choice that is the user's to make, not savsr's (docs/inference.md).
- Ray reports usage unless ``RAY_USAGE_STATS_ENABLED`` is 0, its documented opt-out, which the
  processes it starts inherit.

A program that imported OpenVINO or NNCF before savsr has already started their telemetry; savsr
cannot recall that, and says so in docs/inference.md.
"""

from __future__ import annotations

import os
import sys

TELEMETRY_PACKAGE = "openvino_telemetry"


def turn_off_telemetry() -> None:
    """Stop OpenVINO, NNCF and Ray from sending usage data from this process and its children."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if TELEMETRY_PACKAGE not in sys.modules:
        sys.modules[TELEMETRY_PACKAGE] = None  # `import openvino_telemetry` now raises ImportError

