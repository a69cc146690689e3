"""Shards read by people who never import synth: plain h5py + hdf5plugin (+ the synth-vdelta filter on
HDF5_PLUGIN_PATH), h5dump; schema-2 shards written by the old code still read, and migrate to the same values."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from synth import h5plugin
from synth.shards import (SCHEMA_VERSION, ShardError, ShardReader, open_dataset, read_manifest, sha256_file,
                          write_manifest)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
OLD = ("schema2-derived-mask", "schema2-stored-mask")  # written by the schema-2 code (data/make_schema2_shards.py)

#: What an outside reader runs: h5py + hdf5plugin only (or also `import synth.h5plugin`, as the README offers),
#: every dataset read sample by sample, the mask derived as the README says when it is not stored.
_PLAIN_READER = r"""
import json, sys
import h5py, hdf5plugin, numpy as np
if sys.argv[3] == "import synth.h5plugin":
    import synth.h5plugin
else:
    assert not [m for m in sys.modules if m.split(".")[0] == "synth"]
got, errors = {}, {}
with h5py.File(sys.argv[1], "r") as f:
    n = int(f.attrs["n_samples"])
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            try:
                rows = [obj[i] for i in range(n)]
                got[name] = np.array([r.decode() for r in rows]) if obj.dtype.kind == "O" else np.stack(rows)
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
    f.visititems(visit)
    if "mask" not in f and f.attrs["mask_source"] == "depth>0" and "depth" in got:
        got["mask"] = (got["depth"] > 0).astype(np.uint8)
np.savez(sys.argv[2], **got)
print(json.dumps(errors))
"""


def _plain_read(shard: Path, out: Path, mode: str = "HDF5_PLUGIN_PATH") -> tuple[dict, dict]:
    """(decoded datasets, errors by dataset) from a fresh interpreter that reads ``shard`` with plain h5py.

    mode: "HDF5_PLUGIN_PATH" (the filter found by HDF5 itself, synth not importable), "no plugin" (neither),
    or "import synth.h5plugin" (the README's one import, this tree on PYTHONPATH).
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HDF5_PLUGIN_PATH")}
    if mode == "HDF5_PLUGIN_PATH":
        env["HDF5_PLUGIN_PATH"] = str(h5plugin.PLUGIN_PATH)
    elif mode == "import synth.h5plugin":
        env["PYTHONPATH"] = str(REPO)
    # -I: isolated (no user site, cwd not on sys.path); the editable install's path hook still finds
    # `synth` in the venv, so the "no import" modes assert that nothing imported it
    flags = [] if mode == "import synth.h5plugin" else ["-I"]
    done = subprocess.run([sys.executable, *flags, "-c", _PLAIN_READER, str(shard), str(out), mode], env=env,
                          cwd="/", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with np.load(out) as z:
        return {k: z[k] for k in z.files}, json.loads(done.stdout.strip().splitlines()[-1])


def _check_same(reader: ShardReader, got: dict) -> None:
    """Every sample and every dataset the plain reader decoded equals the project's reader, sample by sample."""
    for i in range(len(reader)):
        s = reader.sample(i)
        for k, v in s.items():
            if k == "params":
                assert json.loads(got["params"][i]) == v, i
            else:
                a = np.asarray(v)
                same = np.array_equal(got[k][i], a, equal_nan=a.dtype.kind == "f")
                assert got[k][i].dtype == a.dtype and same, (k, i)
    for k, v in reader.columns().items():
        assert np.array_equal(got[f"params_columns/{k}"], v, equal_nan=True), k


SETTINGS = ("heads.pool_size=2", "output.width=40", "output.height=40", "effects.noise.probability=0.5")


def _render(out: Path, n: int, *extra: str) -> None:
    """``synth render`` through the real CLI and runner (sphere heads: no head bank; ./pipeline.yaml)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "synth.cli", "render", "--n", str(n), "--shard-size", str(n), "--out", str(out),
           "--workers", "0", "--maker", "synth.runner:sphere_sample_maker", "--no-progress"]
    for s in (*SETTINGS, *extra):
        cmd += ["--set", s]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_rendered_shard_reads_the_same_with_plain_h5py_in_a_fresh_process(tmp_path):
    out = tmp_path / "run"
    _render(out, 8, "depth.noise=true")
    shard = out / "shard-00000.h5"
    r = ShardReader(shard)
    assert r.version == SCHEMA_VERSION and r.portable and r.mask_from_depth
    with h5py.File(shard, "r") as f:
        stored = set()
        f.visititems(lambda name, obj: stored.add(name) if isinstance(obj, h5py.Dataset) else None)
    assert {"rgb", "depth", "depth_noisy", "params", "index"} <= stored
    got, errors = _plain_read(shard, tmp_path / "plain.npz")
    assert errors == {} and stored <= set(got)
    _check_same(r, got)
    # ... and that is the rendered truth: a sample depends only on (config, seed, index)
    from synth.config import load_config
    from synth.runner import make_sample, sphere_sample_maker

    cfg = load_config(REPO / "pipeline.yaml", overrides=[*SETTINGS, "depth.noise=true"])
    maker = sphere_sample_maker(cfg, cfg.seed)
    try:
        for i in (0, 5):
            truth = make_sample(maker, cfg, i)
            assert np.array_equal(got["rgb"][i], truth["rgb"]) and np.array_equal(got["mask"][i], truth["mask"])
    finally:
        maker.close()
    # without the filter: rgb fails loudly, everything else still reads
    got, errors = _plain_read(shard, tmp_path / "bare.npz", mode="no plugin")
    assert set(errors) == {"rgb"} and "OSError" in errors["rgb"]
    assert stored - {"rgb"} <= set(got)
    # the README's alternative to HDF5_PLUGIN_PATH: `import synth.h5plugin`
    got, errors = _plain_read(shard, tmp_path / "import.npz", mode="import synth.h5plugin")
    assert errors == {}
    _check_same(r, got)


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (apt-get install hdf5-tools) is not installed")
def test_h5dump_decodes_rgb_through_hdf5_plugin_path(tmp_path):
    """Another program on another HDF5 library (Debian's h5dump is 1.10) loads the filter from HDF5_PLUGIN_PATH."""
    import hdf5plugin

    out = tmp_path / "run"
    _render(out, 4)
    shard = out / "shard-00000.h5"
    env = dict(os.environ, HDF5_PLUGIN_PATH=f"{hdf5plugin.PLUGIN_PATH}{os.pathsep}{h5plugin.PLUGIN_PATH}")
    done = subprocess.run(["h5dump", "-d", "/rgb", "-b", "NATIVE", "-o", str(tmp_path / "rgb.bin"), str(shard)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    with ShardReader(shard) as r:
        assert (tmp_path / "rgb.bin").read_bytes() == r.read_batch(range(len(r)))["rgb"].tobytes()
    env["HDF5_PLUGIN_PATH"] = str(hdf5plugin.PLUGIN_PATH)  # zstd only: refuses rather than print residuals
    done = subprocess.run(["h5dump", "-d", "/rgb", "-b", "NATIVE", "-o", str(tmp_path / "bad.bin"), str(shard)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "unable to print data" in done.stdout + done.stderr


def test_h5plugin_is_built_and_codes_like_the_writer(tmp_path):
    """setup.sh builds synth/h5plugin/h5vdelta.c; without it plain HDF5 readers here cannot decode rgb."""
    assert h5plugin.library() is not None, ("the synth-vdelta filter library was not built; fix: rerun `bash setup.sh` "
                                            "(or `pip install -e .` with a C compiler)")
    assert h5plugin.register(), h5plugin._state.get("error")
    assert h5py.h5z.filter_avail(h5plugin.VDELTA_FILTER_ID)
    shown = subprocess.run([sys.executable, "-m", "synth.h5plugin"], env=dict(os.environ, PYTHONPATH=str(REPO)),
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(shown) == h5plugin.PLUGIN_PATH
    from synth.shards import vdelta_dcpl, vdelta_encode

    rng = np.random.default_rng(0)
    for h, w in ((1, 5), (2, 3), (33, 17)):  # the filter's own coding, through HDF5's pipeline, any height
        x = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        with h5py.File(tmp_path / "f.h5", "w") as f:
            ds = f.create_dataset("x", shape=x.shape, dtype=np.uint8, chunks=(1, h, w, 3),
                                  dcpl=vdelta_dcpl((h, w, 3), np.uint8))
            ds[...] = x
            mask, raw = ds.id.read_direct_chunk((1, 0, 0, 0))
            assert mask == 0 and raw == vdelta_encode(x[1]).tobytes()
            assert np.array_equal(ds[...], x)
            # rows that do not divide the chunk: HDF5 reports the filter's failure, no data comes back
            bad = f.create_dataset("bad", shape=x.shape, dtype=np.uint8, chunks=(1, h, w, 3),
                                   dcpl=vdelta_dcpl((h, w + 1, 3), np.uint8))
            bad.id.write_direct_chunk((0, 0, 0, 0), x[0].tobytes())
            with pytest.raises(OSError):
                bad[0]


def test_schema2_shards_written_by_the_old_code_still_read():
    expected = np.load(DATA / "schema2-expected.npz")
    for name in OLD:
        for direct in (True, False):
            r = ShardReader(DATA / f"{name}.h5", direct=direct)
            assert r.version == 2 and not r.portable and r.predictors == {"rgb": "vdelta"}
            for i in range(len(r)):
                for k in r.fields:
                    assert np.array_equal(r[i][k], expected[f"{name}/{k}"][i]), (name, direct, k, i)
            b = r.read_batch(range(len(r)))
            assert np.array_equal(b["rgb"], expected[f"{name}/rgb"])
            r.close()
    # a plain reader gets the residuals of these: the reason for schema 3 and `synth migrate`
    import hdf5plugin  # noqa: F401

    with h5py.File(DATA / f"{OLD[0]}.h5", "r") as f:
        assert not np.array_equal(f["rgb"][...], expected[f"{OLD[0]}/rgb"])


def _old_run(folder: Path) -> None:
    """A run folder of the two schema-2 fixture shards (as samples 0-5 and 6-11 of a 12-sample run)."""
    folder.mkdir()
    recs = []
    for k, name in enumerate(OLD):
        dest = folder / f"shard-{k:05d}.h5"
        shutil.copyfile(DATA / f"{name}.h5", dest)
        with h5py.File(dest, "a") as f:  # the fixtures both hold indices 0-5; make them consecutive shards
            f.attrs.update(shard_index=k, index_start=6 * k, index_stop=6 * k + 6)
        recs.append({"shard": k, "file": dest.name, "start": 6 * k, "stop": 6 * k + 6, "count": 6,
                     "bytes": dest.stat().st_size, "sha256": sha256_file(dest)})
    write_manifest(folder, {"format": "headpose-synth-run", "schema_version": 2, "n": 12, "n_shards": 2,
                            "shards": recs, "complete": True, "config_hash": "fixture"})


def _synth(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth.cli", *args], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_inspect_flags_old_shards_and_migrate_makes_them_portable(tmp_path):
    run = tmp_path / "run"
    _old_run(run)
    expected = np.load(DATA / "schema2-expected.npz")
    shown = _synth("inspect", str(run))
    assert shown.returncode == 0, shown.stderr
    assert "NOT PORTABLE: 2 of 2 shards" in shown.stdout and f"synth migrate {run}" in shown.stdout
    done = _synth("migrate", str(run))
    assert done.returncode == 0, done.stderr
    assert "2 shards migrated now" in done.stdout and "schema 2 -> 3, verified" in done.stdout
    m = read_manifest(run)
    assert m["schema_version"] == SCHEMA_VERSION and [e["migrated_from"] for e in m["shards"]] == [2, 2]
    ds = open_dataset(run)
    ds.validate(checksums=True)  # the manifest's bytes and sha256 follow the rewritten files
    for k, name in enumerate(OLD):
        r = ds.shards[k]
        assert r.version == SCHEMA_VERSION and r.portable and r.attrs["migrated_from"] == 2
        assert r.mask_from_depth == (name == "schema2-derived-mask")
        for i in range(6):
            for f in r.fields:
                assert np.array_equal(r[i][f], expected[f"{name}/{f}"][i]), (name, f, i)
        got, errors = _plain_read(run / f"shard-{k:05d}.h5", tmp_path / f"plain{k}.npz")
        assert errors == {}
        _check_same(r, got)
    ds.close()
    shown = _synth("inspect", str(run))
    assert shown.returncode == 0 and "NOT PORTABLE" not in shown.stdout
    again = _synth("migrate", str(run))
    assert again.returncode == 0 and "0 shards migrated now, 2 already current" in again.stdout
    assert not [p for p in run.iterdir() if ".migrating-" in p.name or ".tmp-" in p.name]


def test_migrate_resumes_after_an_interruption_and_never_half_writes(tmp_path, monkeypatch):
    from synth import migrate

    run = tmp_path / "run"
    _old_run(run)
    before = {p.name: p.read_bytes() for p in run.glob("shard-*.h5")}
    # a copy that does not verify: the shard stays as it was, no temporary file is left
    monkeypatch.setattr(migrate, "_same", lambda a, b: False)
    with pytest.raises(ShardError, match=r"shard-00000\.h5: the migrated copy does not verify.*left as it was"):
        migrate.migrate_run(run, log=lambda m: None)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in run.glob("shard-*.h5")} == before and len(list(run.iterdir())) == 3
    # killed between renaming shard 0 into place and recording it, with a half-written copy lying about
    calls = []

    def dies_after_the_rename(folder, manifest):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(migrate, "write_manifest", dies_after_the_rename)
    with pytest.raises(KeyboardInterrupt):
        migrate.migrate_run(run, log=lambda m: None)
    monkeypatch.undo()
    assert len(calls) == 1 and migrate.shard_version(run / "shard-00000.h5") == (3, True)
    (run / "shard-00001.h5.migrating-deadbeef").write_bytes(b"half")
    res = migrate.migrate_run(run, log=lambda m: None)
    assert res.rerecorded == ["shard-00000.h5"] and res.migrated == ["shard-00001.h5"]
    open_dataset(run).validate(checksums=True)
    assert not (run / "shard-00001.h5.migrating-deadbeef").exists()
    # another migrate on the folder: refused
    held = migrate._lock(run)
    try:
        with pytest.raises(ShardError, match="another `synth migrate` is working on it"):
            migrate.migrate_run(run, log=lambda m: None)
    finally:
        os.close(held)
    # a render writing into the folder: refused, exit 2, nothing touched
    (run / "shard-00002.h5.tmp-0123456789ab").write_bytes(b"")
    done = _synth("migrate", str(run))
    assert done.returncode == 2 and "temporary files of a `synth render`" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = _synth("migrate", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and "no such folder; fix:" in done.stderr
