"""Tests of synth.heads: the anny/MakeHuman bank, the assets installer and user meshes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from synth.heads import HeadBank, HeadBankError, build_head_bank
from synth.heads.mesh import N_LANDMARKS


# ---------------------------------------------------------------- anny bank
@pytest.fixture(scope="module")
def bank():
    pytest.importorskip("anny")
    from synth.heads.makehuman import AnnyHeadBank

    return AnnyHeadBank(pool_size=4, seed=123)


def test_protocol_and_describe(bank):
    assert isinstance(bank, HeadBank)
    assert len(bank) == 4
    d = bank.describe()
    json.dumps(d)
    assert d["kind"] == "makehuman" and d["pool_size"] == 4


def test_identity_independent_of_pool_size(bank):
    from synth.heads.makehuman import AnnyHeadBank

    small = AnnyHeadBank(pool_size=3, seed=123, batch_size=2)
    for i in range(3):
        a, b = bank.get(i), small.get(i)
        for pa, pb in zip(a.parts, b.parts):
            np.testing.assert_allclose(pa.positions, pb.positions, atol=1e-3)
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
        assert a.attributes == b.attributes


def test_identities_differ(bank):
    a, b = bank.get(0).parts[0].positions, bank.get(1).parts[0].positions
    assert a.shape == b.shape
    assert np.abs(a - b).max() > 2.0


def test_mesh_is_cropped_head(bank):
    h = bank.get(0)
    skin = h.parts[0]
    assert skin.name == "skin"
    assert skin.positions.shape[0] < 8000  # full body has 13,718 vertices (more after UV split)
    width = np.ptp(skin.positions[:, 0])
    assert 130.0 < width < 260.0, width
    for p in h.parts:
        assert p.positions.dtype == np.float32 and p.positions.shape[1] == 3
        assert p.normals.shape == p.positions.shape
        np.testing.assert_allclose(np.linalg.norm(p.normals, axis=1), 1.0, atol=1e-3)
        assert p.uvs.shape == (p.positions.shape[0], 2) and p.uvs.min() >= 0 and p.uvs.max() <= 1
        assert p.indices.dtype == np.uint32 and p.indices.max() < p.positions.shape[0]
        assert p.texture.dtype == np.uint8 and p.texture.ndim == 3 and p.texture.shape[2] == 4
    assert [p.name for p in h.parts] == ["skin", "mouth", "eyes", "eyebrows"]  # mouth: the cavity, its own class
    json.dumps(h.attributes)
    assert h.attributes["source"] == "anny"


def test_low_and_high_poly_eyes_sit_in_the_same_place(bank):
    """heads.eye_mesh: the Low-Poly eyeballs (default) and HighPolyEyes are fitted to the same
    eye helpers: same centres and size, far fewer triangles; the rest of the head is unchanged."""
    from synth.heads.makehuman import AnnyHeadBank

    high = AnnyHeadBank(pool_size=2, seed=123, eye_mesh="high")
    assert bank.describe()["eye_mesh"] == "low" and high.describe()["eye_mesh"] == "high"
    for i in range(2):
        lo, hi = ({p.name: p for p in b.get(i).parts} for b in (bank, high))
        np.testing.assert_allclose(lo["skin"].positions, hi["skin"].positions, atol=1e-3)
        assert len(lo["eyes"].indices) == 172 and len(hi["eyes"].indices) == 2040
        for side in (-1, 1):  # the subject's right (x < 0) and left eye
            a = lo["eyes"].positions[np.sign(lo["eyes"].positions[:, 0]) == side]
            b = hi["eyes"].positions[np.sign(hi["eyes"].positions[:, 0]) == side]
            ca, cb = a.mean(0), b.mean(0)
            assert np.linalg.norm(ca - cb) < 1.5, (ca, cb)
            ra, rb = np.linalg.norm(a - ca, axis=1).max(), np.linalg.norm(b - cb, axis=1).max()
            assert 8.0 < rb < 25.0 and abs(ra - rb) < 0.15 * rb, (ra, rb)  # eyeball + cornea shell
    with pytest.raises(ValueError, match="eye_mesh"):
        AnnyHeadBank(pool_size=1, seed=0, eye_mesh="medium")


def test_canonical_frame(bank):
    for i in range(len(bank)):
        lm = bank.get(i).landmarks
        assert lm.shape == (N_LANDMARKS, 3) and np.isfinite(lm).all()
        # nose tip is the most frontal landmark (face toward -z)
        assert lm[30, 2] == lm[:, 2].min() or lm[30, 2] < np.median(lm[:, 2]) - 15
        assert lm[30, 2] < -60
        # subject's left eye (iBUG 42-47) at +x, right eye (36-41) at -x
        assert lm[42:48, 0].mean() > 15 and lm[36:42, 0].mean() < -15
        # y down: eyes above the mouth above the chin
        assert lm[36:48, 1].mean() < lm[48:68, 1].mean() < lm[8, 1]
        # symmetric and level: eye corners at equal height, centred in x
        assert abs(lm[36, 1] - lm[45, 1]) < 3.0
        assert abs(lm[36, 0] + lm[45, 0]) < 3.0
        # head centre (origin) lies inside the head, behind the face
        skin = bank.get(i).parts[0].positions
        assert skin[:, 2].min() < -60 and skin[:, 2].max() > 60


def test_landmarks_on_surface(bank):
    h = bank.get(2)
    skin = h.parts[0].positions
    d = np.linalg.norm(h.landmarks[:, None, :] - skin[None], axis=2).min(axis=1)
    assert d.max() < 1e-3  # landmark vertices are skin vertices


def test_neutral_setting():
    pytest.importorskip("anny")
    from synth.heads.makehuman import AnnyHeadBank

    b = AnnyHeadBank(pool_size=2, seed=5, expressions=False)
    assert all(not b.get(i).attributes["expression_weights"] for i in range(2))


# ---------------------------------------------------------------- assets installer
def test_assets_marker_redo(tmp_path):
    from synth.heads import assets

    root = tmp_path / "mhd"
    assert not assets.is_installed(root)
    root.mkdir()
    (root / assets.MARKER).write_text("{}")  # half-finished / stale marker
    assert not assets.is_installed(root)


def test_an_earlier_install_is_kept_when_it_has_what_is_needed(tmp_path, monkeypatch):
    """An install by the previous extractor (no Low-Poly eyes) still serves HighPolyEyes offline;
    asking for Low-Poly re-extracts, and a failed re-extraction names the missing file and keeps
    the old files."""
    from synth.heads import assets

    root = tmp_path / "mhd"
    high = root / "proxies/eyes/HighPolyEyes/HighPolyEyes.json"
    high.parent.mkdir(parents=True)
    high.write_text("{}")
    old_marker = {k: v for k, v in assets._marker_content().items() if k != "extract"}
    (root / assets.MARKER).write_text(json.dumps(old_marker))
    assert not assets.is_installed(root)

    def no_network(*a, **k):
        raise HeadBankError("`npm` was not found on PATH")

    monkeypatch.setattr(assets, "install", no_network)
    assert assets.ensure_installed(root, needs=("proxies/eyes/HighPolyEyes/HighPolyEyes.json",)) == root
    with pytest.raises(HeadBankError, match="earlier version and lacks proxies/eyes/Low-Poly/Low-Poly.json"):
        assets.ensure_installed(root, needs=("proxies/eyes/Low-Poly/Low-Poly.json",))
    assert high.exists()
    pytest.importorskip("anny")
    from synth.heads.makehuman import AnnyHeadBank

    with pytest.raises(HeadBankError, match="heads.eye_mesh=high"):  # the bank offers the eyes it has
        AnnyHeadBank(pool_size=1, assets_dir=root)
    (root / assets.MARKER).write_text(json.dumps(dict(old_marker, sha256="0" * 64)))  # another tarball
    with pytest.raises(HeadBankError, match="npm"):
        assets.ensure_installed(root, needs=("proxies/eyes/HighPolyEyes/HighPolyEyes.json",))


def test_assets_bad_tarball(tmp_path):
    from synth.heads import assets

    bad = tmp_path / "x.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(HeadBankError, match="sha256"):
        assets.install(tmp_path / "mhd", tarball=bad)


# ---------------------------------------------------------------- user meshes
def _write_cube(folder, name="cube.obj"):
    trimesh = pytest.importorskip("trimesh")
    m = trimesh.creation.box(extents=(0.16, 0.2, 0.2))
    m.export(folder / name)
    return m


def test_user_bank_round_trip(tmp_path):
    m = _write_cube(tmp_path)
    lm_idx = list(range(8)) * 8 + [0, 1, 2, 3]
    manifest = {"heads": [{
        "file": "cube.obj", "scale_to_mm": 1000.0,
        "rotation": [[1, 0, 0], [0, -1, 0], [0, 0, -1]], "translation": [0, 0, 5],
        "landmarks_vertices": lm_idx, "attributes": {"name": "cube"},
    }]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    b = build_head_bank("user", folder=tmp_path)
    assert isinstance(b, HeadBank) and len(b) == 1
    h = b.get(0)
    p = h.parts[0]
    assert p.positions.shape == (len(m.vertices), 3)
    np.testing.assert_allclose(np.ptp(p.positions, axis=0), [160, 200, 200], atol=1e-3)
    np.testing.assert_allclose(p.positions[:, 2].mean(), 5.0, atol=1e-3)
    assert h.landmarks.shape == (68, 3) and np.isfinite(h.landmarks).all()
    assert p.texture.dtype == np.uint8 and p.texture.shape[2] == 4
    assert h.attributes["name"] == "cube"
    json.dumps(b.describe())


def test_user_bank_yaml_and_no_landmarks(tmp_path):
    _write_cube(tmp_path)
    (tmp_path / "manifest.yaml").write_text("heads:\n  - file: cube.obj\n    scale_to_mm: 1000\n")
    h = build_head_bank("user", folder=tmp_path).get(0)
    assert np.isnan(h.landmarks).all()


def test_user_bank_missing_file(tmp_path):
    (tmp_path / "manifest.yaml").write_text("heads:\n  - file: nothere.obj\n")
    with pytest.raises(HeadBankError, match="nothere.obj"):
        build_head_bank("user", folder=tmp_path)


def test_user_bank_corrupt_file(tmp_path):
    (tmp_path / "bad.ply").write_bytes(b"ply\nformat garbage\n\x00\x01\x02")
    (tmp_path / "manifest.yaml").write_text("heads:\n  - file: bad.ply\n")
    b = build_head_bank("user", folder=tmp_path)
    with pytest.raises(HeadBankError, match="bad.ply"):
        b.get(0)


def test_user_bank_unknown_key(tmp_path):
    _write_cube(tmp_path)
    (tmp_path / "manifest.yaml").write_text("heads:\n  - file: cube.obj\n    scale: 1000\n")
    with pytest.raises(HeadBankError, match="unknown key"):
        build_head_bank("user", folder=tmp_path)


def test_user_bank_no_manifest(tmp_path):
    with pytest.raises(HeadBankError, match="manifest"):
        build_head_bank("user", folder=tmp_path)


def test_warps_no_cuda_notice_is_dropped_and_other_output_kept(capfd):
    """Warp prints its no-driver notice from native code into every actor's stderr (and the progress
    bar); only that line is filtered, whatever else is printed comes back, also when init fails."""
    import os

    from synth.heads.anny_model import WARP_NO_CUDA_NOTICE, _call_without_no_cuda_notice

    def noisy():
        os.write(2, WARP_NO_CUDA_NOTICE + b". GPU execution will not be available.\n")
        os.write(2, b"another warp line\n")

    _call_without_no_cuda_notice(noisy)
    err = capfd.readouterr().err
    assert "another warp line" in err and "NVIDIA CUDA driver" not in err

    def failing():
        os.write(2, b"why it failed\n")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _call_without_no_cuda_notice(failing)
    assert "why it failed" in capfd.readouterr().err


def test_a_failed_model_cache_write_is_one_clear_error_and_leaves_no_partial_file(tmp_path, monkeypatch):
    """anny writes its ~1.2 GB cache in place: a full disk must give a HeadBankError naming the folder and the
    fix, and remove the file it cut short (the next run would fail to read it), keeping older cache files.
    anny itself is replaced here; the real build is what every bank test above loads."""
    import errno
    import os
    import sys
    import time
    import types

    from synth.heads import anny_model

    cache = tmp_path / "cache"
    (cache / "v1").mkdir(parents=True)
    old = cache / "v1" / "old.safetensors"
    old.write_bytes(b"complete")
    os.utime(old, (time.time() - 3600, time.time() - 3600))

    class Anny:
        def __init__(self, **kwargs):
            (cache / "v1" / "new.safetensors").write_bytes(b"cut sh")
            raise OSError(errno.EFBIG, "File too large")

    fake = types.ModuleType("anny")
    fake.Anny = Anny
    fake.paths = types.SimpleNamespace(set_anny_cache_path=lambda path: None)
    monkeypatch.setitem(sys.modules, "anny", fake)
    monkeypatch.setitem(sys.modules, "anny.paths", fake.paths)
    with pytest.raises(HeadBankError) as err:
        anny_model.load_anny_model(cache)
    msg = str(err.value)
    assert str(cache) in msg and "File too large" in msg and "ANNY_CACHE_DIR" in msg and "\n" not in msg
    assert old.exists() and not (cache / "v1" / "new.safetensors").exists()
    assert str(cache.resolve()) not in anny_model._MODEL_CACHE


def test_the_model_cache_is_built_by_one_process_at_a_time(tmp_path, monkeypatch):
    """anny reads any cache file that exists, even one another process is still writing: a second load
    waits on the cache folder's lock until the first build is done (here: a fake anny; the lock is real)."""
    import fcntl
    import os
    import sys
    import threading
    import types

    from synth.heads import anny_model

    built = []
    fake = types.ModuleType("anny")
    fake.Anny = lambda **kwargs: built.append(1) or types.SimpleNamespace(eval=lambda: None)
    fake.paths = types.SimpleNamespace(set_anny_cache_path=lambda path: None)
    monkeypatch.setitem(sys.modules, "anny", fake)
    monkeypatch.setitem(sys.modules, "anny.paths", fake.paths)
    cache = tmp_path / "cache"
    cache.mkdir()
    fd = os.open(cache / ".build.lock", os.O_RDWR | os.O_CREAT)   # another process building right now
    fcntl.flock(fd, fcntl.LOCK_EX)
    loader = threading.Thread(target=anny_model.load_anny_model, args=(cache,))
    try:
        loader.start()
        loader.join(0.5)
        assert loader.is_alive() and not built
    finally:
        os.close(fd)
    loader.join(10)
    assert not loader.is_alive() and built == [1]
    anny_model._MODEL_CACHE.pop(str(cache.resolve()), None)
