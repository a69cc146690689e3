"""The HDF5 shard schema: round trip, batch reads, manifest, and one clear error per bad file."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from synth.config import load_config
from synth.shards import (SCHEMA_VERSION, ShardError, ShardReader, ShardWriter, code_version, now_iso,
                          open_dataset, read_manifest, write_manifest, write_shard)

SIZE = 64


@pytest.fixture(scope="module")
def samples():
    """Real rendered samples (sphere heads, real renderer and effects), 64x64."""
    from synth.runner import make_sample, sphere_sample_maker

    cfg = load_config(None, overrides=["heads.pool_size=3", f"output.width={SIZE}", f"output.height={SIZE}",
                                       "depth.noise=true"])
    maker = sphere_sample_maker(cfg, 0)
    try:
        yield [make_sample(maker, cfg, i) for i in range(12)]
    finally:
        maker.close()


def _attrs(start=0, stop=12):
    return dict(config_json="{}", config_hash="abc", code_version=code_version(), renderer_name="test",
                renderer_version="0", created=now_iso(), shard_index=0, index_start=start, index_stop=stop)


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        if k == "params":
            assert a[k] == b[k]
        else:
            assert np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True), k
            assert np.asarray(a[k]).dtype == np.asarray(b[k]).dtype or np.isscalar(a[k]), k


def test_round_trip_keys_dtypes_and_batch(tmp_path, samples):
    rec = write_shard(tmp_path / "shard-00000.h5", samples, _attrs())
    assert rec["file"] == "shard-00000.h5" and len(rec["sha256"]) == 64
    assert not list(tmp_path.glob("*.tmp-*"))
    r = ShardReader(tmp_path / "shard-00000.h5")
    assert len(r) == 12 and r.attrs["schema_version"] == SCHEMA_VERSION
    for i in (0, 5, -1):
        _same(samples[i], r[i])
    s = r[3]
    assert s["rgb"].shape == (SIZE, SIZE, 3) and s["rgb"].dtype == np.uint8
    assert s["depth"].dtype == np.uint16 and s["depth_noisy"].dtype == np.uint16
    assert s["rotation"].shape == (3, 3) and s["rotation"].dtype == np.float32
    assert s["euler"].shape == (3,) and s["landmarks"].shape == (68, 2) and s["K"].shape == (3, 3)
    assert s["bbox"].shape == (4,) and s["translation"].shape == (3,)
    b = r.read_batch([7, 2, 9], params=True)
    assert b["rgb"].shape == (3, SIZE, SIZE, 3) and list(b["index"]) == [7, 2, 9]
    assert np.array_equal(b["rgb"][1], samples[2]["rgb"]) and b["params"][0] == samples[7]["params"]
    c = r.read_batch(slice(2, 6))
    assert np.array_equal(c["depth"], np.stack([x["depth"] for x in samples[2:6]]))
    cols = r.columns()
    assert np.allclose(cols["light.intensity"], [x["params"]["light"]["intensity"] for x in samples])
    assert cols["light.direction"].shape == (12, 3) and "depth.disparity_sigma" in cols
    with pytest.raises(IndexError):
        r[12]


def test_writer_failure_leaves_nothing(tmp_path, samples):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "shard-00000.h5", 12, _attrs()) as w:
            w.append(samples[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    w = ShardWriter(tmp_path / "x.h5", 3, _attrs())
    w.append(samples[0])
    with pytest.raises(ValueError, match="1 samples written, 3 declared"):
        w.close()
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_truncated_corrupt_and_wrong_version_name_the_file(tmp_path, samples):
    good = tmp_path / "good.h5"
    write_shard(good, samples, _attrs())
    data = good.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=r"trunc\.h5.*fix:"):
        ShardReader(trunc)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all" * 100)
    with pytest.raises(ShardError, match=r"garbage\.h5.*fix:"):
        ShardReader(garbage)
    old = tmp_path / "old.h5"
    old.write_bytes(data)
    with h5py.File(old, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(ShardError, match=r"old\.h5: schema version 99"):
        ShardReader(old)
    inc = tmp_path / "incomplete.h5"
    inc.write_bytes(data)
    with h5py.File(inc, "a") as f:
        del f.attrs["complete"]
    with pytest.raises(ShardError, match=r"incomplete\.h5: incomplete shard"):
        ShardReader(inc)


def test_open_dataset_over_manifest(tmp_path, samples):
    recs = []
    for k, (a, b) in enumerate(((0, 5), (5, 12))):
        rec = write_shard(tmp_path / f"shard-{k:05d}.h5", samples[a:b], _attrs(a, b))
        recs.append(dict(rec, shard=k, start=a, stop=b, count=b - a))
    write_manifest(tmp_path, {"format": "headpose-synth-run", "schema_version": SCHEMA_VERSION, "n": 12,
                              "n_shards": 2, "shards": recs, "complete": True, "config_hash": "abc"})
    assert read_manifest(tmp_path)["n"] == 12 and not list(tmp_path.glob("*.tmp-*"))
    ds = open_dataset(tmp_path)
    assert len(ds) == 12
    assert [int(ds[i]["index"]) for i in range(12)] == [int(s["index"]) for s in samples]
    b = ds.read_batch([11, 0, 6])
    assert list(b["index"]) == [11, 0, 6]
    ds.validate(checksums=True)
    ds.close()
    (tmp_path / "shard-00001.h5").write_bytes(b"\0" * 100)
    with pytest.raises(ShardError, match="shard-00001.h5"):
        open_dataset(tmp_path).validate()
    with pytest.raises(ShardError, match="no manifest.json"):
        open_dataset(tmp_path.parent)
    json.loads((tmp_path / "manifest.json").read_text())


def test_default_zstd_vdelta_and_other_compressions(tmp_path, samples):
    import zstandard

    from synth.shards import (DEFAULT_COMPRESSION, VDELTA_FILTER_ID, ZSTD_FILTER_ID, vdelta_decode,
                              vdelta_encode)

    assert DEFAULT_COMPRESSION == "zstd"
    x = samples[4]["rgb"]
    assert np.array_equal(vdelta_decode(vdelta_encode(x)), x)
    batch = np.stack([s["rgb"] for s in samples[:5]])
    assert np.array_equal(vdelta_decode(vdelta_encode(batch, axis=1), axis=1), batch)
    write_shard(tmp_path / "z.h5", samples, _attrs())
    r = ShardReader(tmp_path / "z.h5")
    assert r.predictors == {} and r.portable and r._undo == {"rgb": True, "depth": False, "depth_noisy": False, "seg": False}
    with h5py.File(tmp_path / "z.h5", "r") as f:
        assert "predictor" not in f["rgb"].attrs
        plist = f["rgb"].id.get_create_plist()
        assert [plist.get_filter(j)[:3] for j in range(plist.get_nfilters())] == [
            (VDELTA_FILTER_ID, h5py.h5z.FLAG_OPTIONAL, (SIZE * 3,)), (ZSTD_FILTER_ID, h5py.h5z.FLAG_OPTIONAL, (1,))]
        assert np.array_equal(f["rgb"][2], samples[2]["rgb"])  # the filter pipeline undoes the row delta
        _, chunk = f["rgb"].id.read_direct_chunk((2, 0, 0, 0))  # ... stored as residuals under zstd
        assert zstandard.ZstdDecompressor().decompress(chunk) == vdelta_encode(samples[2]["rgb"]).tobytes()
    for i in (0, 2, 11):
        _same(samples[i], r[i])
    b = r.read_batch([9, 1, 4])
    assert np.array_equal(b["rgb"], np.stack([samples[i]["rgb"] for i in (9, 1, 4)]))
    c = r.read_batch(range(3, 8))
    assert np.array_equal(c["rgb"], np.stack([s["rgb"] for s in samples[3:8]]))
    for comp in ("gzip", "lzf", "none"):
        write_shard(tmp_path / f"{comp}.h5", samples, _attrs(), compression=comp)
        rr = ShardReader(tmp_path / f"{comp}.h5")
        assert rr.predictors == {}
        _same(samples[6], rr[6])
        assert np.array_equal(rr.read_batch([5, 0])["rgb"][1], samples[0]["rgb"])


def test_missing_filter_names_pip_install_hdf5plugin(tmp_path, samples, monkeypatch):
    write_shard(tmp_path / "z.h5", samples, _attrs())
    real = h5py.h5z.filter_avail
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda fid: fid == 437 and real(fid))
    with pytest.raises(ShardError, match=r"z\.h5.*pip install hdf5plugin"):
        ShardReader(tmp_path / "z.h5")
    # without the row-delta filter library: direct reads undo the delta themselves; reads through HDF5 need it
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda fid: fid != 437 and real(fid))
    _same(samples[5], ShardReader(tmp_path / "z.h5")[5])
    with pytest.raises(ShardError, match=r"z\.h5: dataset 'rgb' .* filter 437 .*bash setup\.sh"):
        ShardReader(tmp_path / "z.h5", direct=False)
    import sys

    monkeypatch.setitem(sys.modules, "hdf5plugin", None)  # import hdf5plugin -> ImportError
    with pytest.raises(ShardError, match="pip install hdf5plugin"):
        ShardWriter(tmp_path / "w.h5", 1, _attrs())


def test_mask_is_derived_from_depth_unless_a_sample_differs(tmp_path, samples):
    from synth.shards import MASK_FROM_DEPTH, MASK_SOURCE_ATTR, MASK_STORED, mask_matches_depth

    assert all(mask_matches_depth(s["mask"], s["depth"]) for s in samples)  # true of the GL renderer
    write_shard(tmp_path / "d.h5", samples, _attrs())
    with h5py.File(tmp_path / "d.h5", "r") as f:
        assert "mask" not in f and f.attrs[MASK_SOURCE_ATTR] == MASK_FROM_DEPTH
    r = ShardReader(tmp_path / "d.h5")
    assert r.mask_from_depth and "mask" in r.fields and "mask" not in r.image_fields
    for i in range(12):
        m = r[i]["mask"]
        assert m.dtype == np.uint8 and np.array_equal(m, samples[i]["mask"])
    assert np.array_equal(r.read_batch([3, 1], fields=("mask",))["mask"][1], samples[1]["mask"])
    assert set(r.read_batch(range(2), fields=("mask",))) >= {"mask", "rotation"}
    # sample 7's mask is not depth > 0 (as a renderer with a separate mask pass could give): the
    # mask dataset appears at sample 7 and samples 0..6 are back-filled from their depth
    odd = [dict(s) for s in samples]
    odd[7]["mask"] = odd[7]["mask"].copy()
    odd[7]["mask"][0, :5] ^= 1
    write_shard(tmp_path / "m.h5", odd, _attrs())
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert "mask" in f and f.attrs[MASK_SOURCE_ATTR] == MASK_STORED
    rm = ShardReader(tmp_path / "m.h5")
    assert not rm.mask_from_depth
    for i in range(12):
        assert np.array_equal(rm[i]["mask"], odd[i]["mask"]), i
    assert not mask_matches_depth(odd[7]["mask"], odd[7]["depth"])
    assert not mask_matches_depth(samples[0]["mask"] * 255, samples[0]["depth"])  # 0/255 is not 0/1


def test_reads_schema_1_and_refuses_a_v2_shard_without_mask_source(tmp_path, samples):
    import shutil
    from pathlib import Path

    from synth.migrate import migrate_shard
    from synth.shards import MASK_SOURCE_ATTR

    # schema 1 = schema 2's layout (rgb row delta outside the filters) with the mask always stored and no
    # mask_source: the old code's shard with a stored mask (tests/data), relabelled
    data = Path(__file__).resolve().parent / "data"
    shutil.copyfile(data / "schema2-stored-mask.h5", tmp_path / "v1.h5")
    with h5py.File(tmp_path / "v1.h5", "a") as f:
        f.attrs["schema_version"] = 1
        del f.attrs[MASK_SOURCE_ATTR]
    expected = np.load(data / "schema2-expected.npz")
    r = ShardReader(tmp_path / "v1.h5")
    assert r.version == 1 and not r.mask_from_depth and not r.portable
    for k in ("rgb", "mask", "depth_noisy"):
        assert np.array_equal(r[3][k], expected[f"schema2-stored-mask/{k}"][3]), k
    r.close()
    assert migrate_shard(tmp_path / "v1.h5")["migrated_from"] == 1
    r = ShardReader(tmp_path / "v1.h5", direct=False)
    assert r.version == SCHEMA_VERSION and r.portable and r.attrs[MASK_SOURCE_ATTR] == "stored"
    assert np.array_equal(r.read_batch(range(6))["mask"], expected["schema2-stored-mask/mask"])
    write_shard(tmp_path / "bad.h5", samples, _attrs())
    with h5py.File(tmp_path / "bad.h5", "a") as f:
        del f.attrs[MASK_SOURCE_ATTR]
    with pytest.raises(ShardError, match=r"bad\.h5: no 'mask' dataset.*fix:"):
        ShardReader(tmp_path / "bad.h5")


def test_direct_chunks_are_plain_hdf5_and_both_read_paths_agree(tmp_path, samples):
    import zstandard

    for comp in ("zstd", "none"):
        p = tmp_path / f"{comp}.h5"
        write_shard(p, samples, _attrs(), compression=comp)
        hdf5_written = tmp_path / f"{comp}-hdf5.h5"
        write_shard(hdf5_written, samples, _attrs(), compression=comp, direct=False)
        fast, slow = ShardReader(p), ShardReader(p, direct=False)
        assert set(fast._chunks) == {"rgb", "depth", "depth_noisy", "seg"} and slow._chunks == {}
        other = ShardReader(hdf5_written)
        for i in (0, 5, 11):
            _same(samples[i], fast[i])
            _same(samples[i], slow[i])
            _same(samples[i], other[i])
        b = fast.read_batch([4, 0, 9])
        assert np.array_equal(b["rgb"], np.stack([samples[i]["rgb"] for i in (4, 0, 9)]))
        assert np.array_equal(b["depth"], slow.read_batch([4, 0, 9])["depth"])
        # any HDF5 reader decodes the directly written chunks (rgb: filters 437 then 32015)
        with h5py.File(p, "r") as f, h5py.File(hdf5_written, "r") as g:
            assert np.array_equal(f["depth_noisy"][6], samples[6]["depth_noisy"])
            assert np.array_equal(f["rgb"][...], np.stack([s["rgb"] for s in samples]))
            if comp == "zstd":  # the writer's own coding = what HDF5's pipeline (the C filter) stores
                mine, hdf5s = f["rgb"].id.read_direct_chunk((7, 0, 0, 0)), g["rgb"].id.read_direct_chunk((7, 0, 0, 0))
                assert mine[0] == hdf5s[0] == 0
                dz = zstandard.ZstdDecompressor()
                assert dz.decompress(mine[1]) == dz.decompress(hdf5s[1])
    s = fast.sample(3, fields=("rgb",), params=False)
    assert "depth" not in s and "params" not in s and s["rgb"].flags.writeable
    with pytest.raises(KeyError, match="no image dataset 'normals'"):
        fast.sample(0, fields=("normals",))


def test_corrupt_chunk_and_missing_chunk_name_the_file(tmp_path, samples):
    p = tmp_path / "c.h5"
    write_shard(p, samples, _attrs())
    r = ShardReader(p)
    offsets, sizes = r._chunks["rgb"][:2]
    r.close()
    data = bytearray(p.read_bytes())
    o, n = int(offsets[4]), int(sizes[4])
    data[o + n // 3: o + n // 3 + 64] = bytes(64)  # zeroed bytes inside sample 4's rgb chunk
    p.write_bytes(bytes(data))
    r = ShardReader(p)
    _same(samples[3], r[3])
    with pytest.raises(ShardError, match=r"c\.h5: cannot read sample 4.*fix:"):
        r[4]
    with pytest.raises(ShardError, match=r"c\.h5: cannot read samples.*fix:"):
        r.read_batch([3, 4])
    # a shard whose sample 5 has no rgb chunk (never written): refused at open, not read as zeros
    src, holey = tmp_path / "good.h5", tmp_path / "holey.h5"
    write_shard(src, samples, _attrs())
    with h5py.File(src, "r") as f, h5py.File(holey, "w") as g:
        for k, v in f.attrs.items():
            g.attrs[k] = v
        for name in f:
            if name != "rgb":
                f.copy(name, g)
        d = g.create_dataset("rgb", shape=f["rgb"].shape, dtype=f["rgb"].dtype, chunks=f["rgb"].chunks)
        for k, v in f["rgb"].attrs.items():
            d.attrs[k] = v
        for i in range(12):
            if i != 5:
                d[i] = f["rgb"][i]
    with pytest.raises(ShardError, match=r"holey\.h5: dataset 'rgb' lacks 1 of its 12 sample chunks.*fix:"):
        ShardReader(holey)


def test_reader_survives_fork_and_pickle(tmp_path, samples):
    import multiprocessing as mp
    import pickle

    p = tmp_path / "f.h5"
    write_shard(p, samples, _attrs())
    r = ShardReader(p)
    r[0]  # handles open in the parent
    clone = pickle.loads(pickle.dumps(r))
    _same(samples[8], clone[8])
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        rgb = pool.apply(_read_rgb, (r, 9))
    assert np.array_equal(rgb, samples[9]["rgb"])
    _same(samples[1], r[1])  # the parent's handles still work


def _read_rgb(reader, i):
    return reader[i]["rgb"]


@pytest.mark.parametrize("kernel", ["C", "numpy"])
def test_vdelta_round_trips_for_any_height(kernel, monkeypatch):
    import synth.shards.codec as shards
    from synth.shards import _vdelta_decode_into, vdelta_decode, vdelta_decoded, vdelta_encode

    if kernel == "numpy":  # the fallback when the extension was not built
        monkeypatch.setattr(shards, "_vdelta_kernel", None)
    assert shards.vdelta_kernel() == kernel
    rng = np.random.default_rng(0)
    for h in (1, 2, 3, 5, 8, 33, 100):  # odd and even numbers of doubling passes
        x = rng.integers(0, 256, (h, 7, 3), dtype=np.uint8)
        d = vdelta_encode(x)
        assert np.array_equal(d[1:], (x[1:].astype(int) - x[:-1]) % 256) if h > 1 else np.array_equal(d, x)
        frozen = d.copy()
        frozen.flags.writeable = False
        assert np.array_equal(vdelta_decoded(frozen), x)
        out, scratch = np.empty_like(x), np.empty_like(x)
        assert _vdelta_decode_into(frozen, out, scratch) is out and np.array_equal(out, x)
        assert np.array_equal(vdelta_decode(d.copy()), x)
    batch = rng.integers(0, 256, (4, 9, 5, 3), dtype=np.uint8)
    assert np.array_equal(vdelta_decoded(vdelta_encode(batch, axis=1), axis=1), batch)
    x = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)  # the kernel declines a non-contiguous residual
    assert np.array_equal(vdelta_decoded(vdelta_encode(x)[:, ::-1]), vdelta_decoded(vdelta_encode(x)[:, ::-1].copy()))


def test_vdelta_kernel_is_built_and_checks_its_arguments():
    """setup.sh installs a C compiler, so `pip install -e .` builds synth/_vdelta.c; a reader here must not
    silently fall back to the ~8x slower numpy undo."""
    from synth.shards import codec as shards

    assert shards.vdelta_kernel() == "C", "synth/_vdelta.c was not built; fix: rerun `bash setup.sh` (or " \
        "`pip install -e .` with a C compiler and Python's headers)"
    kernel = shards._vdelta_kernel
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    d = shards.vdelta_encode(x)
    out = np.empty_like(x)
    assert kernel.undo(d.tobytes(), out, 256) is None and np.array_equal(out, x)  # any buffer, e.g. bytes
    for src, dst, rows, msg in [(d, out[:100], 256, "same number of bytes"), (d, out, 7, "divide"),
                                (d, out, 0, "positive"), (d, d, 256, "overlap")]:
        with pytest.raises(ValueError, match=msg):
            kernel.undo(src, dst, rows)
    frozen = np.empty_like(x)
    frozen.flags.writeable = False
    with pytest.raises(TypeError, match="read-write"):
        kernel.undo(d, frozen, 256)


def test_without_zstandard_the_hdf5_pipeline_writes_and_reads_the_same(tmp_path, samples, monkeypatch):
    import sys

    write_shard(tmp_path / "direct.h5", samples, _attrs())
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    w = ShardWriter(tmp_path / "x.h5", 12, _attrs())
    assert not w.direct
    w.abort()
    write_shard(tmp_path / "plain.h5", samples, _attrs())
    for name in ("direct.h5", "plain.h5"):
        r = ShardReader(tmp_path / name)
        assert r._chunks == {}  # no zstandard: every image read goes through HDF5
        for i in (0, 7):
            _same(samples[i], r[i])
