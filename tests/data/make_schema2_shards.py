"""Writes the schema-2 shards in this folder with the code of commit e1a22c8 (the last to write schema 2).

    git archive e1a22c8 | tar -x -C /tmp/base      # plus its built synth/_vdelta*.so
    PYTHONPATH=/tmp/base python tests/data/make_schema2_shards.py

``schema2-derived-mask.h5``: 6 rendered sphere-head samples at 32x32 with noisy depth (rgb row delta
outside the HDF5 filters, mask derived from depth). ``schema2-stored-mask.h5``: the same samples with
sample 0's mask cleared, so the mask is stored. ``schema2-expected.npz``: every image field of both,
as that code's ShardReader decoded them (``<file stem>/<field>``), the truth the tests compare with.
"""
from pathlib import Path

import numpy as np

import synth.shards as shards
from synth.config import load_config
from synth.runner import make_sample, sphere_sample_maker

HERE = Path(__file__).resolve().parent
assert shards.SCHEMA_VERSION == 2, "run with PYTHONPATH at a checkout of e1a22c8"
cfg = load_config(None, overrides=["heads.pool_size=2", "output.width=32", "output.height=32", "depth.noise=true",
                                   "effects.noise.probability=0.5"])
maker = sphere_sample_maker(cfg, 0)
samples = [make_sample(maker, cfg, i) for i in range(6)]
maker.close()
attrs = dict(config_json="{}", config_hash="fixture", code_version=shards.code_version(), renderer_name="fixture",
             renderer_version="0", created="2026-12-05T00:00:00+00:00", shard_index=0, index_start=0, index_stop=6)
stored = [dict(s) for s in samples]
stored[0]["mask"] = np.zeros_like(stored[0]["mask"])
expected = {}
for name, batch in (("schema2-derived-mask", samples), ("schema2-stored-mask", stored)):
    shards.write_shard(HERE / f"{name}.h5", batch, attrs)
    r = shards.ShardReader(HERE / f"{name}.h5")
    for i in range(len(r)):
        for k, v in r.sample(i, params=False).items():
            expected.setdefault(f"{name}/{k}", []).append(v)
    r.close()
np.savez_compressed(HERE / "schema2-expected.npz", **{k: np.stack(v) for k, v in expected.items()})
