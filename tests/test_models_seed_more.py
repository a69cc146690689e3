"""Coarse-to-fine, Bernoulli-heatmap HRNet, EHPNet (+ Res2Net / BoTNet backbones) and ensemble distillation.

CPU only, small inputs: every registered model here runs forward, loss, backward and predict at the
smallest size it takes (the ResNet-101-class teachers at 32x32, BoTNet at 112x112 forward only).
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from synth.pose import COARSE_CATEGORIES, coarse_category
from train.models.distill import DistillModel, ensemble_probs, kd_loss, kd_loss_per_angle
from train.models import ModelError, ModelInputError, create_model, get_recipe, list_models
from train.models.backbones.botnet import RelPosMHSA, botnet101, stage_sizes
from train.models.backbones.googlenet import count_conv_layers, googlenet_tail, googlenet_trunk
from train.models.backbones.hrnet import LEAKY_SLOPE, ChannelFusionWeight, HRModule, HRNet
from train.models.backbones.res2net import Bottle2neck, res2net101_26w_4s
from train.models.c2f import coarse_category_tensor
from train.models.hrnet_bernoulli import bernoulli_targets, decode, head_centers, weight_radius

#: model name -> (create kwargs, (W, H) of the test input): the smallest sizes each model takes.
SMALLEST = {
    "c2f_gray": ({"input_size": (128, 128)}, (128, 128)),      # the paper's 256x256: the half-batch test below
    "c2f_depth": ({"input_size": (128, 128)}, (128, 128)),
    "hrnet_bernoulli": ({}, (32, 32)),
    "hrnet_bernoulli_bg": ({}, (64, 32)),
    "ehpnet_r18": ({}, (32, 32)),
    "ehpnet_t_r101": ({}, (32, 32)),
    "ehpnet_t_res2net101": ({}, (32, 32)),
    "ehpnet_t_botnet101": ({"input_size": (32, 32)}, (32, 32)),
}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread: these tiny CPU batches run many times faster than with OpenMP threads
    spinning on a shared machine (measured 10-30x here); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _batch(n: int, size: tuple[int, int], gen: torch.Generator) -> dict:
    W, H = size
    euler = (torch.rand(n, 3, generator=gen) - 0.5) * 120.0
    cx, cy = W * 0.5, H * 0.45
    bbox = torch.tensor([[cx - W / 4, cy - H / 4, cx + W / 4, cy + H / 4]] * n)
    return {"euler": euler, "bbox": bbox}


def test_every_model_of_this_file_is_registered():
    assert set(SMALLEST) <= set(list_models())


@pytest.mark.parametrize("name", sorted(SMALLEST))
def test_forward_backward_predict(name):
    torch.manual_seed(0)
    kwargs, (W, H) = SMALLEST[name]
    model = create_model(name, **kwargs)
    model.train()
    x = torch.randn(2, model.input_spec.channels, H, W)
    model.check_input(x)
    out = model(x)
    assert all(torch.isfinite(v).all() for v in out.values())
    loss, logs = model.loss(out, _batch(2, (W, H), torch.Generator().manual_seed(1)))
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.item() > 0
    assert all(math.isfinite(v) for v in logs.values())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    pred = model.predict(out)
    assert pred["euler"].shape == (2, 3) and torch.isfinite(pred["euler"]).all()
    if name.startswith("c2f"):
        assert pred["coarse"].dtype == torch.int64 and pred["coarse"].shape == (2,)
        assert ((pred["coarse"] >= 0) & (pred["coarse"] < 4)).all()


@pytest.mark.parametrize("name, bad", [
    ("c2f_gray", (1, 1, 224, 224)),            # fixed 256x256 (FC layers)
    ("c2f_depth", (1, 3, 256, 256)),           # one channel
    ("hrnet_bernoulli", (1, 3, 48, 64)),       # sides multiple of 32
    ("hrnet_bernoulli_bg", (1, 3, 96, 100)),
    ("ehpnet_r18", (1, 3, 16, 16)),            # at least 32 px
    ("ehpnet_t_botnet101", (1, 3, 128, 128)),  # attention built for 112x112
])
def test_check_input_rejects_sizes_the_model_cannot_take(name, bad):
    model = create_model(name)
    with pytest.raises(ModelInputError):
        model.check_input(torch.zeros(bad))


def test_default_sizes_and_presets():
    specs = {n: create_model(n).input_spec for n in ("c2f_gray", "c2f_depth", "hrnet_bernoulli", "hrnet_bernoulli_bg")}
    assert (specs["c2f_gray"].size, specs["c2f_gray"].modality, specs["c2f_gray"].crop) == ((256, 256), "gray", "c2f")
    assert (specs["c2f_depth"].modality, specs["c2f_depth"].mean, specs["c2f_depth"].std) == ("depth", (0.0,), (1.0,))
    assert (specs["hrnet_bernoulli_bg"].size, specs["hrnet_bernoulli_bg"].crop) == ((128, 96), "full_frame")
    assert (specs["hrnet_bernoulli"].size, specs["hrnet_bernoulli"].crop) == ((64, 64), "ehpnet")
    r = get_recipe("hrnet_bernoulli")
    assert (r.optimizer, r.lr, r.schedule, r.milestones, r.gamma) == ("adam", 1e-3, "multistep", (15, 30), 0.5)
    e = get_recipe("ehpnet_r18")
    assert (e.optimizer, e.lr, e.schedule) == ("adam", 1e-4, "cosine")


# ---------------------------------------------------------------- coarse-to-fine


def test_googlenet_trunk_is_the_first_21_convolutions():
    trunk = googlenet_trunk(in_channels=1)
    assert count_conv_layers(trunk) == 21
    assert count_conv_layers(googlenet_tail()) == 6 * 6          # inception 4b..4e, 5a, 5b
    with torch.no_grad():
        f = trunk.eval()(torch.zeros(1, 1, 256, 256))
    assert f.shape == (1, 512, 16, 16)


@pytest.mark.parametrize("pitch", [-30.0, -1e-3, 0.0, 1e-3, 30.0])
@pytest.mark.parametrize("yaw", [-45.0, -1e-3, 0.0, 1e-3, 45.0])
def test_coarse_category_of_every_sign_combination(pitch, yaw):
    expected = coarse_category(pitch, yaw)
    assert COARSE_CATEGORIES[expected] == ("+" if pitch >= 0 else "-", "+" if yaw >= 0 else "-")
    for roll in (-20.0, 0.0, 20.0):          # roll is ignored
        got = coarse_category_tensor(torch.tensor([[pitch, yaw, roll]]))
        assert got.dtype == torch.int64 and got.tolist() == [expected]


def test_c2f_half_batch_sends_gradients_only_to_each_samples_regressor():
    torch.manual_seed(0)
    model = create_model("c2f_gray", dropout=0.0, cls_dropout=0.0)
    model.train()
    # first half (classifier): categories 0 and 2; second half (regressors): categories 1 and 3
    euler = torch.tensor([[10.0, 20.0, 0.0], [-10.0, 5.0, 3.0], [15.0, -30.0, 1.0], [-20.0, -10.0, -5.0]])
    assert coarse_category_tensor(euler).tolist() == [0, 2, 1, 3]
    out = model(torch.randn(4, 1, 256, 256))
    assert out["coarse_logits"].shape == (4, 4) and out["reg"].shape == (4, 4, 3)
    loss, logs = model.loss(out, {"euler": euler})
    loss.backward()

    def grad_norm(module: nn.Module) -> float:
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    assert grad_norm(model.regressors[0]) == 0.0 and grad_norm(model.regressors[2]) == 0.0
    assert grad_norm(model.regressors[1]) > 0 and grad_norm(model.regressors[3]) > 0
    assert grad_norm(model.classifier) > 0 and grad_norm(model.trunk) > 0
    assert 0.0 <= logs["coarse_acc"] <= 1.0 and logs["euclid"] > 0


def test_c2f_predict_cascades_through_the_argmax_category():
    model = create_model("c2f_gray")
    logits = torch.tensor([[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]])
    reg = torch.rand(2, 4, 3)
    pred = model.predict({"coarse_logits": logits, "reg": reg})
    assert pred["coarse"].tolist() == [1, 3]
    lo = torch.tensor([-60.0, -75.0, -50.0])
    span = torch.tensor([120.0, 150.0, 100.0])
    torch.testing.assert_close(pred["euler"], torch.stack([lo + reg[0, 1] * span, lo + reg[1, 3] * span]))


def test_c2f_rejects_a_bad_angle_range():
    with pytest.raises(ModelError, match="angle_range"):
        create_model("c2f_gray", angle_range=((10.0, -10.0), (-75.0, 75.0), (-50.0, 50.0)))


def test_c2f_input_size_option_builds_a_smaller_model():
    torch.manual_seed(0)
    for name in ("c2f_gray", "c2f_depth"):
        model = create_model(name, input_size=(128, 128))
        assert model.input_spec.size == (128, 128) and model.input_spec.crop == "c2f"
        assert model.regressors[0].fc[1].in_features == 64 * 1 * 1          # 128 / 16 = 8 -> 4 -> 2 -> 1
        model.train()
        x = torch.randn(4, 1, 128, 128)
        model.check_input(x)
        with pytest.raises(ModelInputError, match="128x128"):
            model.check_input(torch.zeros(1, 1, 256, 256))                   # built for one size
        out = model(x)
        assert out["coarse_logits"].shape == (4, 4) and out["reg"].shape == (4, 4, 3)
        loss, logs = model.loss(out, _batch(4, (128, 128), torch.Generator().manual_seed(2)))
        assert loss.ndim == 0 and torch.isfinite(loss) and 0.0 <= logs["coarse_acc"] <= 1.0
        loss.backward()
        pred = model.predict(out)
        assert pred["euler"].shape == (4, 3) and pred["coarse"].shape == (4,) and pred["coarse"].dtype == torch.int64
    # non-square sizes work too (each side / 16 pooled three times); a list (a JSON config) is accepted
    model = create_model("c2f_gray", input_size=[144, 128])
    assert model.input_spec.size == (144, 128)
    assert model(torch.randn(2, 1, 128, 144))["reg"].shape == (2, 4, 3)
    assert create_model("c2f_gray").input_spec.size == (256, 256)            # the paper's by default


@pytest.mark.parametrize("bad", [(112, 112), (120, 128), (128, 96), (128,), (128.5, 128), "128"])
def test_c2f_rejects_input_sizes_the_regressors_cannot_take(bad):
    # sizes of the right type are checked by the model; others by create_model against the annotation
    expected = (r"input_size must be \(W, H\) with both sides multiples of 16 and at least 128"
                r"|option input_size=.*: expected tuple\[int, int\]")
    with pytest.raises(ModelError, match=expected):
        create_model("c2f_depth", input_size=bad)


# ---------------------------------------------------------------- Bernoulli heatmaps


@pytest.mark.parametrize("radius", [2.0, 3.5, 4.0])
def test_bernoulli_target_decodes_to_the_exact_angles(radius):
    euler = torch.tensor([[12.5, -70.0, 33.0], [-5.0, 5.0, 80.0], [0.0, 91.0, -44.4]])
    bbox = torch.tensor([[10.0, 20.0, 50.0, 60.0], [0.0, 0.0, 64.0, 64.0], [30.0, 2.0, 61.0, 40.0]])
    centers = head_centers(bbox, stride=4)
    torch.testing.assert_close(centers[0], torch.tensor([30 / 4 - 0.5, 40 / 4 - 0.5]))
    maps, weight = bernoulli_targets(euler / 90.0, centers, (16, 16), radius)
    assert maps.shape == (3, 3, 16, 16) and weight.shape == (3, 1, 16, 16)
    # the disc holds the value, the rest is 0; the weight exceeds 0.5 near the centre
    torch.testing.assert_close(torch.unique(maps[0, 1]), torch.tensor([-70.0 / 90.0, 0.0]))
    assert weight.amax() <= 1.0 and (weight.flatten(1).amax(dim=1) > 0.5).all()
    values, found = decode(maps, weight)
    assert found.all()
    torch.testing.assert_close(values * 90.0, euler, atol=1e-4, rtol=0)
    assert weight_radius(radius) < radius


def test_bernoulli_decode_falls_back_to_the_strongest_pixel():
    maps = torch.zeros(1, 3, 4, 4)
    maps[0, :, 2, 1] = torch.tensor([0.1, 0.2, 0.3])
    weight = torch.full((1, 1, 4, 4), -1.0)
    weight[0, 0, 2, 1] = 0.2                         # nothing above 0.5
    values, found = decode(maps, weight)
    assert not found.any()
    torch.testing.assert_close(values, torch.tensor([[0.1, 0.2, 0.3]]))


def test_bernoulli_loss_is_zero_for_perfect_maps():
    model = create_model("hrnet_bernoulli")
    batch = _batch(2, (64, 64), torch.Generator().manual_seed(3))
    amap, wmap = model.targets(batch, (16, 16))
    loss, logs = model.loss({"angle_maps": amap, "weight_map": wmap}, batch)
    assert loss.item() == 0.0 and logs["found"] == 1.0
    torch.testing.assert_close(model.predict({"angle_maps": amap, "weight_map": wmap})["euler"], batch["euler"],
                               atol=1e-3, rtol=0)


def test_hrnet_layout_follows_table_1():
    net = HRNet(3)
    assert len(net.layer1) == 4 and net.layer1[0].body[0].out_channels == 64
    assert [len(s) for s in net.stages] == [1, 4, 3]
    last = net.stages[-1][0]
    assert [b[0].body[0].out_channels for b in last.branches] == [32, 64, 128, 256]
    assert all(len(b) == 4 for b in last.branches)
    assert not any(isinstance(m, nn.Linear) for m in net.modules())            # fully convolutional
    slopes = {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {LEAKY_SLOPE} == {0.2}
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())


def test_channel_fusion_weights_scale_each_channel_by_one_to_two():
    torch.manual_seed(0)
    gate = ChannelFusionWeight(32)
    y = torch.rand(2, 32, 5, 5) + 0.1
    ratio = gate(y) / y
    assert ((ratio > 1.0) & (ratio < 2.0)).all()
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))   # one weight per channel
    mod = HRModule((8, 16), blocks=1)
    outs = mod([torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)])
    assert [tuple(o.shape) for o in outs] == [(1, 8, 8, 8), (1, 16, 4, 4)]


def test_bernoulli_input_size_and_init_options():
    model = create_model("hrnet_bernoulli_bg", input_size=(64, 64), init="torch", modules_per_stage=(1, 1, 1))
    assert (model.input_spec.size, model.input_spec.crop) == ((64, 64), "full_frame")
    assert create_model("hrnet_bernoulli", input_size=[96, 64]).input_spec.size == (96, 64)
    with pytest.raises(ModelError, match="input_size .* multiples of 32"):
        create_model("hrnet_bernoulli_bg", input_size=(64, 48))
    with pytest.raises(ModelError, match="init must be one of hrnet, torch"):
        create_model("hrnet_bernoulli", init="kaiming")


def test_hrnet_inits():
    torch.manual_seed(0)
    ref, fast = HRNet(3, modules_per_stage=(1, 1, 1)), HRNet(3, modules_per_stage=(1, 1, 1), init="torch")
    convs = [m for m in ref.modules() if isinstance(m, nn.Conv2d)]
    assert max(float(m.weight.detach().std()) for m in convs) < 0.0012                 # HRNet's N(0, 0.001^2)
    assert min(float(m.weight.detach().std()) for m in fast.modules() if isinstance(m, nn.Conv2d)) > 0.01
    blocks = [m for m in fast.modules() if type(m).__name__ in ("BasicBlock", "Bottleneck")]
    assert blocks and all(float(b.body[-1].weight.detach().abs().max()) == 0.0 for b in blocks)   # each block starts as its shortcut
    assert all(float(b.body[-1].weight.detach().min()) == 1.0 for b in ref.modules() if type(b).__name__ == "BasicBlock")
    with pytest.raises(ValueError, match="init"):
        HRNet(3, init="nope")


# ---------------------------------------------------------------- backbones


def test_res2net101_layout_and_size():
    net = res2net101_26w_4s()
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    b = net.layer1[1]
    assert isinstance(b, Bottle2neck) and b.width == 26 and b.scale == 4 and len(b.convs) == 3
    assert net.layer4[0].width == 26 * 8
    # the authors' res2net101_26w_4s has 45.21 M parameters with its 2048 x 1000 classifier
    n = sum(p.numel() for p in net.parameters())
    assert abs(n + 2048 * 1000 + 1000 - 45.21e6) < 0.02e6
    assert net.out_channels == 2048


def test_relative_position_attention_matches_a_direct_computation():
    torch.manual_seed(0)
    H, W, heads, dim = 3, 4, 2, 8
    att = RelPosMHSA(dim, (H, W), heads)
    x = torch.randn(1, dim, H, W)
    d = dim // heads
    q, k, v = att.qkv(x).reshape(1, 3, heads, d, H * W).unbind(1)
    q = q * d ** -0.5
    logits = torch.zeros(heads, H * W, H * W)
    for n in range(heads):
        for i in range(H * W):
            yi, xi = divmod(i, W)
            for j in range(H * W):
                yj, xj = divmod(j, W)
                r = att.rel_height[yj - yi + H - 1] + att.rel_width[xj - xi + W - 1]
                logits[n, i, j] = q[0, n, :, i] @ (k[0, n, :, j] + r)
    expected = torch.einsum("nij,ndj->ndi", logits.softmax(-1), v[0]).reshape(1, dim, H, W)
    torch.testing.assert_close(att(x), expected, atol=1e-5, rtol=1e-5)


def test_botnet101_runs_at_112():
    assert stage_sizes((112, 112)) == ((7, 7), (4, 4))
    net = botnet101((112, 112)).eval()
    with torch.no_grad():
        f = net(torch.randn(1, 3, 112, 112))
    assert f.shape == (1, 2048, 4, 4) and torch.isfinite(f).all()
    with pytest.raises(ValueError, match="112x112"):
        net(torch.randn(1, 3, 96, 96))


# ---------------------------------------------------------------- distillation


def test_kd_loss_is_zero_when_student_and_ensemble_agree():
    torch.manual_seed(0)
    teachers = [torch.randn(4, 3, 62) for _ in range(3)]
    for T in (1.0, 2.0):
        probs = ensemble_probs(teachers, T)
        torch.testing.assert_close(probs.sum(-1), torch.ones(4, 3))
        student = probs.log() * T            # softmax(student / T) == probs
        assert abs(kd_loss(student, probs, T).item()) < 1e-5
        assert kd_loss(torch.randn(4, 3, 62), probs, T).item() > 1e-3
    # one angle off: only that angle's term is positive
    probs = ensemble_probs(teachers)
    student = probs.log().clone()
    student[:, 2] = torch.randn(4, 62)
    per = kd_loss_per_angle(student, probs)
    assert per[0].abs() < 1e-5 and per[1].abs() < 1e-5 and per[2] > 1e-3


def test_kd_loss_rejects_mismatched_bins():
    with pytest.raises(ValueError, match="n_bins"):
        kd_loss(torch.zeros(2, 3, 62), torch.full((2, 3, 66), 1 / 66))


def _tiny_teachers(n: int = 2) -> list:
    out = []
    for i in range(n):
        torch.manual_seed(10 + i)
        out.append(create_model("ehpnet_r18"))
    return out


def test_distill_model_trains_the_student_only():
    torch.manual_seed(0)
    student = create_model("ehpnet_r18")
    teachers = _tiny_teachers()
    model = DistillModel.from_models(student, teachers, hard_weight=0.5)
    assert set(model.state_dict()) == set(student.state_dict())
    assert {id(p) for p in model.parameters()} == {id(p) for p in student.parameters()}
    model.train()
    assert student.training and not any(t.training for t in teachers)
    x = torch.randn(2, 3, 32, 32)
    model.check_input(x)
    out = model(x)
    assert out["teacher_probs"].shape == (2, 3, 62)
    loss, logs = model.loss(out, _batch(2, (32, 32), torch.Generator().manual_seed(2)))
    loss.backward()
    assert all(p.grad is None for t in teachers for p in t.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert {"kd", "kd_yaw", "mae_yaw", "teacher_mae_yaw", "hard_loss"} <= set(logs)
    torch.testing.assert_close(model.predict(out)["euler"], student.predict(out)["euler"])
    # a checkpoint of the wrapper is a plain student checkpoint
    fresh = create_model("ehpnet_r18")
    fresh.load_state_dict(model.state_dict())
    model.to(torch.float64)
    assert all(p.dtype == torch.float64 for t in teachers for p in t.parameters())


def test_distill_model_rejects_teachers_that_see_other_inputs():
    with pytest.raises(ModelError, match="teacher 0"):
        DistillModel(create_model("ehpnet_r18"), [create_model("hrnet_bernoulli_bg")])
    with pytest.raises(ModelError, match="at least one teacher"):
        DistillModel(create_model("ehpnet_r18"), [])
