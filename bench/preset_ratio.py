"""What a preset costs against another: the ratio of their throughputs, measured so that this
machine's drift cancels.

    .venv/bin/python bench/preset_ratio.py [--preset faces] [--against default] [--n 600]
                                           [--runs 0] [--run-n 1200] [--set KEY=VALUE ...]
                                           [--against-set KEY=VALUE ...]

``--set`` / ``--against-set`` override config keys of either side, so one preset can be
measured against itself with a setting changed (what a feature costs):
``--preset faces --against faces --against-set background.share=1``.

This machine's speed drifts by +-20 % within seconds, as much as a realism feature costs,
so the absolute samples/s of `bench/render_throughput.py`, or two runs taken one after the
other, cannot say whether a preset meets a bar set on another day. Two figures:

* interleaved CPU (the one to quote): both presets' sample makers in this process, one
  sample of each in turn (which goes first alternates), each timed over its whole path
  (``SampleMaker.make`` + the shard append, thread CPU time with ``LP_NUM_THREADS=0`` as in
  a Ray actor), after a warm-up pass over the same heads. A drift slower than a sample pair
  hits both alike. The throughput ratio is the inverse ratio of CPU ms per sample, printed
  per block of samples and over all of them.
* ``--runs K``: K rounds of `synth.runner.render_run` with 2 workers for each preset, one
  right after the other (the order alternates); the ratio of their steady throughput (2 x the
  median per-shard rate, as `bench/render_throughput.py` takes it). Through Ray, whole runs:
  what the bar names, but runs tens of seconds apart still differ by the drift (0.40-0.67 over
  8 rounds on 2026-12-07).

The bar of the issues "People" and "Scenes" (>= 250 samples/s for the faces preset with 2
workers, set when the default preset gave 444 on the machine of the day) is printed as the
ratio it meant, 250 / 444 = 0.563.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as Ray gives each actor
os.environ.setdefault("LP_NUM_THREADS", "0")   # as synth.ray_pool gives each actor: GL in this thread
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: the faces preset's bar (samples/s, 2 workers) and the default preset's throughput when it was set
BAR_SAMPLES_S, DEFAULT_THEN = 250.0, 444.0


def _cfg(preset: str | None, args, sets=()):
    from synth.config import load_config

    root = Path(__file__).resolve().parents[1]
    return load_config(root / "pipeline.yaml", preset=preset,
                       overrides=[f"output.width={args.size}", f"output.height={args.size}",
                                  f"heads.pool_size={args.pool}", *sets])


def interleaved_cpu(cfgs: dict, args, tmp: Path) -> dict[str, list[float]]:
    """{key: [CPU s of each sample's make + shard append]} for each of ``cfgs`` ({key: resolved
    config}), their samples made one of each in turn in this process (see the module doc)."""
    from synth.runner import DEFAULT_MAKER, resolve_maker
    from synth.shards import ShardWriter, now_iso

    makers = {k: resolve_maker(DEFAULT_MAKER)(cfg, 0) for k, cfg in cfgs.items()}
    for m in makers.values():   # warm-up: each head's uploads, cut-out classes and levels of detail
        for i in range(args.warm):
            m.make(i)
    attrs = {"config_json": "{}", "config_hash": "-", "code_version": "-", "renderer_name": "-",
             "renderer_version": "-", "created": now_iso(), "shard_index": 0, "index_start": 0, "index_stop": args.n}
    writers = {k: ShardWriter(tmp / f"{k}.h5", args.n, attrs) for k in makers}
    cpu: dict[str, list[float]] = {k: [] for k in makers}
    keys = list(makers)
    for i in range(args.n):
        for k in keys if i % 2 == 0 else keys[::-1]:
            t = time.thread_time()
            writers[k].append(makers[k].make(args.warm + i))
            cpu[k].append(time.thread_time() - t)
    for k, w in writers.items():
        w.close()
        makers[k].close()
    return cpu


def steady_rate(cfg, args, out: Path) -> float:
    """2-worker steady samples/s of a resolved config: 2 x the median shard rate."""
    from synth.runner import render_run

    res = render_run(cfg, out, args.run_n, shard_size=args.shard_size, workers=2, progress=False,
                     log=lambda m: None)
    per = sorted(r["count"] / r["seconds"] for r in res.manifest["shards"])
    return 2.0 * per[len(per) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="faces")
    p.add_argument("--against", default="default", help="the reference preset ('default': no preset)")
    p.add_argument("--n", type=int, default=600, help="samples of each preset, interleaved in this process")
    p.add_argument("--warm", type=int, default=100, help="warm-up samples of each preset (not timed)")
    p.add_argument("--block", type=int, default=100, help="samples per block of the per-block ratios")
    p.add_argument("--runs", type=int, default=0, help="rounds of 2-worker render runs (0: none)")
    p.add_argument("--run-n", type=int, default=1200, help="samples per render run")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--pool", type=int, default=10, help="identities (bench/render_throughput.py's module doc)")
    p.add_argument("--shard-size", type=int, default=100)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override of --preset")
    p.add_argument("--against-set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override of --against")
    args = p.parse_args()
    for name in ("n", "block", "run_n", "shard_size", "pool", "size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warm < 0 or args.runs < 0:
        p.error("--warm and --runs must be >= 0")
    sides = {"a": (args.preset, args.set), "b": (args.against, args.against_set)}  # (preset, overrides)
    names = {k: " ".join([preset, *sets]) for k, (preset, sets) in sides.items()}
    bar = BAR_SAMPLES_S / DEFAULT_THEN
    from synth.config import ConfigError

    try:   # a wrong name stops here, before any head bank is built
        cfgs = {k: _cfg(None if preset == "default" else preset, args, sets) for k, (preset, sets) in sides.items()}
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    tmp = Path(tempfile.mkdtemp(prefix="preset-ratio-"))
    try:
        cpu = interleaved_cpu(cfgs, args, tmp)
        a, b = cpu["a"], cpu["b"]
        blocks = [sum(b[j:j + args.block]) / sum(a[j:j + args.block]) for j in range(0, args.n, args.block)]
        print(f"interleaved CPU, {args.n} samples each: {names['a']} {1e3 * sum(a) / len(a):.2f} ms, "
              f"{names['b']} {1e3 * sum(b) / len(b):.2f} ms a sample; throughput ratio {sum(b) / sum(a):.3f} "
              f"(per block of {args.block}: {', '.join(f'{r:.3f}' for r in blocks)})", flush=True)
        ratios = []
        for r in range(args.runs):
            rate = {}
            for k in ("a", "b") if r % 2 == 0 else ("b", "a"):
                rate[k] = steady_rate(cfgs[k], args, tmp / f"{r}-{k}")
                shutil.rmtree(tmp / f"{r}-{k}")
            ratios.append(rate["a"] / rate["b"])
            print(f"run round {r + 1}: {names['a']} {rate['a']:.0f}, {names['b']} {rate['b']:.0f} samples/s "
                  f"steady with 2 workers; ratio {ratios[-1]:.3f}", flush=True)
        if ratios:
            print(f"2-worker runs: median ratio {statistics.median(ratios):.3f} over {len(ratios)} rounds "
                  f"(range {min(ratios):.3f}-{max(ratios):.3f})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"the bar: >= {BAR_SAMPLES_S:.0f} samples/s when the default gave {DEFAULT_THEN:.0f}, a ratio of {bar:.3f}")


if __name__ == "__main__":
    main()
