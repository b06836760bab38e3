"""``python -m savsr`` (and ``torchrun -m savsr``) runs the command line."""

import sys

from .cli import main

sys.exit(main())
