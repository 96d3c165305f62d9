"""AudioNet: the waveform CNN of the AudioMNIST paper (Becker et al., arXiv 1807.03418).

Built from the original Caffe definition, not the later TF/Keras files of the reference
repository. Every ReLU, pool and the flatten are modules (no in-place or functional calls), so
zennit composites and captum layer hooks see every layer by its type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from audioxai_bench.models.fillers import Filler

#: Convolution channels of the six conv blocks at width 1.0.
CONV_CHANNELS: tuple[int, ...] = (100, 64, 128, 128, 128, 128)
#: Hidden dense sizes at width 1.0.
HIDDEN_UNITS: tuple[int, ...] = (1024, 512)
#: The prototxt's weight filler of every convolution and dense layer (bias filler 0).
CAFFE_WEIGHT_STD = 0.1
#: Length of the feature map entering the classifier (8000 halved six times, Caffe ceil rounding).
FEATURE_LENGTH = 125


def scaled(n: int, width: float, multiple: int = 1) -> int:
    """Scale a layer size by ``width``, rounded to a multiple of ``multiple`` and at least it.

    Narrow variants keep the reference topology so that a CPU-sized model explains like the
    paper's, just with fewer channels.
    """
    if not width > 0:
        raise ValueError(f"width must be positive, got {width!r}")
    return max(multiple, multiple * round(n * width / multiple))


class AudioNet(nn.Module):
    """Waveform classifier for 1 s of 8 kHz audio, input ``(B, 1, 8000)``.

    Parameters
    ----------
    n_classes : int
        10 for the digit task, 2 for the sex task.
    width : float
        Multiplier on every channel count and hidden size (round, at least 1); 1.0 is the paper.
    hidden_activation : bool
        The Caffe net has no non-linearity after the two hidden dense layers (they compose to
        one linear map); ``True`` adds a ReLU after each, a common "fixed" variant.
    """

    model_name: ClassVar[str] = "audionet"
    representation: ClassVar[str] = "waveform"
    input_shape: ClassVar[tuple[int, ...]] = (1, 8000)

    def __init__(self, n_classes: int, width: float = 1.0, hidden_activation: bool = False):
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be at least 1, got {n_classes}")
        self.n_classes = int(n_classes)
        self.width = float(width)
        self.hidden_activation = bool(hidden_activation)

        layers: list[nn.Module] = []
        in_ch = 1
        for i, ch in enumerate(CONV_CHANNELS):
            out_ch = scaled(ch, width)
            layers += [
                nn.Conv1d(in_ch, out_ch, kernel_size=3, stride=1, padding=1),
                nn.ReLU(),
                # Caffe rounds pooled lengths up: 8000 -> 4000 -> 2000 -> ... -> 125.
                nn.MaxPool1d(kernel_size=3 if i == 0 else 2, stride=2, ceil_mode=True),
            ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)

        h1, h2 = (scaled(h, width) for h in HIDDEN_UNITS)
        head: list[nn.Module] = [nn.Flatten(), nn.Linear(in_ch * FEATURE_LENGTH, h1)]
        if hidden_activation:
            head.append(nn.ReLU())
        head += [nn.Dropout(0.5), nn.Linear(h1, h2)]
        if hidden_activation:
            head.append(nn.ReLU())
        head += [nn.Dropout(0.5), nn.Linear(h2, n_classes)]
        self.classifier = nn.Sequential(*head)

    def forward(self, x: Tensor) -> Tensor:
        """Map waveforms ``(B, 1, 8000)`` to class logits ``(B, n_classes)``."""
        return self.classifier(self.features(x))

    def build_args(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture (stored in checkpoints)."""
        return {
            "n_classes": self.n_classes,
            "width": self.width,
            "hidden_activation": self.hidden_activation,
        }

    def caffe_fillers(self) -> list[Filler]:
        """Every weight layer's fillers in the Caffe definition (``TrainConfig.init``)."""
        return [Filler(layer, CAFFE_WEIGHT_STD, 0.0) for layer in self.modules()
                if isinstance(layer, (nn.Conv1d, nn.Linear))]
