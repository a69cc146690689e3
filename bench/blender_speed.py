"""Blender Cycles speed at 256^2 and a contact sheet comparing it with the rasterizer.

    .venv/bin/python bench/blender_speed.py --n 8 --samples 16 --out blender_vs_gl.png
    .venv/bin/python bench/blender_speed.py --preset faces --bald --n 4 --out faces_vs_gl.png

Scenes are the default pipeline's (``pipeline.yaml``, MakeHuman heads, crop
mode 256 x 256; ``--preset`` and ``--set`` overrides apply). Each spec is rendered by both
backends; the Cycles timing per image is printed (wall and process CPU
seconds, the latter including Cycles' worker threads) for two framings:

* ``native``: the pipeline default, the head rasterised at the emulated
  sensor resolution (``render_scale`` < 1) and resampled to 256^2;
* ``full``: rendered straight at 256^2 (``sensor.emulate_native_resolution=false``).

The contact sheet (``--out``) has one row per spec: rasterizer | Cycles (native
framing, before post-render effects), with the mask IoU between them in the
caption. Timings exclude each renderer's first frame (scene setup, kernel
load) and the head-bank build.

``--bald`` (for presets that dress people, e.g. ``faces``): each native spec is
also rendered with the same identity bald and unclothed (``heads.outfit`` off:
no hair, body, clothes, hat, lashes or teeth), interleaved with the dressed
render in alternating order in one process, and both timings and their
per-pair ratio are printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _timed_renders(renderer, specs, bank):
    """[(output, wall s, cpu s)] per spec."""
    out = []
    for spec in specs:
        head = bank.get(spec.head.identity)
        t, c = time.perf_counter(), time.process_time()
        o = renderer.render(spec, head)
        out.append((o, time.perf_counter() - t, time.process_time() - c))
    return out


def _paired_bald(renderer, specs, bank, bald_bank):
    """(dressed wall s, bald wall s, dressed CPU s, bald CPU s) arrays per spec, renders interleaved
    (order alternating per spec, so drift in machine load hits both alike)."""
    times = {True: [], False: []}
    for k, spec in enumerate(specs):
        for dressed in ((True, False) if k % 2 == 0 else (False, True)):
            head = (bank if dressed else bald_bank).get(spec.head.identity)
            t, c = time.perf_counter(), time.process_time()
            renderer.render(spec, head)
            times[dressed].append((time.perf_counter() - t, time.process_time() - c))
    d, b = np.array(times[True]), np.array(times[False])
    return d[:, 0], b[:, 0], d[:, 1], b[:, 1]


def _sheet(rows, tile: int):
    from PIL import Image, ImageDraw

    pad = 18
    sheet = Image.new("RGB", (2 * tile, len(rows) * (tile + pad) + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 3), "rasterizer (gl)", fill=(0, 0, 0))
    draw.text((tile + 4, 3), "Cycles (blender)", fill=(0, 0, 0))
    for r, (gl_rgb, bl_rgb, caption) in enumerate(rows):
        y = pad + r * (tile + pad)
        for c, img in enumerate((gl_rgb, bl_rgb)):
            sheet.paste(Image.fromarray(img).resize((tile, tile), Image.BILINEAR), (c * tile, y))
        draw.text((4, y + tile + 3), caption, fill=(0, 0, 0))
    return sheet


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=8, help="scenes (default 8)")
    ap.add_argument("--samples", default="16", help="Cycles samples per pixel, comma-separated (default 16)")
    ap.add_argument("--no-denoise", action="store_true", help="switch OpenImageDenoise off")
    ap.add_argument("--pool", type=int, default=8, help="head identities (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="Cycles threads (0 = all cores)")
    ap.add_argument("--preset", default=None, help="pipeline.yaml preset (e.g. faces)")
    ap.add_argument("--bald", action="store_true",
                    help="also time each spec's identity bald and unclothed (heads.outfit off), paired")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", default="blender_vs_gl.png", help="contact sheet PNG")
    ap.add_argument("--tile", type=int, default=256)
    args = ap.parse_args(argv)

    import dataclasses

    from synth.config import load_config
    from synth.heads.wardrobe import OutfitSettings
    from synth.pipeline import build_head_bank
    from synth.render.blender import BlenderRenderer
    from synth.render.gl import GLRenderer
    from synth.sampling import sample_scene

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    overrides = [f"heads.pool_size={args.pool}", f"seed={args.seed}", *args.overrides]
    config = os.path.join(root, "pipeline.yaml")
    cfgs = {"native": load_config(config, preset=args.preset, overrides=overrides),
            "full": load_config(config, preset=args.preset,
                                overrides=[*overrides, "sensor.emulate_native_resolution=false"])}
    t0 = time.perf_counter()
    bank = build_head_bank(cfgs["native"], args.seed)
    print(f"head bank: {args.pool} identities in {time.perf_counter() - t0:.1f} s")
    bald_bank = None
    if args.bald:
        if cfgs["native"].heads.outfit == OutfitSettings():
            ap.error("--bald compares with dressed people: use a preset that dresses them (--preset faces)")
        c = cfgs["native"]
        bald_bank = build_head_bank(dataclasses.replace(c, heads=dataclasses.replace(c.heads, outfit=OutfitSettings())),
                                    args.seed)
    gl = GLRenderer()
    sheet_rows = None
    for spp in [int(s) for s in args.samples.split(",")]:
        r = BlenderRenderer(samples=spp, denoise=not args.no_denoise, threads=args.threads)
        print(f"{r.version}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
        for framing, cfg in cfgs.items():
            specs = [sample_scene(cfg, args.seed, i) for i in range(args.n + 1)]
            _timed_renders(r, specs[:1], bank)  # warm-up: kernels, textures, BVH
            res = _timed_renders(r, specs[1:], bank)
            wall = np.array([w for _, w, _ in res])
            cpu = np.array([c for _, _, c in res])
            scale = np.mean([s.render_scale for s in specs[1:]])
            print(f"  {framing:6s} {cfg.output.width}x{cfg.output.height} (mean render_scale {scale:.2f}): "
                  f"{wall.mean():.2f} s/image wall (median {np.median(wall):.2f}), "
                  f"{cpu.mean():.2f} CPU-s/image, {spp} spp")
            if framing == "native" and bald_bank is not None:
                _timed_renders(r, specs[:1], bald_bank)  # warm-up of the bald parts
                dw, bw, dc, bc = _paired_bald(r, specs[1:], bank, bald_bank)
                print(f"  paired, same specs: dressed {dw.mean():.2f} s/image wall ({dc.mean():.2f} CPU-s), "
                      f"bald {bw.mean():.2f} s/image wall ({bc.mean():.2f} CPU-s); dressed/bald per pair: "
                      f"median {np.median(dw / bw):.2f} wall, {np.median(dc / bc):.2f} CPU")
            if framing == "native" and sheet_rows is None:
                rows = []
                for spec, (bo, _, _) in zip(specs[1:], res):
                    go = gl.render(spec, bank.get(spec.head.identity))
                    inter = (go["mask"] & bo["mask"]).sum() / max(1, (go["mask"] | bo["mask"]).sum())
                    e = spec.light
                    rows.append((go["rgb"], bo["rgb"],
                                 f"#{spec.index} id {spec.head.identity}  light {e.color_name} x{e.intensity:.2f}  "
                                 f"mask IoU {inter:.3f}"))
                sheet_rows = rows
        r.close()
    gl.close()
    _sheet(sheet_rows, args.tile).save(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
