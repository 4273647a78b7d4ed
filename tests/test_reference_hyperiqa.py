"""Reference HyperIQA checkpoints (SSL92/hyperIQA layout) give the reference's scores.

The test writes a state dict in the reference layout from its own key/shape table, loads it with
`load_reference_hyperiqa` and as `model.weights`, and compares the model with a functional
re-implementation of the reference forward pass that reads the raw reference tensors (grouped
1x1 convolutions for the per-image target network, 7x7 average pooling in the LDA branches).
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import pytest
import torch
import torch.nn.functional as F

from helpers import compose
from iqa import models
from iqa.errors import ConfigError
from iqa.models import load_reference_hyperiqa

pytestmark = pytest.mark.usefixtures("single_thread")

LDA, HYPER, SIZES, FEATURE = 16, 112, (224, 112, 56, 28, 14), 7  # HyperNet(16, 112, 224, 112, 56, 28, 14, 7)
RESNET50 = ((64, 3), (128, 4), (256, 6), (512, 3))  # (planes, blocks) per stage
PAPER_PARAMS = 27_375_369


def reference_table() -> Dict[str, Tuple[int, ...]]:
    """Every key of the reference HyperNet's state dict with its shape."""
    table: Dict[str, Tuple[int, ...]] = {}

    def conv(name, out, inp, k, bias=False):
        table[f"{name}.weight"] = (out, inp, k, k)
        if bias:
            table[f"{name}.bias"] = (out,)

    def bn(name, c):
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            table[f"{name}.{leaf}"] = (c,)
        table[f"{name}.num_batches_tracked"] = ()

    def linear(name, out, inp):
        table[f"{name}.weight"], table[f"{name}.bias"] = (out, inp), (out,)

    conv("res.conv1", 64, 3, 7)
    bn("res.bn1", 64)
    inplanes = 64
    for stage, (planes, blocks) in enumerate(RESNET50, start=1):
        for b in range(blocks):
            p = f"res.layer{stage}.{b}"
            conv(f"{p}.conv1", planes, inplanes, 1), bn(f"{p}.bn1", planes)
            conv(f"{p}.conv2", planes, planes, 3), bn(f"{p}.bn2", planes)
            conv(f"{p}.conv3", planes * 4, planes, 1), bn(f"{p}.bn3", planes * 4)
            if b == 0:
                conv(f"{p}.downsample.0", planes * 4, inplanes, 1), bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    for i, (c, grid) in enumerate(((256, 8), (512, 4), (1024, 2)), start=1):
        conv(f"res.lda{i}_pool.0", c // 16, c, 1)
        linear(f"res.lda{i}_fc", LDA, c // 16 * grid * grid)
    linear("res.lda4_fc", SIZES[0] - 3 * LDA, 2048)
    for i, (out, inp) in enumerate(((1024, 2048), (512, 1024), (HYPER, 512))):
        conv(f"conv1.{2 * i}", out, inp, 1, bias=True)
    for i in range(1, 5):
        conv(f"fc{i}w_conv", SIZES[i - 1] * SIZES[i] // FEATURE ** 2, HYPER, 3, bias=True)
        linear(f"fc{i}b_fc", SIZES[i], HYPER)
    linear("fc5w_fc", SIZES[4], HYPER)
    linear("fc5b_fc", 1, HYPER)
    return table


def random_reference_state(seed: int = 0) -> Dict[str, torch.Tensor]:
    """Tensors for the table, scaled so activations neither vanish nor explode."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_table().items():
        leaf = key.rsplit(".", 1)[1]
        if leaf == "num_batches_tracked":
            t = torch.tensor(7)
        elif leaf == "running_var" or (leaf == "weight" and len(shape) == 1):
            t = 0.5 + torch.rand(shape, generator=g)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
        state[key] = t
    return state


def reference_forward(s: Dict[str, torch.Tensor], img: torch.Tensor):
    """The reference HyperNet + TargetNet forward pass, written with torch.nn.functional on `s`."""
    def bn(x, p):
        return F.batch_norm(x, s[f"{p}.running_mean"], s[f"{p}.running_var"], s[f"{p}.weight"],
                            s[f"{p}.bias"], training=False, eps=1e-5)

    def bottleneck(x, p, stride):
        out = F.relu(bn(F.conv2d(x, s[f"{p}.conv1.weight"]), f"{p}.bn1"))
        out = F.relu(bn(F.conv2d(out, s[f"{p}.conv2.weight"], stride=stride, padding=1), f"{p}.bn2"))
        out = bn(F.conv2d(out, s[f"{p}.conv3.weight"]), f"{p}.bn3")
        if f"{p}.downsample.0.weight" in s:
            x = bn(F.conv2d(x, s[f"{p}.downsample.0.weight"], stride=stride), f"{p}.downsample.1")
        return F.relu(out + x)

    def linear(x, name):
        return F.linear(x, s[f"{name}.weight"], s[f"{name}.bias"])

    n = img.shape[0]
    x = F.max_pool2d(F.relu(bn(F.conv2d(img, s["res.conv1.weight"], stride=2, padding=3), "res.bn1")), 3, 2, 1)
    lda = []
    for stage, (_, blocks) in enumerate(RESNET50, start=1):
        for b in range(blocks):
            x = bottleneck(x, f"res.layer{stage}.{b}", 2 if (b == 0 and stage > 1) else 1)
        pooled = F.conv2d(x, s[f"res.lda{stage}_pool.0.weight"]) if stage < 4 else x
        lda.append(linear(F.avg_pool2d(pooled, 7, stride=7).reshape(n, -1), f"res.lda{stage}_fc"))
    vec = torch.cat(lda, 1)
    h = x
    for i in range(3):
        h = F.relu(F.conv2d(h, s[f"conv1.{2 * i}.weight"], s[f"conv1.{2 * i}.bias"]))
    pooled = F.adaptive_avg_pool2d(h, 1).reshape(n, -1)
    weights = [F.conv2d(h, s[f"fc{i}w_conv.weight"], s[f"fc{i}w_conv.bias"], padding=1)
               .reshape(n, SIZES[i], SIZES[i - 1], 1, 1) for i in range(1, 5)]
    weights.append(linear(pooled, "fc5w_fc").reshape(n, 1, SIZES[4], 1, 1))
    biases = [linear(pooled, f"fc{i}b_fc") for i in range(1, 6)]
    q = vec.reshape(n, SIZES[0], 1, 1)
    for i, (w, b) in enumerate(zip(weights, biases)):  # the reference's TargetFC: one group per image
        q = F.conv2d(q.reshape(1, -1, 1, 1), w.reshape(-1, w.shape[2], 1, 1), b.reshape(-1), groups=n)
        q = q.reshape(n, w.shape[1], 1, 1)
        if i < 4:
            q = torch.sigmoid(q)
    return q.reshape(n), vec, [w.reshape(n, w.shape[1], w.shape[2]) for w in weights], biases


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "koniq_like.pkl"
    state = random_reference_state()
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def reference_model(reference_file):
    return load_reference_hyperiqa(reference_file[0])


@pytest.fixture(scope="module")
def images():
    return torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))


def test_table_has_the_paper_parameter_count():
    params = sum(math.prod(shape) for key, shape in reference_table().items()
                 if not key.rsplit(".", 1)[1].startswith(("running_", "num_batches")))
    assert params == PAPER_PARAMS


def test_reference_file_loads_and_scores_like_the_reference(reference_file, reference_model, images):
    path, state = reference_file
    model = reference_model
    assert not model.training
    assert set(models.reference.to_hyperiqa(state)) == set(model.state_dict())
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMS
    with torch.no_grad():
        expected, vec, weights, biases = reference_forward(state, images)
        ours = model.hyper_params(images)
        scores = model(images)
    # every generated tensor matches, so a wrong mapping fails even where a sigmoid saturates
    torch.testing.assert_close(ours[0], vec, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours[1] + ours[2], weights + biases):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert scores.shape == (2,)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
    assert (scores.max() - scores.min()) > 1e-3  # the images get different scores


def test_reference_file_as_model_weights(reference_file, reference_model):
    cfg = compose("model=hyperiqa_resnet50", f"model.weights={reference_file[0]}")
    built = models.build(cfg.model, patch_size=224).state_dict()
    loaded = reference_model.state_dict()
    assert set(built) == set(loaded)
    for key, value in loaded.items():
        assert torch.equal(built[key], value), key


def test_reference_file_into_another_architecture_is_one_line(reference_file):
    path, _ = reference_file
    cfg = compose("model=small", f"model.weights={path}")
    with pytest.raises(ConfigError, match="another architecture") as err:
        models.build(cfg.model, patch_size=64)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_not_a_reference_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ConfigError, match="not a reference HyperIQA"):
        load_reference_hyperiqa(path)
