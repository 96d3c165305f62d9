"""AlexNet-style spectrogram CNN of the AudioMNIST paper (Becker et al., arXiv 1807.03418).

The Caffe AlexNet of Krizhevsky et al. (2012) with one input channel, the two-group convolutions
of the original, no local response normalisation and 1024-unit dense layers. Every layer is a
module of a standard type so that LRP (zennit) and captum can attach to it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from audioxai_bench.models.audionet import scaled
from audioxai_bench.models.fillers import Filler
from audioxai_bench.models.layers import InputConv2d

#: Convolution channels at width 1.0 (conv1..conv5).
CONV_CHANNELS: tuple[int, ...] = (96, 256, 384, 384, 256)
#: Hidden dense sizes at width 1.0.
HIDDEN_UNITS: tuple[int, ...] = (1024, 1024)
#: The prototxt's fillers (weight std, bias) of conv1..conv5 and fc6..fc8, in layer order.
CAFFE_FILLERS: tuple[tuple[float, float], ...] = (
    (0.01, 0.0), (0.01, 0.1), (0.01, 0.0), (0.01, 0.1), (0.01, 0.1),
    (0.005, 0.1), (0.005, 0.1), (0.01, 0.0),
)
#: Side of the last feature map: 227 -> 55 -> 27 -> 13 -> 6.
FEATURE_SIDE = 6


class AlexNetSpectrogram(nn.Module):
    """Spectrogram classifier, input ``(B, 1, 227, 227)`` (dB magnitudes, row 0 = 0 Hz).

    Parameters
    ----------
    n_classes : int
        10 for the digit task, 2 for the sex task.
    width : float
        Multiplier on every channel count and hidden size; 1.0 is the paper. Convolution
        channels stay even because conv2, conv4 and conv5 use two groups.
    """

    model_name: ClassVar[str] = "alexnet"
    representation: ClassVar[str] = "spectrogram"
    input_shape: ClassVar[tuple[int, ...]] = (1, 227, 227)

    def __init__(self, n_classes: int, width: float = 1.0):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.n_classes = int(n_classes)
        self.width = float(width)
        c1, c2, c3, c4, c5 = (scaled(c, width, multiple=2) for c in CONV_CHANNELS)
        h1, h2 = (scaled(h, width) for h in HIDDEN_UNITS)

        self.features = nn.Sequential(
            InputConv2d(1, c1, kernel_size=11, stride=4),  # nn.Conv2d, faster to train
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, padding=2, groups=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1, groups=2),
            nn.ReLU(),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1, groups=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c5 * FEATURE_SIDE * FEATURE_SIDE, h1),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(h1, h2),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(h2, n_classes),
        )

    @property
    def input_layer(self) -> nn.Module:
        """The first convolution (unpadded): a centred training input folds into it."""
        return self.features[0]

    def forward(self, x: Tensor) -> Tensor:
        """Map spectrograms ``(B, 1, 227, 227)`` to class logits ``(B, n_classes)``."""
        return self.classifier(self.features(x))

    def build_args(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture (stored in checkpoints)."""
        return {"n_classes": self.n_classes, "width": self.width}

    def caffe_fillers(self) -> list[Filler]:
        """Every weight layer's fillers in the Caffe definition (``TrainConfig.init``)."""
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        return [Filler(layer, std, bias) for layer, (std, bias) in zip(layers, CAFFE_FILLERS,
                                                                        strict=True)]
