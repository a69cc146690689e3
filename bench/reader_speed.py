"""Reader throughput per dataset (samples/s on one core, read + decode + crop preset).

    python bench/reader_speed.py [--seconds 2] [--realdata ../shared/realdata]

Runs each reader with its usual crop preset on the real samples in
``../shared/realdata`` (when present; HEADPOSE_REALDATA overrides) and on
self-made fixtures in the real formats (tests/fixtures_real.py). The synth
rows read a real shard (``synth.shards`` writer, 64 rendered sphere-head
samples at 256x256 with the default pipeline's effects), once without a crop
("none": the shard reader + ``Sample`` alone) and once with the c2f preset;
where rendering is not possible they fall back to a hand-made file read
through the h5py shim. Single process, so the figure is per core. Prints one
line per (data, reader, preset).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import fixtures_real as fx  # noqa: E402

from train.data.aflw import AFLW2000Reader, Pose300WLPReader  # noqa: E402
from train.data.biwi import BIWIReader  # noqa: E402
from train.data.crops import get_preset  # noqa: E402
from train.data.panoptic import PanopticReader  # noqa: E402
from train.data.pointing04 import Pointing04Reader  # noqa: E402
from train.data.synth_shards import SynthShardReader  # noqa: E402


def render_synth_shard(path: Path, n: int = 64, size: int = 256) -> bool:
    """Write ``n`` rendered samples (sphere heads, real renderer + effects) as one real shard; False if impossible."""
    try:
        from synth.config import load_config
        from synth.runner import make_sample, sphere_sample_maker
        from synth.shards import code_version, now_iso, write_shard

        cfg = load_config(REPO / "pipeline.yaml", overrides=[f"output.width={size}", f"output.height={size}",
                                                            "heads.pool_size=4"])
        maker = sphere_sample_maker(cfg, 0)
        try:
            samples = [make_sample(maker, cfg, i) for i in range(n)]
        finally:
            maker.close()
        attrs = dict(config_json="{}", config_hash="bench", code_version=code_version(), renderer_name="bench",
                     renderer_version="-", created=now_iso(), shard_index=0, index_start=0, index_stop=n)
        write_shard(path, samples, attrs)
        return True
    except Exception as exc:  # no GL context, no hdf5plugin, ...: fall back to the shim
        print(f"# cannot render a real synth shard ({type(exc).__name__}: {exc}); using the h5py shim")
        return False


def measure(reader, preset_name: str, seconds: float) -> tuple[float, int]:
    """Samples/s of ``preset(reader[i])`` cycling over the reader for about ``seconds`` ("none": no preset)."""
    preset = (lambda s, rng: s) if preset_name == "none" else get_preset(preset_name)
    rng = np.random.default_rng(0)
    preset(reader[0], rng)  # warm-up (imports, caches)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        preset(reader[n % len(reader)], rng)
        n += 1
    return n / (time.perf_counter() - t0), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--realdata", type=Path, default=Path(os.environ.get("HEADPOSE_REALDATA", REPO.parent / "shared" / "realdata")))
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    rows = []
    real = args.realdata
    if real.is_dir():
        rows += [
            ("real", "aflw2000", lambda: AFLW2000Reader(real / "aflw2000-dev"), "hopenet_test"),
            ("real", "300wlp", lambda: Pose300WLPReader(real / "300wlp-sample"), "hopenet_train"),
            ("real", "biwi (rgb+depth)", lambda: BIWIReader(real / "biwi-sample"), "hopenet_test"),
            ("real", "biwi (rgb+depth)", lambda: BIWIReader(real / "biwi-sample"), "c2f"),
            ("real", "panoptic 1920x1080", lambda: PanopticReader(real / "panoptic-sample"), "hopenet_test"),
        ]
    else:
        print(f"# real samples not found at {real}; fixtures only")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fx.make_mat_dataset(tmp / "A", "aflw2000", size=450)
        fx.make_mat_dataset(tmp / "L", "300wlp", size=450)
        fx.make_biwi(tmp / "B")
        fx.make_pointing04(tmp / "P")
        (tmp / "S").mkdir()
        real_shard = render_synth_shard(tmp / "S" / "s0.h5")
        if real_shard:
            rows += [("synth", "shard 256px", lambda: SynthShardReader(tmp / "S" / "s0.h5"), p) for p in ("none", "c2f")]
            shim = False
        else:
            fx.make_shard_h5(tmp / "S" / "s0.h5", n=16, size=256)
            shim = fx.install_fake_shards()
        rows += [
            ("fixture", "aflw2000 450px", lambda: AFLW2000Reader(tmp / "A"), "hopenet_test"),
            ("fixture", "300wlp 450px", lambda: Pose300WLPReader(tmp / "L"), "fsanet"),
            ("fixture", "biwi (rgb+depth)", lambda: BIWIReader(tmp / "B"), "ehpnet"),
            ("fixture", "pointing04 384x288", lambda: Pointing04Reader(tmp / "P"), "hopenet_test"),
        ]
        if not real_shard:
            rows.append(("fixture", f"synth 256px{' (h5py shim)' if shim else ''}", lambda: SynthShardReader(tmp / "S"),
                         "c2f"))
        print(f"{'data':8s} {'reader':26s} {'preset':14s} {'samples/s/core':>15s} {'n':>6s}")
        for data, name, make, preset in rows:
            rate, n = measure(make(), preset, args.seconds)
            print(f"{data:8s} {name:26s} {preset:14s} {rate:15.1f} {n:6d}")


if __name__ == "__main__":
    main()
