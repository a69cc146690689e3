"""FSA-Net (Yang, Chen, Lin, Chuang, CVPR 2019): fine-grained structure aggregation for head pose.

Pipeline on a 64x64 RGB crop (raw 0-255 pixels, preset ``fsanet``), following
the paper and its reference code (``lib/FSANET_model.py``, ``FSANET_train.py``):

1. **Two streams** (``train.models.ssrnet.TwoStream``): separable-conv blocks,
   one with ReLU + average pooling, one with tanh + max pooling.
2. **Stage fusion**: for K = 3 stages (deepest first) a 1x1 conv to c = 64
   channels on each stream (ReLU / tanh) and their product, giving feature maps
   U_k of w x h = 8 x 8 x 64 (the shallowest stage is 16 x 16 and average-pooled
   to 8 x 8).
3. **Scoring** A_k = Phi(U_k), one value per pixel (n = 64 per stage, shared
   across stages): ``"conv"`` a 1x1 conv + sigmoid, ``"var"`` the variance over
   the 64 channels, ``"none"`` the paper's uniform scoring, which the reference
   implements by skipping step 4 (every one of the K*n = 192 pixel features is
   a primary capsule).
4. **Fine-grained structure mapping**: M_k = sigmoid(FC(A_k)) of m x (K n)
   (m = 5, FC shared across stages), C = sigmoid(FC([A_1, A_2, A_3])) of
   n' x m (n' = 7), S_k = C M_k with each row L1-normalised (entries are
   positive, so: divided by its sum), and the n' primary capsules of stage k are
   S_k U, where U stacks all K*n pixel features (K n x c). Primary capsules:
   K n' = 21 vectors of c = 64.
5. **Capsule aggregation**: a capsule layer (dynamic routing, 2 iterations) to
   3 output capsules of c' = 16, one per stage.
6. **Soft stage-wise regression** per stage from its capsule: Delta = tanh(FC(v[0:4])),
   eta = tanh(FC(v[4:8])), p = ReLU(FC(v[8:16])) (3 bins x 3 angles), decoded by
   ``train.models.ssrnet.ssr_decode`` with stage bins (3, 3, 3), lambda_d = 1, V = 99 deg.

Variants: ``fsanet_1x1``, ``fsanet_var``, ``fsanet_noS`` and ``fsanet`` =
the three trained side by side and averaged (the paper's FSA-Caps-Fusion;
the reference trains the three separately and averages them in its demos).
Loss: mean absolute error of the three angles (the reference's ``mae``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelError, PoseModel
from .losses import ANGLE_NAMES, angle_l1_loss
from .registry import register_model
from .spec import Recipe
from .ssrnet import FSA_RECIPE, RAW_PIXELS_SPEC, SSRConfig, TwoStream, keras_init_, ssr_decode

SCORINGS = ("conv", "var", "none")

#: the fused model's name for each scoring variant (and its registered single-variant name).
VARIANT_NAMES = {"conv": "fsanet_1x1", "var": "fsanet_var", "none": "fsanet_noS"}


@dataclass(frozen=True)
class FSANetConfig:
    """FSA-Net hyperparameters (paper section 3.6 and the reference's ``S_set``).

    scoring: ``"conv"`` | ``"var"`` | ``"none"``; map_size: w = h of the stage maps (8);
    channels: c (64); m: rows of M_k (5); n_prime: capsules per stage from the mapping (7);
    num_capsule: output capsules (3, one per stage); dim_capsule: c' (16); routings: 2.
    """

    scoring: str = "conv"
    map_size: int = 8
    channels: int = 64
    m: int = 5
    n_prime: int = 7
    num_capsule: int = 3
    dim_capsule: int = 16
    routings: int = 2
    ssr: SSRConfig = SSRConfig()

    def __post_init__(self) -> None:
        if self.scoring not in SCORINGS:
            raise ModelError(f"FSA-Net scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        k = len(self.ssr.stage_bins)
        if k != 3:
            raise ModelError(f"FSA-Net has K = 3 stages, got stage_bins={self.ssr.stage_bins}")
        if self.num_capsule % k:
            raise ModelError(f"FSA-Net num_capsule must be a multiple of the {k} stages, got {self.num_capsule}")
        if (self.num_capsule // k) * self.dim_capsule < 4 or ((self.num_capsule // k) * self.dim_capsule) % 4:
            raise ModelError("FSA-Net needs (num_capsule / 3) * dim_capsule to be a multiple of 4 "
                             f"(split 1/4 Delta, 1/4 eta, 1/2 p), got {self.num_capsule} x {self.dim_capsule}")
        if self.routings < 1:
            raise ModelError(f"FSA-Net routings must be >= 1, got {self.routings}")

    @property
    def n_pixels(self) -> int:
        """n = w * h pixels per stage map."""
        return self.map_size * self.map_size

    @property
    def n_primary(self) -> int:
        """Primary capsules: K n' with a structure mapping, K n without ("none")."""
        k = len(self.ssr.stage_bins)
        return k * (self.n_pixels if self.scoring == "none" else self.n_prime)


class StageFusion(nn.Module):
    """Per stage: relu(1x1 conv(x)) * tanh(1x1 conv(s)) -> (N, c, 8, 8); the 16x16 stage average-pooled to 8x8."""

    def __init__(self, cin: int, channels: int, pool: bool):
        super().__init__()
        self.x_conv = nn.Conv2d(cin, channels, 1)
        self.s_conv = nn.Conv2d(cin, channels, 1)
        self.pool = nn.AvgPool2d(2) if pool else nn.Identity()

    def forward(self, xs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, s = xs
        return self.pool(torch.relu(self.x_conv(x)) * torch.tanh(self.s_conv(s)))


class ConvScore(nn.Module):
    """Phi = sigmoid(1x1 conv): (N, c, h, w) -> (N, h*w) in (0, 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(u)).flatten(1)


class VarianceScore(nn.Module):
    """Phi = variance over channels (population, as ``tf.nn.moments``): (N, c, h, w) -> (N, h*w) >= 0."""

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u.var(dim=1, unbiased=False).flatten(1)


class StructureMapping(nn.Module):
    """Fine-grained structure mapping: stage maps -> K n' primary capsules of c.

    forward(maps: K tensors (N, c, w, h)) -> (N, K n', c). Score A_k (N, n);
    M_k = sigmoid(FC_M(A_k)) (N, m, K n) with FC_M shared by the stages;
    C = sigmoid(FC_C([A_1..A_K])) (N, n', m); S_k = C M_k row-normalised (N, n', K n);
    capsules_k = S_k U with U (N, K n, c) the stacked pixel features.
    """

    def __init__(self, cfg: FSANetConfig, score: nn.Module):
        super().__init__()
        k, n = len(cfg.ssr.stage_bins), cfg.n_pixels
        self.score = score
        self.fc_m = nn.Linear(n, cfg.m * k * n)
        self.fc_c = nn.Linear(k * n, cfg.n_prime * cfg.m)
        self.k, self.n, self.m, self.n_prime = k, n, cfg.m, cfg.n_prime

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        u = torch.cat([f.flatten(2).transpose(1, 2) for f in maps], dim=1)        # (N, K n, c)
        scores = [self.score(f) for f in maps]                                    # K x (N, n)
        c_mat = torch.sigmoid(self.fc_c(torch.cat(scores, dim=1))).view(-1, self.n_prime, self.m)
        caps = []
        for a in scores:
            m_mat = torch.sigmoid(self.fc_m(a)).view(-1, self.m, self.k * self.n)
            s = c_mat @ m_mat                                                      # (N, n', K n), > 0
            s = s / s.sum(dim=-1, keepdim=True)
            caps.append(s @ u)
        return torch.cat(caps, dim=1)


class PixelCapsules(nn.Module):
    """No structure mapping (uniform scoring): every pixel feature of every stage is a primary capsule, (N, K n, c)."""

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([f.flatten(2).transpose(1, 2) for f in maps], dim=1)


def squash(v: torch.Tensor, dim: int = -1, eps: float = 1e-7) -> torch.Tensor:
    """Capsule non-linearity: v |v|^2 / (1 + |v|^2) / |v| (length in [0, 1), direction kept)."""
    sq = (v * v).sum(dim=dim, keepdim=True)
    return v * (sq / (1.0 + sq) / torch.sqrt(sq + eps))


class CapsuleLayer(nn.Module):
    """Dynamic routing by agreement (Sabour et al. 2017), as the reference's ``CapsuleLayer``.

    forward(u (N, in_caps, in_dim)) -> (N, out_caps, out_dim). Predictions
    u_hat[j, i] = W[j, i] u_i; logits b start at 0; each iteration c = softmax(b)
    over the output capsules, v_j = squash(sum_i c_ji u_hat_ji), and (except the
    last) b_ji += <v_j, u_hat_ji>. W is Glorot-uniform with Keras's fans for a
    4-D kernel.
    """

    def __init__(self, in_caps: int, in_dim: int, out_caps: int, out_dim: int, routings: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_caps, in_caps, out_dim, in_dim))
        receptive = out_caps * in_caps
        bound = math.sqrt(6.0 / (receptive * out_dim + receptive * in_dim))
        nn.init.uniform_(self.weight, -bound, bound)
        self.routings = routings

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u_hat = torch.einsum("jiod,nid->njio", self.weight, u)                  # (N, out, in, out_dim)
        b = u_hat.new_zeros(u_hat.shape[:3])
        for r in range(self.routings):
            c = b.softmax(dim=1)
            v = squash((c.unsqueeze(-1) * u_hat).sum(dim=2))                   # (N, out, out_dim)
            if r < self.routings - 1:
                b = b + (v.unsqueeze(2) * u_hat).sum(dim=-1)
        return v


class SSRHead(nn.Module):
    """Stage-k SSR parameters from its aggregated feature f (N, F): F/4 -> Delta, F/4 -> eta, F/2 -> p (N, 3, s_k)."""

    def __init__(self, dim: int, bins: int, n_angles: int = 3):
        super().__init__()
        self.q = dim // 4
        self.delta = nn.Linear(self.q, n_angles)
        self.eta = nn.Linear(self.q, n_angles)
        self.p = nn.Linear(dim - 2 * self.q, bins * n_angles)
        self.bins, self.n_angles = bins, n_angles

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q = self.q
        p = torch.relu(self.p(f[:, 2 * q:])).view(-1, self.n_angles, self.bins)
        return p, torch.tanh(self.delta(f[:, :q])), torch.tanh(self.eta(f[:, q:2 * q]))


class FSANetBranch(nn.Module):
    """One complete FSA-Net (one scoring function): (N, 3, 64, 64) -> (N, 3) degrees."""

    def __init__(self, cfg: FSANetConfig, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        self.streams = TwoStream(in_channels)
        self.fusion = nn.ModuleList(StageFusion(c, cfg.channels, pool=(i == 2)) for i, c in enumerate(TwoStream.channels))
        if cfg.scoring == "none":
            self.mapping: nn.Module = PixelCapsules()
        else:
            score = ConvScore(cfg.channels) if cfg.scoring == "conv" else VarianceScore()
            self.mapping = StructureMapping(cfg, score)
        self.capsules = CapsuleLayer(cfg.n_primary, cfg.channels, cfg.num_capsule, cfg.dim_capsule, cfg.routings)
        per_stage = (cfg.num_capsule // len(cfg.ssr.stage_bins)) * cfg.dim_capsule
        self.heads = nn.ModuleList(SSRHead(per_stage, b) for b in cfg.ssr.stage_bins)
        keras_init_(self)   # the capsule W keeps its own Glorot init (not a Conv/Linear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [fuse(f) for fuse, f in zip(self.fusion, self.streams(x))]
        caps = self.capsules(self.mapping(maps))                               # (N, num_capsule, dim)
        k = len(self.heads)
        per = caps.shape[1] // k
        outs = [head(caps[:, i * per:(i + 1) * per].flatten(1)) for i, head in enumerate(self.heads)]
        p, delta, eta = (list(t) for t in zip(*outs))
        return ssr_decode(p, delta, eta, self.cfg.ssr)


class FSANet(PoseModel):
    """FSA-Net with one or more scoring variants; more than one = their averaged fusion.

    forward(x (N, 3, 64, 64) raw 0-255 pixels) -> {"euler": (N, 3) deg (pitch, yaw, roll)}
    plus ``euler_<variant>`` per branch when fused. Loss: L1 (mean over batch and
    angles) of each branch, summed, so every branch gets exactly the gradient it
    would get trained alone (branches share no parameters); logs the fused MAE.
    """

    fixed_size = True

    def __init__(self, cfgs: list[FSANetConfig]):
        super().__init__(RAW_PIXELS_SPEC)
        if not cfgs:
            raise ModelError("FSANet needs at least one scoring variant")
        self.variants = [VARIANT_NAMES[c.scoring] for c in cfgs]
        self.branches = nn.ModuleDict({name: FSANetBranch(c, self.input_spec.channels) for name, c in zip(self.variants, cfgs)})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        preds = {f"euler_{name}": branch(x) for name, branch in self.branches.items()}
        out = {"euler": torch.stack(list(preds.values())).mean(dim=0)}
        if len(preds) > 1:
            out.update(preds)
        return out

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        if len(self.variants) == 1:
            return angle_l1_loss(outputs["euler"], batch["euler"])
        total = outputs["euler"].new_zeros(())
        logs: dict[str, float] = {}
        for name in self.variants:
            loss, branch_logs = angle_l1_loss(outputs[f"euler_{name}"], batch["euler"])
            total = total + loss
            logs[f"loss_{name}"] = branch_logs["loss"]
        _, fused = angle_l1_loss(outputs["euler"].detach(), batch["euler"])
        logs.update({f"mae_{a}": fused[f"mae_{a}"] for a in ANGLE_NAMES})
        logs["loss"] = sum(logs[f"loss_{name}"] for name in self.variants)
        return total, logs

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        return {"euler": outputs["euler"]}


def _cfg(scoring: str, stage_bins, lambda_d: float, routings: int) -> FSANetConfig:
    return FSANetConfig(scoring=scoring, routings=routings, ssr=SSRConfig(tuple(stage_bins), lambda_d))


_PAPER = "FSA-Net: Learning Fine-Grained Structure Aggregation for Head Pose Estimation (Yang et al., CVPR 2019)"
RECIPE: Recipe = FSA_RECIPE


@register_model("fsanet_1x1", recipe=RECIPE, paper=_PAPER)
def fsanet_1x1(stage_bins: tuple[int, ...] = (3, 3, 3), lambda_d: float = 1.0, routings: int = 2) -> FSANet:
    """FSA-Caps (1x1): scoring by a 1x1 conv + sigmoid."""
    return FSANet([_cfg("conv", stage_bins, lambda_d, routings)])


@register_model("fsanet_var", recipe=RECIPE, paper=_PAPER)
def fsanet_var(stage_bins: tuple[int, ...] = (3, 3, 3), lambda_d: float = 1.0, routings: int = 2) -> FSANet:
    """FSA-Caps (var.): scoring by the variance over channels."""
    return FSANet([_cfg("var", stage_bins, lambda_d, routings)])


@register_model("fsanet_noS", recipe=RECIPE, paper=_PAPER)
def fsanet_noS(stage_bins: tuple[int, ...] = (3, 3, 3), lambda_d: float = 1.0, routings: int = 2) -> FSANet:
    """FSA-Caps (w/o): uniform scoring, i.e. no structure mapping (192 pixel capsules)."""
    return FSANet([_cfg("none", stage_bins, lambda_d, routings)])


@register_model("fsanet", recipe=RECIPE, paper=_PAPER)
def fsanet(stage_bins: tuple[int, ...] = (3, 3, 3), lambda_d: float = 1.0, routings: int = 2) -> FSANet:
    """FSA-Caps-Fusion: the 1x1, var and w/o variants side by side, predictions averaged."""
    return FSANet([_cfg(s, stage_bins, lambda_d, routings) for s in SCORINGS])
