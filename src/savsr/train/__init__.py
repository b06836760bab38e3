"""Training: typed configs, the resumable trainer (pretrain and GAN stages), checkpoints, DDP."""

from .config import Config, dump_config, load_config
from .trainer import Trainer, TrainingInterrupted, config_validator

__all__ = ["Config", "Trainer", "TrainingInterrupted", "config_validator", "dump_config", "load_config"]
