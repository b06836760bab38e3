"""Training: typed configs, the resumable trainer (pretrain and GAN stages), checkpoints, DDP."""

from .config import Config, dump_config, load_config
from .trainer import Trainer, TrainingInterrupted

__all__ = ["Config", "Trainer", "TrainingInterrupted", "dump_config", "load_config"]
