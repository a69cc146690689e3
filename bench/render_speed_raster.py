"""Frames/s of the moderngl rasteriser (synth.render.gl) for OSMesa and EGL.

For each backend x frame size x process count, every worker (multiprocessing,
spawn) builds one GLRenderer, uploads the sphere test head (14,365 vertices,
27,888 triangles, 512^2 checker texture), warms up, waits on a barrier, then
renders ``--frames`` frames with a random rotation (+-40 deg yaw, +-25 pitch,
+-15 roll) and random light per frame. Two timings per worker:

* raster: ``GLRenderer.rasterize`` -- solid background + head, read back RGB and z;
* render: ``GLRenderer.render`` -- the full output dict with a noise background
  (new seed per frame), range, mask, landmarks, visibility and bbox.

Totals are frames / slowest worker's wall time. "render CPU ms" is CPU time
per full render summed over the worker's threads (llvmpipe uses 2) -- robust
to other load on a shared machine: n_cores * 1000 / cpu_ms bounds the
throughput. Peak RSS is per worker (``ru_maxrss``). The head fills ~35 % of the frame width, like a face crop.

usage: python bench/render_speed_raster.py [--frames 300] [--backends osmesa egl]
                                           [--sizes 256x256 640x480] [--procs 1 2] [--repeat 1]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _specs(n: int, width: int, height: int, seed: int):
    import numpy as np
    from scipy.spatial.transform import Rotation

    from synth.scene import Background, Camera, HeadInstance, Light, SceneSpec

    f = 2.35 * min(width, height)
    cam = Camera(width, height, f, f, width / 2, height / 2)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        ypr = rng.uniform([-40, -25, -15], [40, 25, 15])
        rot = Rotation.from_euler("YXZ", ypr, degrees=True).as_matrix()
        t = np.array([rng.uniform(-10, 10), rng.uniform(-10, 10), 600.0])
        d = rng.normal(size=3)
        d[2] = -abs(d[2]) - 0.5
        light = Light(d / np.linalg.norm(d), rng.uniform(0.3, 1.2), np.ones(3), rng.uniform(0.2, 0.5))
        bg = Background("noise", rng.uniform(0.2, 0.8, 3), seed=int(rng.integers(1 << 31)))
        out.append(SceneSpec(i, seed, cam, HeadInstance(0, rot, t), light, bg))
    return out


def _worker(backend, width, height, frames, seed, barrier, queue):
    try:
        from synth.render.gl import GLRenderer
        from synth.render.testmeshes import sphere_head

        r = GLRenderer(backend)
        head = sphere_head(90.0)
        specs = _specs(frames, width, height, seed)
        for s in specs[:20]:  # warm-up: upload, shader JIT
            r.render(s, head)
            r.rasterize(s, head, width, height, background=False)
        barrier.wait()
        t0 = time.perf_counter()
        for s in specs:
            r.rasterize(s, head, width, height, background=False)
        t_raster = time.perf_counter() - t0
        barrier.wait()
        t0, c0 = time.perf_counter(), time.process_time()
        for s in specs:
            r.render(s, head)
        t_render = time.perf_counter() - t0
        cpu_ms = (time.process_time() - c0) / frames * 1e3  # all threads of this process
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        queue.put(("ok", t_raster, t_render, rss_mb, r.version, cpu_ms))
        r.close()
    except Exception as exc:  # report, and release the others from the barrier
        barrier.abort()
        queue.put(("error", repr(exc)))


def run(backend: str, width: int, height: int, procs: int, frames: int):
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(backend, width, height, frames, 1000 + i, barrier, queue))
          for i in range(procs)]
    for p in ps:
        p.start()
    results = [queue.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    errors = [r[1] for r in results if r[0] != "ok"]
    if errors:
        return {"error": errors[0]}
    return {
        "raster_fps": procs * frames / max(r[1] for r in results),
        "render_fps": procs * frames / max(r[2] for r in results),
        "rss_mb": max(r[3] for r in results),
        "cpu_ms": sum(r[5] for r in results) / len(results),
        "version": results[0][4],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--backends", nargs="+", default=["osmesa", "egl"])
    ap.add_argument("--sizes", nargs="+", default=["256x256", "640x480"])
    ap.add_argument("--procs", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each configuration this many times and keep the best (noisy shared machines)")
    args = ap.parse_args(argv)
    print(f"sphere head 14,365 vertices / 27,888 triangles, 512^2 texture; {args.frames} frames "
          f"per process; cpu count {os.cpu_count()}")
    print(f"{'backend':8} {'size':>8} {'procs':>5} {'raster fps':>11} {'render fps':>11} {'render CPU ms':>14} {'peak RSS/proc':>14}")
    versions = set()
    for backend in args.backends:
        for size in args.sizes:
            w, h = (int(x) for x in size.split("x"))
            for n in args.procs:
                runs = [run(backend, w, h, n, args.frames) for _ in range(args.repeat)]
                ok = [r for r in runs if "error" not in r]
                res = max(ok, key=lambda r: r["render_fps"]) if ok else runs[0]
                if ok:
                    res = dict(res, raster_fps=max(r["raster_fps"] for r in ok),
                               cpu_ms=min(r["cpu_ms"] for r in ok))
                if "error" in res:
                    print(f"{backend:8} {size:>8} {n:>5}  unavailable: {res['error']}")
                    continue
                versions.add(res["version"])
                print(f"{backend:8} {size:>8} {n:>5} {res['raster_fps']:11.0f} {res['render_fps']:11.0f} "
                      f"{res['cpu_ms']:14.2f} {res['rss_mb']:11.0f} MB", flush=True)
    for v in sorted(versions):
        print("version:", v)


if __name__ == "__main__":
    main()
