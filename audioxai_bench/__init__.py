"""audioxai-bench: score explanation methods for audio classifiers on AudioMNIST."""

from audioxai_bench.hookspecs import hookimpl as hookimpl
from audioxai_bench.hookspecs import hookspec as hookspec

__version__ = "0.1.0"
