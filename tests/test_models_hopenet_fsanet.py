"""Hopenet, FSA-Net, SSR-Net-MD, the ResNet backbones and the binned-loss pieces."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synth.pose import angle_bins, bin_centers
from train.models.losses import HOPENET_BINS, BinSpec, angle_l1_loss, binned_pose_loss, binned_targets, softmax_expectation
from train.models import ModelError, ModelInputError, create_model, get_recipe, list_models
from train.models.backbones.resnet import (WeightsError, load_imagenet_weights, resnet18, resnet34, resnet50,
                                           resnet101)
from train.models.fsanet import CapsuleLayer, FSANetConfig, StructureMapping, VarianceScore, squash
from train.models.ssrnet import SSRConfig, ssr_decode

MINE = ["hopenet_r18", "hopenet_r50", "fsanet_1x1", "fsanet_var", "fsanet_noS", "fsanet", "ssrnet_md"]
#: smallest input each model takes (Hopenet: any side >= 32; FSA-Net / SSR-Net-MD: 64x64 only).
SMALL = {"hopenet_r18": 32, "hopenet_r50": 32}


def _batch(n: int, size: int, gen: torch.Generator) -> dict:
    euler = (torch.rand(n, 3, generator=gen) * 2 - 1) * 60
    return {"euler": euler, "rotation": torch.eye(3).expand(n, 3, 3).clone(),
            "bbox": torch.tensor([[0.0, 0.0, size, size]]).expand(n, 4).clone(),
            "landmarks": torch.full((n, 68, 2), float("nan"))}


@pytest.fixture(autouse=True)
def _few_threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)   # the CI box has 2 shared cores; OpenMP spinning makes 2 threads slower
    yield
    torch.set_num_threads(old)


# --------------------------------------------------------------------------- every model

def test_all_mine_registered():
    assert set(MINE) <= set(list_models())


@pytest.mark.parametrize("name", MINE)
def test_forward_backward_predict(name):
    torch.manual_seed(0)
    model = create_model(name)
    size = SMALL.get(name, model.input_spec.size[0])
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, model.input_spec.channels, size, size, generator=gen)
    if model.input_spec.std[0] < 0.01:          # raw 0-255 pixel models
        x = torch.rand(2, 3, size, size, generator=gen) * 255
    batch = _batch(2, size, gen)
    out = model(x)
    loss, logs = model.loss(out, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(math.isfinite(v) for v in logs.values()) and "loss" in logs
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    pred = model.predict(out)["euler"]
    assert pred.shape == (2, 3) and torch.isfinite(pred).all()
    if name.startswith("hopenet"):
        assert out["logits"].shape == (2, 3, 66)
        assert pred.abs().max() <= 97.5 + 1e-4      # expectation over bin centres
    else:
        assert pred.abs().max() < 99 * 3            # SSR output scale V = 99 deg, bounded in practice


def test_recipes_follow_the_papers():
    h = get_recipe("hopenet_r50")
    assert (h.optimizer, h.lr, h.epochs, h.batch_size) == ("adam", 1e-5, 25, 128)
    for name in ("fsanet", "fsanet_1x1", "fsanet_var", "fsanet_noS", "ssrnet_md"):
        r = get_recipe(name)
        assert (r.optimizer, r.lr, r.epochs, r.batch_size, r.schedule, r.milestones, r.gamma) == \
            ("adam", 1e-3, 90, 16, "multistep", (30, 60), 0.1)


def test_parameter_counts_match_the_papers():
    count = lambda m: sum(p.numel() for p in m.parameters())   # noqa: E731
    # torchvision's ResNet-50 has 25,557,032 parameters, 2,049,000 of them in fc
    assert count(resnet50()) == 25_557_032 - 2_049_000
    assert count(resnet18()) == 11_689_512 - 513_000
    # Hopenet: 95.9 MB of float32 in the FSA-Net paper's table
    assert abs(count(create_model("hopenet_r50")) * 4 / 1e6 - 95.9) < 1.0
    # FSA-Caps-Fusion: about 1.2 M parameters (5.1 MB)
    assert 1.1e6 < count(create_model("fsanet")) < 1.25e6


def test_bad_kwarg_and_bad_inputs_raise():
    with pytest.raises(ModelError, match="does not take"):
        create_model("hopenet_r18", alpah=1.0)
    with pytest.raises(ModelError, match="does not take"):
        create_model("fsanet", scoring="conv")
    with pytest.raises(ModelError, match="alpha"):
        create_model("hopenet_r18", alpha=-1)
    hop = create_model("hopenet_r18")
    with pytest.raises(ModelInputError, match="3, H, W"):
        hop(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ModelInputError, match="at least 32"):
        hop(torch.zeros(1, 3, 16, 16))
    fsa = create_model("fsanet_var")
    with pytest.raises(ModelInputError, match="64x64"):
        fsa(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ModelInputError):
        create_model("ssrnet_md")(torch.zeros(1, 3, 64))


# --------------------------------------------------------------------------- Hopenet specifics

def test_hopenet_param_groups_and_freezing(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(resnet18().state_dict(), path)
    m = create_model("hopenet_r18", pretrained=str(path))
    groups = {g["name"]: g for g in m.param_groups(1e-5)}
    assert groups["heads"]["lr"] == pytest.approx(5e-5) and groups["backbone"]["lr"] == 1e-5
    stem = {id(p) for p in (*m.backbone.conv1.parameters(), *m.backbone.bn1.parameters())}
    assert not stem & {id(p) for p in groups["backbone"]["params"]}       # stem at LR 0 = left out
    assert len(groups["heads"]["params"]) == 6
    m.train()
    assert all(not b.training for b in m.backbone.modules() if isinstance(b, torch.nn.BatchNorm2d))
    assert m.heads.training
    scratch = create_model("hopenet_r18")          # no ImageNet weights: nothing frozen
    assert scratch.backbone.conv1.weight.requires_grad and scratch.backbone.bn1.training


def test_hopenet_loads_weights_into_backbone(tmp_path):
    src = resnet18()
    torch.nn.init.normal_(src.layer3[1].conv2.weight)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict() | {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, path)
    m = create_model("hopenet_r18", pretrained=str(path))
    assert torch.equal(m.backbone.layer3[1].conv2.weight, src.layer3[1].conv2.weight)


# --------------------------------------------------------------------------- ResNet + ImageNet loader

@pytest.mark.parametrize("fn,channels", [(resnet18, 512), (resnet34, 512), (resnet50, 2048), (resnet101, 2048)])
def test_resnet_shapes(fn, channels):
    net = fn().eval()
    with torch.no_grad():
        y = net(torch.zeros(1, 3, 32, 96))
    assert net.out_channels == channels and y.shape == (1, channels, 1, 3)


def test_imagenet_loader_round_trip(tmp_path):
    src = resnet18()
    for p in src.parameters():
        torch.nn.init.normal_(p)
    for name, b in src.named_buffers():
        if b.dtype.is_floating_point:
            b.uniform_(0.5, 2.0)
    state = src.state_dict() | {"fc.weight": torch.randn(1000, 512), "fc.bias": torch.randn(1000)}
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(state, path)
    dst = load_imagenet_weights(resnet18(), path)
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    gray = load_imagenet_weights(resnet18(in_channels=1), path)
    assert torch.allclose(gray.conv1.weight, src.conv1.weight.mean(dim=1, keepdim=True))


def test_imagenet_loader_errors_name_keys_and_file(tmp_path):
    state = resnet18().state_dict()
    state["layer1.0.conv9.weight"] = state.pop("layer1.0.conv1.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as err:
        load_imagenet_weights(resnet18(), path)
    msg = str(err.value)
    assert "layer1.0.conv1.weight" in msg and "layer1.0.conv9.weight" in msg and "renamed.pth" in msg
    torch.save(resnet18().state_dict(), tmp_path / "r18.pth")
    with pytest.raises(WeightsError, match="missing keys"):          # wrong depth
        load_imagenet_weights(resnet34(), tmp_path / "r18.pth")
    with pytest.raises(WeightsError, match="does not exist"):
        load_imagenet_weights(resnet18(), tmp_path / "nope.pth")


# --------------------------------------------------------------------------- binned loss pieces

def test_bin_targets_of_known_angles():
    angles = torch.tensor([-99.0, -96.01, -96.0, -1.5, 0.0, 1.0, 98.99, 99.0, 150.0, -150.0])
    expect = [0, 0, 1, 32, 33, 33, 65, 65, 65, 0]
    assert binned_targets(angles, HOPENET_BINS).tolist() == expect
    assert angle_bins(angles.numpy()).tolist() == expect                  # same as synth.pose
    assert np.allclose(HOPENET_BINS.centers, bin_centers())
    assert HOPENET_BINS.centers[0] == -97.5 and HOPENET_BINS.centers[33] == 1.5
    ehp = BinSpec(62, -93, 93)
    assert ehp.width == 3 and binned_targets(torch.tensor([0.0]), ehp).item() == 31


@pytest.mark.parametrize("spec", [HOPENET_BINS, BinSpec(62, -93.0, 93.0)])
def test_expectation_of_a_one_hot_is_the_bin_centre(spec):
    idx = torch.tensor([0, 7, spec.n_bins // 2, spec.n_bins - 1])
    logits = torch.full((4, spec.n_bins), -1e4)
    logits[torch.arange(4), idx] = 1e4
    got = softmax_expectation(logits, spec)
    assert torch.allclose(got, torch.as_tensor(spec.centers[idx.numpy()], dtype=torch.float32), atol=1e-4)
    assert torch.allclose(softmax_expectation(torch.zeros(2, spec.n_bins), spec), torch.zeros(2), atol=1e-4)


def test_binned_pose_loss_values():
    spec = HOPENET_BINS
    euler = torch.tensor([[10.5, -30.0, 4.5]])                 # 10.5 and 4.5 are bin centres
    logits = torch.zeros(1, 3, spec.n_bins)
    loss, logs = binned_pose_loss(logits, euler, spec, alpha=2.0)
    ce = math.log(spec.n_bins)                                # uniform softmax, expectation 0
    want = 3 * ce + 2.0 * (10.5 ** 2 + 30.0 ** 2 + 4.5 ** 2)
    assert loss.item() == pytest.approx(want, rel=1e-5) and logs["loss"] == pytest.approx(want, rel=1e-5)
    assert logs["mae_yaw"] == pytest.approx(30.0, abs=1e-4)
    per_angle = [logits[:, i] for i in range(3)]              # three (N, n_bins) tensors work too
    assert binned_pose_loss(per_angle, euler, spec, 2.0)[0].item() == pytest.approx(want, rel=1e-5)
    # out-of-range labels: clip clamps the regression target to hi, ignore drops them
    far = torch.tensor([[0.0, 150.0, 0.0]])
    l_clip, logs_clip = binned_pose_loss(logits, far, spec, alpha=1.0)
    assert logs_clip["mse_yaw"] == pytest.approx(99.0 ** 2, rel=1e-5)
    l_ign, logs_ign = binned_pose_loss(logits, far, spec, alpha=1.0, out_of_range="ignore")
    assert logs_ign["mse_yaw"] == 0 and logs_ign["ce_yaw"] == 0
    assert l_ign.item() == pytest.approx(2 * ce, rel=1e-5)
    with pytest.raises(ValueError, match="logits"):
        binned_pose_loss(torch.zeros(1, 3, 10), euler, spec)


def test_angle_l1_loss():
    loss, logs = angle_l1_loss(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.0, 0.0, 0.0]]))
    assert loss.item() == pytest.approx(2.0) and logs["mae_roll"] == pytest.approx(3.0)


# --------------------------------------------------------------------------- FSA-Net / SSR parts

def test_ssr_decode_by_hand():
    cfg = SSRConfig((3, 3, 3), lambda_d=1.0, scale=99.0)
    p = [torch.tensor([[[0.0, 0.0, 1.0]]]), torch.tensor([[[1.0, 0.0, 0.0]]]), torch.tensor([[[0.0, 1.0, 0.0]]])]
    delta = [torch.tensor([[0.5]]), torch.tensor([[0.0]]), torch.tensor([[-0.5]])]
    eta = [torch.tensor([[0.2]]), torch.tensor([[0.0]]), torch.tensor([[0.4]])]
    d1, d2, d3 = 3 * 1.5, 3 * 1.0, 3 * 0.5
    want = 99 * ((1 + 0.2) / d1 + (-1 + 0.0) / (d1 * d2) + (0 + 0.4) / (d1 * d2 * d3))
    assert ssr_decode(p, delta, eta, cfg).item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ModelError, match="lambda_d"):
        SSRConfig(lambda_d=1.5)


def test_structure_mapping_rows_are_convex_combinations():
    cfg = FSANetConfig(scoring="var")
    mapping = StructureMapping(cfg, VarianceScore())
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(2, 64, 1, 1, generator=gen)
    same = [v.expand(2, 64, 8, 8) * 1.0 for _ in range(3)]     # every pixel the same feature
    caps = mapping(same)
    assert caps.shape == (2, 21, 64)
    assert torch.allclose(caps, v.view(2, 1, 64).expand(2, 21, 64), atol=1e-5)
    mixed = [torch.randn(2, 64, 8, 8, generator=gen) for _ in range(3)]
    caps = mapping(mixed)
    pix = torch.cat([f.flatten(2) for f in mixed], dim=2)           # (2, 64, 192)
    assert (caps.amax(dim=1) <= pix.amax(dim=2) + 1e-5).all()        # convex: within the pixels' range
    assert (caps.amin(dim=1) >= pix.amin(dim=2) - 1e-5).all()


def test_capsule_layer_routing():
    torch.manual_seed(0)
    caps = CapsuleLayer(in_caps=21, in_dim=64, out_caps=3, out_dim=16, routings=2)
    v = caps(torch.randn(4, 21, 64))
    assert v.shape == (4, 3, 16) and (v.norm(dim=-1) < 1).all()
    x = torch.tensor([[3.0, 4.0]])
    assert squash(x).norm().item() == pytest.approx(25 / 26, rel=1e-5)
    # one routing iteration = uniform coupling 1 / out_caps: v_j = squash(sum_i u_hat_ji / 2)
    one = CapsuleLayer(5, 4, 2, 3, routings=1)
    u = torch.randn(2, 5, 4)
    u_hat = torch.einsum("jiod,nid->njio", one.weight, u)
    assert torch.allclose(one(u), squash(u_hat.sum(dim=2) / 2), atol=1e-6)
    # a second iteration moves the coupling toward the agreeing output capsule
    two = CapsuleLayer(5, 4, 2, 3, routings=2)
    two.weight.data.copy_(one.weight.data)
    assert not torch.allclose(two(u), one(u))


def test_fsanet_fusion_averages_its_branches():
    torch.manual_seed(0)
    m = create_model("fsanet").eval()
    with torch.no_grad():
        out = m(torch.rand(2, 3, 64, 64) * 255)
    branches = torch.stack([out["euler_fsanet_1x1"], out["euler_fsanet_var"], out["euler_fsanet_noS"]])
    assert torch.allclose(out["euler"], branches.mean(dim=0), atol=1e-5)


def test_fsanet_overfits_a_tiny_batch():
    """The fused model (three branches) fits two fixed samples within a few Adam steps."""
    torch.manual_seed(0)
    model = create_model("fsanet")
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 3, 64, 64, generator=gen) * 255
    batch = _batch(2, 64, gen)
    opt = torch.optim.Adam(model.param_groups(3e-3))
    maes = []
    for _ in range(8):
        loss, logs = model.loss(model(x), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        maes.append(sum(logs[f"mae_{a}"] for a in ("pitch", "yaw", "roll")) / 3)
    # training-mode figures: BatchNorm running statistics (momentum 0.01, as Keras) barely move in 8 steps
    assert maes[-1] < 0.6 * maes[0], maes
