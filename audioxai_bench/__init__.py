"""audioxai-bench: score explanation methods for audio classifiers on AudioMNIST."""

__version__ = "0.1.0"
