"""Reference models of the AudioMNIST benchmark, their training and their checkpoints."""

from audioxai_bench.models.alexnet import AlexNetSpectrogram
from audioxai_bench.models.audionet import AudioNet
from audioxai_bench.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from audioxai_bench.models.registry import (
    MODEL_NAMES,
    MODELS,
    ModelError,
    build_model,
    get_model_class,
)
from audioxai_bench.models.train import (
    CPU_WIDTH,
    TrainConfig,
    TrainResult,
    cpu_config,
    evaluate,
    paper_config,
    train,
)

__all__ = [
    "CPU_WIDTH",
    "MODEL_NAMES",
    "MODELS",
    "AlexNetSpectrogram",
    "AudioNet",
    "CheckpointError",
    "ModelError",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "cpu_config",
    "evaluate",
    "get_model_class",
    "load_checkpoint",
    "paper_config",
    "save_checkpoint",
    "train",
]
