"""Run under torchrun by tests/test_train.py and tests/test_cuda.py: train (CONFIG OUT [OVERRIDE ...]),
then let every rank dump its own weights."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from savsr.train import Trainer, load_config

config, out = sys.argv[1], Path(sys.argv[2])
trainer = Trainer(load_config(config, sys.argv[3:]), out, progress=False)
final = trainer.fit()
rank = int(__import__("os").environ["RANK"])
g = trainer.g.module if hasattr(trainer.g, "module") else trainer.g
save_file({k: v.contiguous() for k, v in g.state_dict().items()}, str(out / f"rank{rank}.safetensors"))
