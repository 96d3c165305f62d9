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
    TrainConfig,
    TrainResult,
    evaluate,
    train,
)

__all__ = [
    "MODEL_NAMES",
    "MODELS",
    "AlexNetSpectrogram",
    "AudioNet",
    "CheckpointError",
    "ModelError",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "get_model_class",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]
