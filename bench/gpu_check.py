"""The GPU paths in one command: EGL raster and full pipeline, EGL vs OSMesa agreement, bf16 training,
Ray Train ``--use-gpu``, Cycles on OptiX/CUDA, peak GPU memory. Nothing is downloaded.

    .venv/bin/python bench/gpu_check.py [--quick] [--budget 470] [--json gpu_check.json] [--work DIR]

Each part runs in its own process under a time limit (no GL/CUDA/Blender state shared, and a hang
ends as "failed: timed out" instead of blocking the rest); the whole run stays within ``--budget``
seconds (default 470: under 8 minutes on one H100/H200). Parts, in order:

* probe: torch CUDA device (name, bf16), the EGL and OSMesa GL renderers (GL_RENDERER), nvidia-smi,
  whether the MakeHuman head bank is installed (else sphere heads: ``synth.runner:sphere_sample_maker``).
* data: 512 samples at 256^2 rendered in this machine's default GL context (the training data below).
* raster: EGL frames/s at 256^2 with 1, 4 and 8 processes (sum of their rates, after a warm-up pass
  over the same specs, as ``bench/render_throughput.py``); OSMesa with 1 process for reference.
* pipeline: ``synth.runner.render_run`` on EGL, 1, 4 and 8 workers: samples/s steady (workers x the
  median shard rate) and including start-up.
* agreement: the same 12 specs rendered by EGL and by OSMesa: byte-identical frames, and the mean
  absolute difference of rgb (grey levels, all pixels / head pixels), depth (mm) and mask pixels.
* train: per registered model (``--models``), bf16 autocast vs fp32 from the same initial weights on
  the same 8 real batches (batch 32, on the GPU, so the loader is not measured): training samples/s
  and the mean loss of the last 20 of ``--steps`` (300) steps; peak torch memory.
* raytrain: ``train fit --num-workers 1 --use-gpu`` for 2 short epochs (Ray Train on the GPU).
* cycles: Cycles s/image at 256^2, 16 spp + denoiser, on the CPU and on OptiX / CUDA.

Without a GPU the GPU parts say "skipped: no CUDA device" / "skipped: no EGL GPU device" and the rest
runs on the CPU (OSMesa raster, EGL-llvmpipe vs OSMesa agreement, an fp32 CPU step of the training
harness, Cycles on the CPU when bpy is installed). Exit code: 0 when every part ran or was skipped for
want of its hardware or library, 1 when any part failed or timed out (its line says which and why).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: see train/__init__.py

SIZE = 256
SETS = [f"output.width={SIZE}", f"output.height={SIZE}", "heads.pool_size=10"]
#: (part, its own time limit in seconds); the run's --budget caps the sum
PARTS = [("probe", 90), ("data", 150), ("raster", 150), ("pipeline", 240), ("agreement", 120), ("train", 240),
         ("raytrain", 180), ("cycles", 180)]
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")


# --- helpers (children) -------------------------------------------------------------------------

def _probe(work: Path) -> dict:
    return json.loads((work / "probe.json").read_text())


def _cfg(work: Path, *extra: str):
    from synth.config import load_config

    return load_config(REPO / "pipeline.yaml", overrides=[*SETS, *extra])


def _maker(work: Path) -> str:
    return _probe(work)["maker"]


def _gl_info(backend: str) -> dict:
    """GL_RENDERER / GL_VERSION of a context of ``backend``, or the error (in this process)."""
    from synth.render.gl import GLRenderer

    try:
        r = GLRenderer(backend=backend)
    except Exception as exc:  # noqa: BLE001 - reported
        return {"ok": False, "error": str(exc).splitlines()[0][:300]}
    info = dict(r.ctx.info)
    r.close()
    name = str(info.get("GL_RENDERER", "?"))
    return {"ok": True, "renderer": name, "version": str(info.get("GL_VERSION", "?")),
            "gpu": not any(s in name.lower() for s in SOFTWARE_GL)}


def _run_child(args: list[str], timeout: float) -> dict:
    """Run ``python gpu_check.py ARGS`` and return the JSON of its last ``RESULT`` line."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"status": "failed", "why": f"timed out after {timeout:.0f} s"}
    for line in reversed(out.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = [ln for ln in err.strip().splitlines() if ln.strip()][-1:] or [f"exit {proc.returncode}"]
    return {"status": "failed", "why": tail[0][:400]}


def _skip(why: str) -> dict:
    return {"status": "skipped", "why": why}


# --- parts (each runs in a child process) --------------------------------------------------------

def part_probe(work: Path, quick: bool) -> dict:
    import shutil

    import torch

    from synth.heads.assets import default_anny_cache_dir, is_installed

    cuda = torch.cuda.is_available()
    facts = {"cuda": cuda, "gpu": torch.cuda.get_device_name(0) if cuda else None,
             "bf16": bool(cuda and torch.cuda.is_bf16_supported()), "torch": torch.__version__,
             "torch_cuda": torch.version.cuda, "nvidia_smi": shutil.which("nvidia-smi") is not None}
    for b in ("egl", "osmesa"):  # each context in its own process (moderngl keeps one global OSMesa context)
        facts[b] = _run_child(["--gl-info", b], 60)
    cache = default_anny_cache_dir()
    real = is_installed() and cache.is_dir() and any(cache.iterdir())
    facts["maker"] = "synth.runner:make_sample_maker" if real else "synth.runner:sphere_sample_maker"
    facts["egl_gpu"] = bool(facts["egl"].get("ok") and facts["egl"].get("gpu"))
    (work / "probe.json").write_text(json.dumps(facts, indent=2))
    egl = facts["egl"].get("renderer") or facts["egl"].get("error")
    lines = [f"CUDA: {facts['gpu'] or 'none'} (torch {facts['torch']}, CUDA {facts['torch_cuda']}, bf16 {facts['bf16']})",
             f"EGL: {egl}", f"OSMesa: {facts['osmesa'].get('renderer') or facts['osmesa'].get('error')}",
             f"heads: {'MakeHuman head bank' if real else 'sphere heads (head bank not installed)'}"]
    return {"status": "ok", "figures": facts, "lines": lines}


def part_data(work: Path, quick: bool) -> dict:
    from synth.runner import render_run

    n = 256 if quick else 512
    res = render_run(_cfg(work), work / "data", n, shard_size=128, workers=1, maker=_maker(work), progress=False,
                     log=lambda m: None)
    return {"status": "ok", "figures": {"n": n, "samples_per_s": res.samples_per_s, "renderer": res.manifest["renderer"]},
            "lines": [f"{n} samples at {SIZE}^2 in one process ({res.manifest['renderer']}): "
                      f"{res.samples_per_s:.0f} samples/s incl. start-up"]}


def _raster_proc(work: str, backend: str, n: int, q) -> None:
    from synth.runner import resolve_maker

    cfg = _cfg(Path(work), f"renderer.gl_context={backend}")
    m = resolve_maker(_maker(Path(work)))(cfg, 0)
    specs = [m.spec(i) for i in range(n)]
    heads = [m.head_bank.get(s.head.identity) for s in specs]
    for s, h in zip(specs, heads):  # warm-up: uploads, cut-out classes, levels of detail
        m.renderer.render(s, h)
    t = time.perf_counter()
    for s, h in zip(specs, heads):
        m.renderer.render(s, h)
    q.put(n / (time.perf_counter() - t))


def _raster(work: Path, backend: str, procs: int, n: int) -> float:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_raster_proc, args=(str(work), backend, n, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    rates = [q.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    return sum(rates)


def part_raster(work: Path, quick: bool) -> dict:
    probe, n = _probe(work), 60 if quick else 200
    figures, lines = {}, []
    figures["osmesa_1"] = _raster(work, "osmesa", 1, n)
    lines.append(f"OSMesa, 1 process: {figures['osmesa_1']:.0f} frames/s")
    if not probe["egl_gpu"]:
        why = probe["egl"].get("renderer") or probe["egl"].get("error")
        return {"status": "skipped", "why": f"no EGL GPU device (EGL: {why})", "figures": figures, "lines": lines}
    for procs in (1, 4, 8):
        figures[f"egl_{procs}"] = _raster(work, "egl", procs, n)
        lines.append(f"EGL, {procs} process(es): {figures[f'egl_{procs}']:.0f} frames/s")
    return {"status": "ok", "figures": figures, "lines": lines}


def part_pipeline(work: Path, quick: bool) -> dict:
    if not _probe(work)["egl_gpu"]:
        return _skip("no EGL GPU device")
    from synth.runner import render_run

    figures, lines = {}, []
    for workers in (1, 4, 8):
        n = (100 if quick else 200) * workers
        t = time.perf_counter()
        res = render_run(_cfg(work, "renderer.gl_context=egl"), work / f"pipe{workers}", n, shard_size=50,
                         workers=workers, maker=_maker(work), progress=False, log=lambda m: None)
        wall = time.perf_counter() - t
        per = sorted(r["count"] / r["seconds"] for r in res.manifest["shards"])
        steady = min(workers, len(per)) * per[len(per) // 2]
        figures[f"workers_{workers}"] = {"steady": steady, "with_startup": n / wall}
        lines.append(f"{workers} worker(s): {steady:.0f} samples/s steady, {n / wall:.0f} incl. start-up ({n} samples)")
    return {"status": "ok", "figures": figures, "lines": lines}


def _render_specs(work: str, backend: str, out: str) -> None:
    import numpy as np

    from synth.runner import resolve_maker

    cfg = _cfg(Path(work), f"renderer.gl_context={backend}")
    m = resolve_maker(_maker(Path(work)))(cfg, 0)
    frames = [m.renderer.render(m.spec(i), m.head_bank.get(m.spec(i).head.identity)) for i in range(12)]
    np.savez(out, rgb=np.stack([f["rgb"] for f in frames]), depth=np.stack([f["depth"] for f in frames]),
             mask=np.stack([f["mask"] for f in frames]), renderer=m.renderer.version)


def part_agreement(work: Path, quick: bool) -> dict:
    import numpy as np

    probe = _probe(work)
    if not probe["egl"].get("ok"):
        return {"status": "failed", "why": f"no EGL context: {probe['egl'].get('error')}"}
    got = {}
    for b in ("osmesa", "egl"):
        r = _run_child(["--render-specs", b, str(work / f"specs-{b}.npz"), "--work", str(work)], 300)
        if r.get("status") != "ok":
            return {"status": "failed", "why": f"{b}: {r.get('why')}"}
        got[b] = np.load(work / f"specs-{b}.npz")
    a, e = got["osmesa"], got["egl"]
    same = sum(int(np.array_equal(x, y)) for x, y in zip(a["rgb"], e["rgb"]))
    head = (a["mask"] > 0) & (e["mask"] > 0)
    diff = np.abs(a["rgb"].astype(np.int16) - e["rgb"].astype(np.int16))
    both = (a["depth"] > 0) & (e["depth"] > 0)
    f = {"frames": len(a["rgb"]), "rgb_identical_frames": same, "rgb_mad": float(diff.mean()),
         "rgb_mad_head": float(diff[head].mean()) if head.any() else 0.0,
         "depth_mad_mm": float(np.abs(a["depth"].astype(np.float64) - e["depth"])[both].mean()) if both.any() else 0.0,
         "mask_disagree": float((a["mask"] != e["mask"]).mean()), "egl": str(e["renderer"]), "osmesa": str(a["renderer"])}
    kind = "GPU" if probe["egl_gpu"] else "llvmpipe, no GPU"
    lines = [f"EGL ({kind}) vs OSMesa on {f['frames']} specs: {same} rgb frames byte-identical; rgb mean |diff| "
             f"{f['rgb_mad']:.3f} grey levels ({f['rgb_mad_head']:.3f} on head pixels), depth {f['depth_mad_mm']:.4f} mm, "
             f"mask pixels differing {100 * f['mask_disagree']:.3f} %"]
    return {"status": "ok", "figures": f, "lines": lines}


def _train_one(name: str, work: Path, device, amp: bool, steps: int, batch: int) -> dict:
    import torch

    from train.engine import autocast, build_optimizer
    from train.inputs import build_train_set, collate, model_input
    from train.models import create_model, get_recipe

    torch.manual_seed(0)
    model = create_model(name).to(device)
    spec = model.input_spec
    ds = build_train_set([f"synth:{work / 'data'}"], spec, seed=0)
    batches = []
    for k in range(8):
        b = collate([ds[(k * batch + i) % len(ds)] for i in range(batch)])
        batches.append({key: v.to(device) if isinstance(v, torch.Tensor) else v for key, v in b.items()})
    opt = build_optimizer(model, get_recipe(name))
    model.train()
    losses, t0, warm = [], None, min(10, steps // 3)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps):
        if step == warm:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        b = batches[step % len(batches)]
        with autocast(device, amp):
            loss, _ = model.loss(model(model_input(b, spec)), b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return {"samples_per_s": batch * (steps - warm) / dt, "loss_last20": sum(losses[-20:]) / len(losses[-20:]),
            "loss_first": losses[0], "peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None}


def part_train(work: Path, quick: bool, models: str | None, steps: int) -> dict:
    import torch

    from train.models import list_models

    if not torch.cuda.is_available():
        r = _train_one("ssrnet_md", work, torch.device("cpu"), False, 20, 16)
        return {"status": "skipped", "why": "no CUDA device", "figures": {"cpu_ssrnet_md_fp32": r},
                "lines": [f"harness check on the CPU: ssrnet_md fp32, 20 steps of 16: {r['samples_per_s']:.0f} "
                          f"samples/s, loss {r['loss_first']:.3f} -> {r['loss_last20']:.3f}"]}
    names = models.split(",") if models else [m for m in list_models() if m != "distill"]
    steps = min(steps, 100) if quick else steps
    figures, lines, failed = {}, [], []
    dev = torch.device("cuda")
    for name in names:
        try:
            bf, fp = _train_one(name, work, dev, True, steps, 32), _train_one(name, work, dev, False, steps, 32)
        except Exception as exc:  # noqa: BLE001 - one model's failure is reported, the others still run
            failed.append(name)
            lines.append(f"{name}: FAILED {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        figures[name] = {"bf16": bf, "fp32": fp}
        lines.append(f"{name:22s} bf16 {bf['samples_per_s']:7.0f} samples/s, fp32 {fp['samples_per_s']:7.0f}; loss after "
                     f"{steps} steps bf16 {bf['loss_last20']:.4f} vs fp32 {fp['loss_last20']:.4f} "
                     f"(start {fp['loss_first']:.4f}); peak {max(bf['peak_mb'], fp['peak_mb']):.0f} MB")
    status = "failed" if failed else "ok"
    return {"status": status, "why": f"failed: {', '.join(failed)}" if failed else "", "figures": figures, "lines": lines}


def part_raytrain(work: Path, quick: bool) -> dict:
    import torch

    if not torch.cuda.is_available():
        return _skip("no CUDA device")
    out = work / "raytrain"
    cmd = [sys.executable, "-m", "train.cli", "fit", "--model", "ssrnet_md", "--data", f"synth:{work / 'data'}",
           "--out", str(out), "--epochs", "2", "--epoch-size", "512", "--batch-size", "64", "--num-workers", "1",
           "--use-gpu"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=170)
    if done.returncode != 0:
        tail = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or ["?"]
        return {"status": "failed", "why": f"train fit --use-gpu exit {done.returncode}: {tail[0][:300]}"}
    import csv

    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rate = float(rows[-1]["samples_per_s"])
    return {"status": "ok", "figures": {"samples_per_s": rate, "epochs": len(rows)},
            "lines": [f"train fit --num-workers 1 --use-gpu: {len(rows)} epochs, {rate:.0f} samples/s in the last"]}


def part_cycles(work: Path, quick: bool) -> dict:
    import torch

    from synth.render.blender import BlenderRenderer, import_bpy
    from synth.runner import resolve_maker

    try:
        import_bpy()
    except ImportError as exc:
        return _skip(str(exc).splitlines()[0][:300])

    cfg = _cfg(work)
    m = resolve_maker(_maker(work))(cfg, 0)
    specs = [m.spec(i) for i in range(3 if quick else 5)]
    figures, lines, errors = {}, [], []
    devices = ["cpu"] + (["optix", "cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        try:
            r = BlenderRenderer(samples=16, denoise=True, device=device)
        except Exception as exc:  # noqa: BLE001 - e.g. no OptiX in this build: reported
            errors.append(f"{device}: {str(exc).splitlines()[0][:200]}")
            lines.append(f"Cycles {device}: FAILED {errors[-1]}")
            continue
        r.render(specs[0], m.head_bank.get(specs[0].head.identity))  # warm-up: kernels, BVH, textures
        t = time.perf_counter()
        for s in specs[1:]:
            r.render(s, m.head_bank.get(s.head.identity))
        figures[device] = (time.perf_counter() - t) / (len(specs) - 1)
        lines.append(f"Cycles {r.device}: {figures[device]:.2f} s/image ({SIZE}^2, 16 spp + OIDN)")
        r.close()
    if errors:
        return {"status": "failed", "why": "; ".join(errors), "figures": figures, "lines": lines}
    if not torch.cuda.is_available():
        return {"status": "skipped", "why": "no CUDA device (CPU figure only)", "figures": figures, "lines": lines}
    return {"status": "ok", "figures": figures, "lines": lines}


# --- the parent ---------------------------------------------------------------------------------

class GpuMemory:
    """Samples ``nvidia-smi``'s used memory (MiB) every 0.5 s in a thread; ``peak`` is the largest seen."""

    def __init__(self):
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=10).stdout
                used = max(float(v) for v in out.split())
                self.peak = used if self.peak is None else max(self.peak, used)
            except (OSError, ValueError, subprocess.SubprocessError):
                return
            self._stop.wait(0.5)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=15)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames, samples and steps")
    ap.add_argument("--budget", type=float, default=470.0, help="seconds for the whole check (default 470)")
    ap.add_argument("--models", default=None, help="comma-separated models for the train part (default: all)")
    ap.add_argument("--steps", type=int, default=300, help="training steps per model and precision")
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temporary one, removed)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--part", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gl-info", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--render-specs", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.gl_info:
        print("RESULT " + json.dumps(_gl_info(args.gl_info)))
        return 0
    if args.render_specs:
        _render_specs(args.work, *args.render_specs)
        print("RESULT " + json.dumps({"status": "ok"}))
        return 0
    if args.part:
        work = Path(args.work)
        fn = globals()[f"part_{args.part}"]
        extra = (args.models, args.steps) if args.part == "train" else ()
        print("RESULT " + json.dumps(fn(work, args.quick, *extra), default=str))
        return 0

    import shutil

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    t0, results = time.monotonic(), {}
    child = ["--work", str(work), "--steps", str(args.steps)] + (["--quick"] if args.quick else [])
    child += ["--models", args.models] if args.models else []
    try:
        with GpuMemory() as mem:
            for name, limit in PARTS:
                left = args.budget - (time.monotonic() - t0)
                if left < 15:
                    results[name] = {"status": "failed", "why": f"not run: out of the {args.budget:.0f} s budget "
                                                                "(give a larger --budget)"}
                elif name != "probe" and results["probe"]["status"] != "ok":
                    results[name] = _skip("the probe failed")
                elif name in ("train", "raytrain") and results["data"]["status"] != "ok":
                    results[name] = {"status": "failed", "why": "no training data (the data part failed)"}
                else:
                    t = time.monotonic()
                    results[name] = _run_child(["--part", name, *child], min(limit, left))
                    results[name]["seconds"] = round(time.monotonic() - t, 1)
                r = results[name]
                print(f"[{name}] {r['status']}" + (f": {r['why']}" if r.get("why") else "")
                      + (f" ({r['seconds']} s)" if "seconds" in r else ""), flush=True)
                for line in r.get("lines", []):
                    print(f"    {line}", flush=True)
        results["peak_gpu_memory_mib"] = mem.peak
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    peak = results["peak_gpu_memory_mib"]
    print(f"peak GPU memory (nvidia-smi, whole run): {f'{peak:.0f} MiB' if peak is not None else 'n/a (no nvidia-smi)'}")
    print(f"total {time.monotonic() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    failed = [k for k, v in results.items() if isinstance(v, dict) and v.get("status") == "failed"]
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
