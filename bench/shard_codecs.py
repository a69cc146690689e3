"""Storage options for the shards' ``rgb``, compared on real renders: size, write cost, read speed,
and whether a plain ``h5py`` + ``hdf5plugin`` reader decodes the true pixels.

    .venv/bin/python bench/shard_codecs.py [--n 200] [--size 256] [--pool 10] [--rounds 3] [--cache FILE.npz]

Renders ``--n`` samples with the default pipeline (``pipeline.yaml``: MakeHuman heads, half with
sensor noise, blur, noise/solid backgrounds) once (``--cache`` keeps them for the next run), then
writes their rgb as one (N, H, W, 3) dataset with per-sample chunks under each option and reads
it back. Figures, median over ``--rounds`` (the options run interleaved, so a burst of load from
other processes hits them alike):

* KB/sample: the rgb dataset's stored chunk bytes / N (the rest of a shard -- depth, labels,
  params -- is the same under every option);
* write ms: thread CPU time per sample of encoding + handing the chunk to HDF5;
* reads/s/core: shuffled single-sample reads (one pinned core, thread time) through the fastest
  path the project's reader could take for that option (chunk bytes by ``os.preadv`` at offsets
  listed once, decoded in process) and, for outside readers, through h5py's filter pipeline;
* plain h5py: does a fresh interpreter that never imports synth, with only ``h5py`` +
  ``hdf5plugin``, read the true pixels, something else, or fail loudly -- with the synth-vdelta
  plugin folder on ``HDF5_PLUGIN_PATH`` and, where that differs, without it.

The Blosc2 rows that code the residual with ``python-blosc2`` need that package (not a project
dependency: it pulls an HTTP client stack); without it they are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def render(n: int, size: int, pool: int, cache: Path | None) -> np.ndarray:
    """(n, size, size, 3) uint8 rgb of samples 0..n-1 of the default pipeline."""
    if cache is not None and cache.is_file():
        rgb = np.load(cache)["rgb"]
        if rgb.shape == (n, size, size, 3):
            return rgb
    from synth.config import load_config
    from synth.runner import make_sample, make_sample_maker

    cfg = load_config(REPO / "pipeline.yaml", overrides=[f"output.width={size}", f"output.height={size}",
                                                        f"heads.pool_size={pool}"])
    maker = make_sample_maker(cfg, 0)
    try:
        rgb = np.stack([make_sample(maker, cfg, i)["rgb"] for i in range(n)])
    finally:
        maker.close()
    if cache is not None:
        np.savez(cache, rgb=rgb)
    return rgb


def _vdelta(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    out[:1] = a[:1]
    np.subtract(a[1:], a[:-1], out=out[1:])
    return out


class Option:
    """One way to store rgb: ``create`` the dataset, ``put`` sample i, ``decoder`` for direct reads."""

    name = ""
    portable = ""  # filled in by the plain-h5py check

    def create(self, f, shape):
        raise NotImplementedError

    def put(self, ds, i, a):
        raise NotImplementedError

    def decoder(self, shape):
        """fn(packed bytes) -> decoded (H, W, 3) array; None when the project would read through HDF5."""
        return None


class ZstdVdelta(Option):
    """zstd-1 frames (content size + checksum, min match 7) of the vdelta residual, direct chunk writes."""

    def __init__(self, filter_first: bool):
        import zstandard

        self.filter_first = filter_first
        self.name = ("synth-vdelta filter + zstd-1 (schema 3)" if filter_first
                     else "zstd-1 over vdelta bytes (schema 2)")
        self.zstd = zstandard
        self.buf = None

    def create(self, f, shape):
        import h5py

        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        if self.filter_first:
            from synth import h5plugin

            dcpl.set_filter(h5plugin.VDELTA_FILTER_ID, h5py.h5z.FLAG_OPTIONAL, (shape[2] * shape[3],))
        dcpl.set_filter(32015, h5py.h5z.FLAG_OPTIONAL, (1,))
        params = self.zstd.ZstdCompressionParameters.from_level(1, source_size=int(np.prod(shape[1:])), min_match=7,
                                                                write_content_size=True, write_checksum=True)
        self.cz = self.zstd.ZstdCompressor(compression_params=params)
        self.buf = np.empty(shape[1:], np.uint8)
        return f.create_dataset("rgb", shape=shape, dtype=np.uint8, chunks=(1,) + shape[1:], dcpl=dcpl)

    def put(self, ds, i, a):
        ds.id.write_direct_chunk((i, 0, 0, 0), self.cz.compress(_vdelta(a, self.buf)))

    def decoder(self, shape):
        from synth.shards import _vdelta_decode_into

        dz = self.zstd.ZstdDecompressor()
        scratch = np.empty(shape, np.uint8)

        def dec(packed):
            out = np.empty(shape, np.uint8)
            return _vdelta_decode_into(np.frombuffer(dz.decompress(packed), np.uint8).reshape(shape), out, scratch)
        return dec


class PlainZstd(Option):
    """zstd-1 of the pixels themselves (stock filter, no predictor), direct chunk writes."""

    name = "zstd-1, no predictor"

    def __init__(self):
        import zstandard

        self.zstd = zstandard

    def create(self, f, shape):
        import hdf5plugin

        self.cz = self.zstd.ZstdCompressor(level=1, write_content_size=True, write_checksum=True)
        return f.create_dataset("rgb", shape=shape, dtype=np.uint8, chunks=(1,) + shape[1:],
                                compression=hdf5plugin.Zstd(clevel=1))

    def put(self, ds, i, a):
        ds.id.write_direct_chunk((i, 0, 0, 0), self.cz.compress(a))

    def decoder(self, shape):
        dz = self.zstd.ZstdDecompressor()
        return lambda packed: np.frombuffer(dz.decompress(packed), np.uint8).reshape(shape).copy()


class Blosc2Pipeline(Option):
    """hdf5plugin's Blosc2 filter through h5py's pipeline (typesize = 1 byte: shuffle is a no-op)."""

    def __init__(self, filters: str):
        self.filters = filters
        self.name = f"Blosc2 zstd-1 {filters} via h5py pipeline"

    def create(self, f, shape):
        import hdf5plugin

        flt = getattr(hdf5plugin.Blosc2, self.filters.upper())
        return f.create_dataset("rgb", shape=shape, dtype=np.uint8, chunks=(1,) + shape[1:],
                                compression=hdf5plugin.Blosc2(cname="zstd", clevel=1, filters=flt))

    def put(self, ds, i, a):
        ds[i] = a


class Blosc2Direct(Option):
    """python-blosc2 chunks as hdf5plugin's Blosc2 filter reads them (a one-chunk super-chunk frame), with
    typesize 3 (a pixel): shuffle splits the channels, bytedelta codes each as a horizontal delta."""

    def __init__(self, clevel: int):
        import blosc2

        self.blosc2 = blosc2
        self.clevel = clevel
        self.name = f"Blosc2 zstd-{clevel} shuffle+bytedelta, ts 3 (python-blosc2)"

    def create(self, f, shape):
        import hdf5plugin

        b = self.blosc2
        self.cparams = dict(codec=b.Codec.ZSTD, clevel=self.clevel, typesize=3, nthreads=1,
                            filters=[b.Filter.SHUFFLE, b.Filter.BYTEDELTA], filters_meta=[0, 0])
        self.nbytes = int(np.prod(shape[1:]))
        return f.create_dataset("rgb", shape=shape, dtype=np.uint8, chunks=(1,) + shape[1:],
                                compression=hdf5plugin.Blosc2(cname="zstd", clevel=self.clevel))

    def put(self, ds, i, a):
        frame = self.blosc2.SChunk(chunksize=self.nbytes, data=a, cparams=self.cparams).to_cframe()
        ds.id.write_direct_chunk((i, 0, 0, 0), frame)

    def decoder(self, shape):
        b = self.blosc2

        def dec(packed):
            out = np.empty(shape, np.uint8)
            b.schunk_from_cframe(bytes(packed), copy=False).decompress_chunk(0, out)
            return out
        return dec


def options() -> list[Option]:
    opts = [ZstdVdelta(False), ZstdVdelta(True), PlainZstd(), Blosc2Pipeline("shuffle"), Blosc2Pipeline("delta")]
    try:
        import blosc2  # noqa: F401

        opts += [Blosc2Direct(1), Blosc2Direct(5)]
    except ImportError:
        print("# python-blosc2 not installed: its rows are skipped")
    return opts


def write(opt: Option, path: Path, rgb: np.ndarray) -> float:
    """Write rgb under ``opt``; thread CPU ms per sample."""
    import h5py

    with h5py.File(path, "w", libver="latest") as f:
        ds = opt.create(f, rgb.shape)
        t = time.thread_time()
        for i, a in enumerate(rgb):
            opt.put(ds, i, a)
        return 1e3 * (time.thread_time() - t) / len(rgb)


def read_rates(opt: Option, path: Path, rgb: np.ndarray) -> tuple[float | None, float]:
    """(direct reads/s, h5py pipeline reads/s) on this (pinned) core; checks every decoded sample."""
    import h5py

    n = len(rgb)
    order = np.random.default_rng(0).permutation(n).tolist()
    with h5py.File(path, "r") as f:
        ds = f["rgb"]
        table = {}
        ds.id.chunk_iter(lambda info: table.__setitem__(info.chunk_offset[0], (info.byte_offset, info.size)))
        t = time.thread_time()
        for i in order:
            ds[i]
        pipe = n / (time.thread_time() - t)  # what it decodes to is the last column's business
    dec = opt.decoder(rgb.shape[1:])
    if dec is None:
        return None, pipe
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = bytearray(max(s for _, s in table.values()))
        t = time.thread_time()
        for i in order:
            off, size = table[i]
            view = memoryview(buf)[:size]
            os.preadv(fd, [view], off)
            dec(view)
        direct = n / (time.thread_time() - t)
        for i in range(0, n, 17):
            off, size = table[i]
            view = memoryview(buf)[:size]
            os.preadv(fd, [view], off)
            assert np.array_equal(dec(view), rgb[i]), opt.name
    finally:
        os.close(fd)
    return direct, pipe


_PLAIN = """
import json, sys, h5py, hdf5plugin, numpy as np
assert not [m for m in sys.modules if m.split(".")[0] == "synth"]
want = np.load(sys.argv[2])["rgb"]
try:
    got = h5py.File(sys.argv[1], "r")["rgb"][...]
    print(json.dumps("true pixels" if np.array_equal(got, want) else
                     f"WRONG pixels (mean {got.mean():.1f}, true {want.mean():.1f})"))
except Exception as exc:
    print(json.dumps(f"fails loudly ({type(exc).__name__})"))
"""


def plain_h5py(path: Path, truth: Path) -> str:
    """What a fresh interpreter without synth reads: with the synth-vdelta plugin on HDF5_PLUGIN_PATH, and
    (when that differs) without it."""
    from synth import h5plugin

    def run(plugin: bool) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HDF5_PLUGIN_PATH")}
        if plugin:
            env["HDF5_PLUGIN_PATH"] = str(h5plugin.PLUGIN_PATH)
        out = subprocess.run([sys.executable, "-I", "-c", _PLAIN, str(path), str(truth)], env=env, cwd="/",
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    with_plugin, without = run(True), run(False)
    return with_plugin if with_plugin == without else f"{with_plugin}; without the plugin: {without}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--pool", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cache", type=Path, default=None, help="npz of the rendered rgb (made when absent)")
    args = p.parse_args()
    import hdf5plugin  # noqa: F401  (registers zstd and Blosc2 with h5py)

    import synth.h5plugin  # noqa: F401  (registers synth-vdelta with h5py)

    rgb = render(args.n, args.size, args.pool, args.cache)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    except (AttributeError, OSError):
        pass
    opts = options()
    figures = {o.name: [] for o in opts}
    with tempfile.TemporaryDirectory(prefix="bench-codecs-") as tmp:
        truth = Path(tmp) / "truth.npz"
        np.savez(truth, rgb=rgb[:20])
        for _ in range(args.rounds):
            for k, opt in enumerate(opts):
                path = Path(tmp) / f"{k}.h5"
                w = write(opt, path, rgb)
                direct, pipe = read_rates(opt, path, rgb)
                with __import__("h5py").File(path, "r") as f:
                    stored = sum(f["rgb"].id.get_chunk_info(j).size for j in range(args.n))
                figures[opt.name].append((stored / args.n / 1024, w, direct, pipe))
        for k, opt in enumerate(opts):
            small = Path(tmp) / f"plain-{k}.h5"
            write(opt, small, rgb[:20])
            opt.portable = plain_h5py(small, truth)
    print(f"rgb of {args.n} rendered samples at {args.size}x{args.size}, median of {args.rounds} rounds, one core")
    print(f"| {'option':54s} | rgb KB/sample | write ms/sample | reads/s/core direct | reads/s/core h5py | "
          "plain h5py + hdf5plugin |")
    print(f"|{'-' * 56}|--------------:|----------------:|--------------------:|------------------:|"
          "-------------------------|")
    for opt in opts:
        kb, w, direct, pipe = (np.median([r[j] for r in figures[opt.name]]) if figures[opt.name][0][j] is not None
                               else None for j in range(4))
        print(f"| {opt.name:54s} | {kb:13.1f} | {w:15.3f} | "
              f"{f'{direct:.0f}' if direct is not None else '-':>19s} | {pipe:17.0f} | {opt.portable} |")


if __name__ == "__main__":
    main()
