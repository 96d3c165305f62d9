"""Training loop, presets and checkpoints of the reference models."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from audioxai_bench.builtin.models import BUILTIN_MODELS
from audioxai_bench.errors import AudioXaiError
from audioxai_bench.models import (
    MODEL_NAMES,
    TrainConfig,
    build_model,
    evaluate,
    load_checkpoint,
    save_checkpoint,
    train,
)
from audioxai_bench.run.artifacts import make_recipe


def tone_set(n: int, seed: int, shuffle_labels: bool = False) -> TensorDataset:
    """Noise with a 0.25 s tone burst at a random place: 300 Hz is class 0, 1200 Hz class 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    t = torch.arange(8000) / 8000
    x = 0.5 * torch.randn(n, 1, 8000, generator=g)
    freq = torch.where(y == 1, 1200.0, 300.0)[:, None]
    start = torch.randint(0, 6000, (n, 1), generator=g)
    idx = torch.arange(8000)
    burst = (idx >= start) & (idx < start + 2000)
    x[:, 0] += burst * torch.sin(2 * math.pi * freq * t)
    if shuffle_labels:
        y = y[torch.randperm(n, generator=g)]
    return TensorDataset(x, y)


FAST = TrainConfig(iterations=60, batch_size=16, lr=2e-3, optimizer="adam", eval_every=20, seed=0)


def small_audionet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("audionet", 2, width=0.0625)


def test_learns_planted_tone_and_not_shuffled_labels() -> None:
    val, test = tone_set(64, 2), tone_set(64, 3)
    result = train(small_audionet(), tone_set(64, 1), val, test, FAST)
    assert result.val_accuracy >= 0.9 and result.test_accuracy >= 0.9

    control = train(small_audionet(), tone_set(64, 1, shuffle_labels=True), val, test, FAST)
    assert control.test_accuracy <= 0.7  # nothing to learn: stays near chance


def test_a_no_class_label_is_the_uniform_target_and_trains_the_uniform_guess() -> None:
    """The cue task teaches its models the uniform guess on cue-free clips (NO_CLASS), so no
    class is the answer to "no cue" (science audit 6, H1)."""
    import torch.nn.functional as F

    from audioxai_bench.models.train import NO_CLASS, class_probabilities, training_loss

    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 3, NO_CLASS, 1, NO_CLASS, 2])
    uniform = torch.full((4,), 0.25)
    expected = torch.stack([F.cross_entropy(row, (uniform if t == NO_CLASS else t))
                            for row, t in zip(logits, y)]).mean()
    assert training_loss(logits, y) == pytest.approx(float(expected), rel=1e-6)
    # the weight scales the NO_CLASS rows' uniform target and nothing else
    none = y == NO_CLASS
    heavier = torch.stack([F.cross_entropy(row, (uniform if t == NO_CLASS else t))
                           * (3.0 if t == NO_CLASS else 1.0) for row, t in zip(logits, y)])
    assert training_loss(logits, y, 3.0) == pytest.approx(float(heavier.mean()), rel=1e-6)
    assert bool(none.any())

    tones = tone_set(64, 1)
    silence = 0.5 * torch.randn(32, 1, 8000, generator=torch.Generator().manual_seed(5))
    both = TensorDataset(torch.cat([tones.tensors[0], silence]),  # the noise without a tone
                         torch.cat([tones.tensors[1], torch.full((32,), NO_CLASS)]))
    noise = TensorDataset(0.5 * torch.randn(32, 1, 8000, generator=torch.Generator()
                                            .manual_seed(6)), torch.zeros(32, dtype=torch.long))
    config = dataclasses.replace(FAST, iterations=120)
    sure = {}
    for name, train_set in (("tones only", tones), ("with no-class noise", both)):
        model = small_audionet()
        result = train(model, train_set, tone_set(64, 2), tone_set(64, 3), config)
        assert result.test_accuracy >= 0.9
        assert result.history[-1]["train_accuracy"] >= 0.9  # counted on labelled inputs only
        p = class_probabilities(model, noise)
        assert p.shape == (32, 2)
        sure[name] = float(p.max(dim=1).values.mean())
    # trained on tones alone it names one class for any noise, sure of it
    assert sure["tones only"] > 0.99 and sure["with no-class noise"] < 0.8


def test_result_fields_history_and_progress() -> None:
    calls = []
    model = small_audionet()
    cfg = dataclasses.replace(FAST, iterations=6, eval_every=4)
    result = train(
        model,
        tone_set(32, 1),
        tone_set(16, 2),
        tone_set(16, 3),
        cfg,
        progress=lambda i, n, info: calls.append((i, n, info)),
    )
    assert [i for i, _, _ in calls] == list(range(1, 7)) and all(n == 6 for _, n, _ in calls)
    # the loss is read at evaluation points only (a step does not wait for the device)
    assert "loss" not in calls[2][2] and "lr" in calls[0][2]
    assert calls[3][2]["loss"] == result.history[0]["loss"] and "val_accuracy" in calls[-1][2]
    assert [h["iteration"] for h in result.history] == [4, 6]  # every eval_every, and the end
    assert set(result.history[0]) >= {"iteration", "loss", "val_accuracy", "lr", "seconds"}
    assert result.iterations == 6 and result.seconds > 0
    assert not model.training  # handed back ready to explain
    assert 0.0 <= result.test_accuracy <= 1.0


class Flip(nn.Module):
    """Linear model on 4 features; the data below makes its validation accuracy fall."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def flip_sets() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return TensorDataset(x, y), TensorDataset(x, 1 - y)  # validation labels are inverted


def flip_model() -> nn.Module:
    torch.manual_seed(0)
    model = Flip()
    with torch.no_grad():  # start out agreeing with the validation labels
        model.fc.weight.zero_()
        model.fc.weight[0, 0], model.fc.weight[1, 0] = 1.0, -1.0
        model.fc.bias.zero_()
    return model


@pytest.mark.parametrize("select", ["best", "final"])
def test_best_versus_final_selection(select: str) -> None:
    train_set, val_set = flip_sets()
    cfg = TrainConfig(
        iterations=40, batch_size=16, lr=0.5, momentum=0.0, eval_every=5, select=select
    )
    model = flip_model()
    result = train(model, train_set, val_set, train_set, cfg)
    accs = [h["val_accuracy"] for h in result.history]
    assert accs[0] > accs[-1]  # learning the train labels unlearns the validation labels
    assert result.best_iteration == result.history[accs.index(max(accs))]["iteration"] == 5
    assert result.select == select
    if select == "best":
        assert result.selected_iteration == result.best_iteration
        assert result.val_accuracy == max(accs)
    else:
        assert result.selected_iteration == cfg.iterations
        assert result.val_accuracy == accs[-1]
    # the model really holds the selected weights
    assert evaluate(model, val_set, batch_size=8) == pytest.approx(result.val_accuracy)
    assert evaluate(model, train_set) == pytest.approx(result.test_accuracy)


def test_same_seed_same_weights() -> None:
    cfg = dataclasses.replace(FAST, iterations=8, eval_every=4)
    data = tone_set(48, 1), tone_set(16, 2), None

    def run(seed: int) -> dict[str, torch.Tensor]:
        model = small_audionet()
        train(model, *data, dataclasses.replace(cfg, seed=seed))
        return model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_lr_halving_and_clipping_on_alexnet() -> None:
    torch.manual_seed(0)
    model = build_model("alexnet", 2, width=0.0625)
    data = TensorDataset(torch.randn(8, 1, 227, 227), torch.arange(8) % 2)
    cfg = TrainConfig(
        iterations=4, batch_size=4, lr=1e-3, lr_halve_every=2, grad_clip=5.0, eval_every=2
    )
    result = train(model, data, data, None, cfg)
    assert [h["lr"] for h in result.history] == [1e-3, 5e-4]
    assert math.isnan(result.test_accuracy)


def test_config_validation_and_presets() -> None:
    with pytest.raises(ValueError, match="select"):
        TrainConfig(select="last")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ValueError, match="needs a validation set"):
        train(small_audionet(), tone_set(4, 1), None, None, TrainConfig(iterations=1))

    specs = {spec.name: spec for spec in BUILTIN_MODELS}
    audionet = specs["audionet"].presets["paper"]
    assert (audionet.iterations, audionet.batch_size, audionet.lr, audionet.momentum) == (
        50_000,
        100,
        1e-4,
        0.9,
    )
    assert audionet.optimizer == "sgd" and audionet.weight_decay == 0.0
    assert audionet.select == "final" and audionet.lr_halve_every is None
    alexnet = make_recipe(specs["alexnet"], "builtin", "digit", 0, "paper", seed=3).config
    assert (alexnet.iterations, alexnet.lr, alexnet.lr_halve_every, alexnet.grad_clip) == (
        10_000,
        1e-3,
        2500,
        5.0,
    )
    assert alexnet.seed == 3 and alexnet.batch_size == 100
    for name in MODEL_NAMES:
        assert specs[name].presets["cpu"].iterations < 5000 and 0 < specs[name].cpu_width < 1
    with pytest.raises(AudioXaiError, match="has no training preset 'tpu'; it declares cpu, paper"):
        make_recipe(specs["audionet"], "builtin", "digit", 0, "tpu")


def test_a_batch_larger_than_the_training_set_is_refused_before_a_step() -> None:
    """Such a batch took the whole set at every step, silently, while the config and the
    records made from it stated the larger batch."""
    model = small_audionet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = dataclasses.replace(FAST, iterations=1, batch_size=9)
    with pytest.raises(AudioXaiError, match=r"^TrainConfig.batch_size 9 is larger than the 8 "
                                            r"clips of the training set; lower it or use more "
                                            r"data$"):
        train(model, tone_set(8, 1), tone_set(4, 2), None, config)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    whole = train(model, tone_set(8, 1), tone_set(4, 2), None,
                  dataclasses.replace(config, batch_size=8))
    assert whole.iterations == 1


def test_cuda_request_without_cuda_is_clear() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="CUDA is not available"):
        train(
            small_audionet(),
            tone_set(4, 1),
            tone_set(4, 2),
            None,
            TrainConfig(iterations=1, device="cuda"),
        )


# --- checkpoints ---------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("audionet", 10, width=0.125, hidden_activation=True).eval()
    path = tmp_path / "sub" / "model.pt"
    meta = {
        "task": "digit",
        "fold": 2,
        "seed": 7,
        "val_accuracy": 0.91,
        "config": FAST,
        "data": Path("/data/x"),
    }
    save_checkpoint(path, model, meta)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary left over

    loaded, got = load_checkpoint(path)
    assert not loaded.training
    assert got["model"] == "audionet" and got["n_classes"] == 10 and got["width"] == 0.125
    assert got["hidden_activation"] is True
    assert got["task"] == "digit" and got["fold"] == 2 and got["val_accuracy"] == 0.91
    assert got["config"]["lr"] == FAST.lr and got["data"] == "/data/x"
    x = torch.randn(3, 1, 8000)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_checkpoint_alexnet_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("alexnet", 2, width=0.0625).eval()
    save_checkpoint(tmp_path / "a.pt", model, {})
    loaded, meta = load_checkpoint(tmp_path / "a.pt")
    assert meta["model"] == "alexnet" and "hidden_activation" not in meta
    x = torch.randn(2, 1, 227, 227)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_checkpoint_errors(tmp_path: Path) -> None:
    model = build_model("audionet", 2, width=0.0625)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt: not a readable checkpoint") as err:
        load_checkpoint(junk)
    assert "\n" not in str(err.value) and isinstance(err.value, AudioXaiError)

    good = tmp_path / "good.pt"
    save_checkpoint(good, model, {"task": "sex"})
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.pt: not a readable checkpoint"):
        load_checkpoint(cut)

    payload = torch.load(good, weights_only=True)
    payload["meta"]["width"] = 0.5  # the weights are of width 0.0625
    torch.save(payload, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt: checkpoint does not match its model"):
        load_checkpoint(tmp_path / "other.pt")

    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": {}, "meta": {"cfg": Flip}}, pickled)  # code, not data
    with pytest.raises(ValueError, match=r"pickled\.pt: not a readable checkpoint.*Flip"):
        load_checkpoint(pickled)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": {}}, foreign)
    with pytest.raises(ValueError, match="not an audioxai-bench checkpoint"):
        load_checkpoint(foreign)

    with pytest.raises(TypeError, match="plain data"):
        save_checkpoint(tmp_path / "bad.pt", model, {"fn": object()})
    with pytest.raises(ValueError, match="contradicts"):
        save_checkpoint(tmp_path / "bad.pt", model, {"width": 1.0})
    assert not (tmp_path / "bad.pt").exists()


def test_bf16_autocast_trains_and_speed_settings_enter_the_model_key_only_when_set() -> None:
    cfg = dataclasses.replace(FAST, iterations=4, eval_every=4, precision="bf16")
    result = train(small_audionet(), tone_set(32, 1), tone_set(16, 2), None, cfg)
    assert math.isfinite(result.history[0]["loss"])
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
    spec = BUILTIN_MODELS[0]

    def key(**overrides: object) -> str:
        return make_recipe(spec, "builtin", "digit", 0, "cpu", **overrides).key

    default = key()
    assert key(device="cuda", num_workers=2) == default  # where it runs changes nothing
    assert key(deterministic=True, precision="fp32", compile=False) == default
    assert len({default, key(precision="bf16"), key(compile=True), key(deterministic=False)}) == 4


def spectrogram_set(n: int, seed: int) -> TensorDataset:
    """dB-like inputs in [-80, 0]: class 1 has a loud low band."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = -80 + 20 * torch.rand(n, 1, 227, 227, generator=g)
    x[y == 1, :, :40] += 50
    return TensorDataset(x, y)


def test_a_centred_input_trains_as_if_centred_and_folds_into_the_raw_input_model() -> None:
    """TrainConfig.input_centre/input_scale: the model trains on (x - c) / s and is returned
    taking x, a plain model with the map folded into its first convolution: its outputs on x
    are those of the same training run on an explicitly centred input."""
    from audioxai_bench.models.alexnet import AlexNetSpectrogram
    from audioxai_bench.models.layers import Standardise

    data = spectrogram_set(24, 0), spectrogram_set(8, 1), spectrogram_set(8, 2)
    config = dataclasses.replace(FAST, iterations=4, batch_size=8, eval_every=2)
    centred = dataclasses.replace(config, input_centre=-40.0, input_scale=40.0)
    torch.manual_seed(3)
    folded = AlexNetSpectrogram(2, width=0.0625)
    explicit = nn.Sequential(Standardise(-40.0, 40.0), AlexNetSpectrogram(2, width=0.0625))
    explicit[1].load_state_dict(folded.state_dict())
    result = train(folded, *data, centred)
    reference = train(explicit, *data, config)
    assert type(folded.features[0]) is type(explicit[1].features[0])  # still a plain AlexNet
    x = data[2].tensors[0]
    with torch.no_grad():
        expected = explicit(x)
        assert torch.allclose(folded(x), expected, atol=1e-4 * float(expected.abs().max()))
        assert not torch.allclose(explicit[1](x), expected, atol=1e-2 * float(expected.abs().max()))
    assert [h["loss"] for h in result.history] == [h["loss"] for h in reference.history]
    assert result.test_accuracy == reference.test_accuracy


def test_a_centred_input_needs_a_layer_to_fold_into() -> None:
    config = dataclasses.replace(FAST, iterations=1, input_centre=-40.0, input_scale=40.0)
    with pytest.raises(AudioXaiError, match="names no input_layer"):
        train(small_audionet(), tone_set(4, 1), tone_set(4, 2), None, config)
    with pytest.raises(ValueError, match="input_scale"):
        TrainConfig(input_scale=0.0)


def test_the_cpu_alexnet_trains_centred_and_audionet_keys_do_not_move() -> None:
    """Only the AlexNet's cpu preset centres its input; settings at their defaults stay out of
    a recipe's key, so AudioNet models cached before it keep their keys."""
    specs = {s.name: s for s in BUILTIN_MODELS}
    assert specs["alexnet"].presets["cpu"].standardises_input
    assert not specs["alexnet"].presets["paper"].standardises_input
    audionet = make_recipe(specs["audionet"], "builtin 0.1.0", "digit", 0, "cpu")

    @dataclasses.dataclass(frozen=True)
    class Before(TrainConfig):  # the settings as they were before input centring existed
        def to_dict(self) -> dict:
            return {k: v for k, v in super().to_dict().items()
                    if k not in ("input_centre", "input_scale")}

    before = dataclasses.replace(audionet, config=Before(**audionet.config.to_dict()))
    assert audionet.key == before.key
    raw = make_recipe(specs["alexnet"], "builtin 0.1.0", "digit", 0, "cpu",
                      input_centre=0.0, input_scale=1.0)
    assert raw.key != make_recipe(specs["alexnet"], "builtin 0.1.0", "digit", 0, "cpu").key
