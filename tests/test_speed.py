"""Speed paths: the reference computations agree with ours; precision, channels-last, compile, threads."""
import math

import numpy as np
import pytest
import torch
import torch._inductor.config as inductor_config
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader

from iqa.runtime.accel import Accel
from iqa.config import validate
from iqa.data.imageset import ImageSet
from iqa.data import patches
from iqa.data.patches import normalize
from iqa.errors import ConfigError
from iqa.evaluation.evaluate import predict
from iqa.models.hyperiqa import HyperIQA
from reference import grouped_forward, predict_one_crop_per_pass
from iqa.runtime.repro import seed_everything
from helpers import compose

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_model(seed: int = 0) -> HyperIQA:
    torch.manual_seed(seed)
    return HyperIQA("test_resnet", 32, 4, lda_out=8, hyper_in=16, target_sizes=[64, 32, 16, 8])


def batch(n: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return normalize(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g))


def test_batched_color_jitter_matches_torchvision_image_by_image():
    import torchvision.transforms.v2.functional as TF
    g = torch.Generator().manual_seed(3)
    uint8 = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8, generator=g)
    factors = 0.6 + 0.8 * torch.rand(6, 2, generator=g)
    expected = torch.stack([TF.adjust_contrast(TF.adjust_brightness(img.float() / 255, float(b)), float(c))
                            for img, (b, c) in zip(uint8, factors)])
    ours = patches.color_jitter(uint8.float() / 255, factors)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(normalize(uint8, factors), normalize(uint8))


def test_grouped_conv_target_net_matches_batched_matmul():
    model, x = tiny_model(), batch()
    params = list(model.parameters())
    ours, ref = model(x), grouped_forward(model, x)
    assert ours.shape == ref.shape == (8,)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    for g_ours, g_ref in zip(torch.autograd.grad(ours.sum(), params), torch.autograd.grad(ref.sum(), params)):
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-6)


def test_one_crop_per_pass_matches_batched_crops():
    rng = np.random.default_rng(0)
    images = ImageSet("t", rng.integers(0, 256, (5, 48, 40, 3), dtype=np.uint8), np.arange(5, dtype=np.float32),
                      np.arange(5), [f"i{i}" for i in range(5)])
    ds = patches.TestCrops(images, 32, 4, "grid")
    model = tiny_model()
    ours, mos = predict(model, DataLoader(ds, batch_size=2), torch.device("cpu"))
    ref, ref_mos = predict_one_crop_per_pass(model, ds, torch.device("cpu"))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(mos, ref_mos)


def test_cpu_evaluation_splits_large_batches_without_changing_scores(monkeypatch):
    from iqa.evaluation import evaluate
    assert [len(p) for p in evaluate.forward_passes(torch.zeros(20, 3, 224, 224))] == [8, 8, 4]
    assert [len(p) for p in evaluate.forward_passes(torch.zeros(20, 3, 64, 64))] == [20]
    rng = np.random.default_rng(1)
    images = ImageSet("t", rng.integers(0, 256, (4, 40, 40, 3), dtype=np.uint8), np.arange(4, dtype=np.float32),
                      np.arange(4), [f"i{i}" for i in range(4)])
    loader, model = DataLoader(patches.TestCrops(images, 32, 5, "grid"), batch_size=4), tiny_model()
    whole, _ = predict(model, loader, torch.device("cpu"))
    monkeypatch.setattr(evaluate, "CPU_PASS_PIXELS", 3 * 32 * 32)  # passes of 3 crops
    np.testing.assert_allclose(predict(model, loader, torch.device("cpu"))[0], whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("override,message", [
    ("runtime.precision=fp64", "runtime.precision='fp64' is out of range: must be one of fp32, bf16, fp16"),
    ("runtime.cpu_threads=-1", "runtime.cpu_threads=-1 is out of range: must be >= 0 (0: the process's default)"),
])
def test_speed_keys_are_validated(override, message):
    with pytest.raises(ConfigError, match=r"^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        validate(compose(override))


def test_fp16_steps_through_grad_scaler_and_skips_overflow():
    """An overflowing fp16 step is skipped and the scale lowered; without scaling it would write NaN/inf."""
    model = tiny_model()
    accel = Accel(torch.device("cpu"), "fp16")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    scale0 = accel.scaler.get_scale()
    with accel.autocast():
        pred = model(batch())
    assert pred.dtype == torch.float16
    accel.step(pred.float().sum() * 1e35, optimizer)  # finite in fp32, overflows once scaled
    assert accel.scaler.get_scale() < scale0
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
    resumed = Accel(torch.device("cpu"), "fp16")
    resumed.load_state_dict(accel.state_dict())  # what last.pt carries for an exact resume
    assert resumed.scaler.get_scale() == accel.scaler.get_scale()
    with accel.autocast():
        loss = model(batch()).float().mean()
    accel.step(loss, optimizer)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_bf16_and_channels_last_follow_fp32():
    x = batch()
    ref = tiny_model().eval()(x)
    accel = Accel(torch.device("cpu"), "bf16", channels_last=True)
    model = accel.prepare(tiny_model().eval())
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4)
    xin = accel.inputs(x)
    assert xin.is_contiguous(memory_format=torch.channels_last)
    with accel.autocast():
        out = model(xin)
    assert out.dtype == torch.bfloat16 and not accel.scaler.is_enabled()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.02)


@pytest.mark.slow
def test_compile_captures_model_in_one_graph_with_gradients():
    """Graph capture and autograd through dynamo (the aot_eager backend skips slow code generation)."""
    torch._dynamo.reset()
    counters.clear()
    model = tiny_model()
    accel = Accel(torch.device("cpu"), compile=True, compile_backend="aot_eager")
    net = accel.prepare(model)
    assert net is not model and net._orig_mod is model
    x = batch()
    out = net(x)
    torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert set(net.state_dict()) == {f"_orig_mod.{k}" for k in model.state_dict()}  # so runs save `model`
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["stats"]["unique_graphs"] == 1


def test_strict_turns_off_timing_based_and_tf32_choices(monkeypatch):
    monkeypatch.setattr(inductor_config, "deterministic", False)
    try:
        seed_everything(0, "fast")
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
        assert not torch.are_deterministic_algorithms_enabled()
        Accel(torch.device("cpu"), compile=True, strict=False).prepare(tiny_model())
        assert inductor_config.deterministic is False
        seed_everything(0, "strict")
        assert not torch.backends.cudnn.benchmark and not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32 and torch.are_deterministic_algorithms_enabled()
        Accel(torch.device("cpu"), compile=True, strict=True).prepare(tiny_model())
        assert inductor_config.deterministic is True
    finally:
        seed_everything(0, "strict")


@pytest.mark.slow
def test_bf16_channels_last_run_reports_peak_memory(run_tiny):
    folder, metrics, _ = run_tiny("runtime.precision=bf16", "runtime.channels_last=true", "runtime.cpu_threads=1",
                                   "trainer.keep_resume_state=true")
    assert math.isfinite(metrics["test_srcc"]) and metrics["epochs_run"] == 2
    assert metrics["peak_memory_mb"]["rss"] > 50
    assert torch.load(folder / "checkpoints/last.pt", weights_only=True)["accel"] == {"grad_scaler": {}}
    log = (folder / "run.log").read_text()
    assert "speed: precision bf16, channels_last True, compile False" in log and "1 CPU threads" in log
