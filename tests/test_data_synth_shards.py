"""The training-side shard adapter against real shards written by the real runner.

tests/test_data_readers.py isolates the adapter with a stand-in ``synth.shards``;
this test closes the loop with the real schema.
"""
from __future__ import annotations

import numpy as np

from synth.config import load_config
from synth.runner import render_run
from synth.shards import open_dataset
from train.data.crops import get_preset
from train.data.synth_shards import SynthShardReader
from train.data.transforms import hflip


def test_adapter_reads_real_shards(tmp_path):
    cfg = load_config(None, overrides=["heads.pool_size=2", "output.width=96", "output.height=96"])
    out = tmp_path / "run"
    render_run(cfg, out, 6, shard_size=4, workers=1, maker="synth.runner:sphere_sample_maker", progress=False)
    truth = open_dataset(out)
    reader = SynthShardReader(out)
    assert len(reader) == len(truth) == 6
    for i in range(6):
        s, d = reader[i], truth[i]
        assert s.image.shape == (96, 96, 3) and s.image.dtype == np.uint8
        np.testing.assert_array_equal(s.image, d["rgb"])
        np.testing.assert_array_equal(s.depth, d["depth"])
        np.testing.assert_allclose(s.rotation, d["rotation"])
        np.testing.assert_allclose(s.euler, d["euler"])
        np.testing.assert_allclose(s.bbox, d["bbox"])
    # the crop presets and the flip work on real synthetic samples too
    cropped = get_preset("c2f")(reader[0])
    assert cropped.image.shape == (256, 256, 3) and cropped.meta["depth01"].max() == 1.0
    flipped = hflip(reader[1])
    np.testing.assert_allclose(flipped.euler[[1, 2]], -reader[1].euler[[1, 2]], atol=1e-4)
