"""``synth inspect DIR``: counts, schema, provenance and histograms of a rendered run.

Opens every shard listed in the run's manifest (a truncated or corrupt shard
stops the report with a :class:`synth.shards.ShardError` naming the file and
the fix; nothing is modified), then writes PNGs (matplotlib, Agg) into
``DIR/inspect/`` or ``out``: ``pose.png`` (pitch / yaw / roll histograms and
the coarse-class counts), ``params.png`` (one histogram per numeric sampled
parameter) and, when present, ``depth.png`` (valid-pixel fraction of clean vs
noisy depth). Returns a dict with the figures and a printable ``text``;
``not_portable`` lists the shards whose rgb only synth's reader decodes
(schema 1-2; the text says so and names ``synth migrate DIR``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from synth.preview import save_atomically
from synth.shards import SCHEMA_VERSION, ShardError, open_dataset


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def inspect_dataset(folder: str | Path, out: str | Path | None = None, checksums: bool = False,
                    max_param_plots: int = 24) -> dict:
    folder = Path(folder)
    ds = open_dataset(folder)
    ds.validate(checksums=checksums)
    m = ds.manifest
    out = Path(out) if out is not None else folder / "inspect"
    readers = ds.shards
    labels = {k: np.concatenate([r.labels[k] for r in readers]) if readers else np.zeros(0)
              for k in ("euler", "coarse_class", "identity", "index")}
    columns: dict[str, list] = {}
    for r in readers:
        for k, v in r.columns().items():
            columns.setdefault(k, []).append(v)
    columns = {k: np.concatenate(v) for k, v in columns.items()}
    idx = labels["index"]
    dup = int(len(idx) - len(np.unique(idx))) if len(idx) else 0
    report = {
        "folder": str(folder), "samples": len(ds), "planned": m.get("n"), "shards": len(readers),
        "planned_shards": m.get("n_shards"), "complete": bool(m.get("complete")), "duplicates": dup,
        "config_hash": m.get("config_hash"),
        "schema_version": sorted({r.version for r in readers}) if readers else m.get("schema_version", SCHEMA_VERSION),
        "code_version": m.get("code_version"), "renderer": m.get("renderer"),
        "bytes": int(sum(int(e.get("bytes") or 0) for e in ds.entries)),
        "schema": readers[0].describe() if readers else {},
        # shards whose rgb only this project's reader decodes (schema 1-2: row delta outside the HDF5 filters)
        "not_portable": [r.path.name for r in readers if not r.portable],
        "images": [],
    }
    if readers:
        a = readers[0].attrs
        report["provenance"] = {k: (a[k].decode() if isinstance(a[k], bytes) else a[k])
                                for k in ("code_version", "renderer_name", "renderer_version", "created",
                                          "config_hash")}
    if len(ds):
        new_out = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        try:
            _write_figures(report, out, ds, readers, labels, columns, max_param_plots)
        except BaseException:
            if new_out and not any(out.iterdir()):   # a write failed (full disk): leave no empty folder
                out.rmdir()
            raise
    report["text"] = format_report(report)
    return report


def _write_figures(report: dict, out: Path, ds, readers, labels: dict, columns: dict, max_param_plots: int) -> None:
    """pose.png, params.png and (with noisy depth) depth.png into ``out``, each written atomically; their paths
    and summary numbers into ``report``."""
    plt = _plt()
    e = labels["euler"]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
    for ax, j, name in zip(axes, range(3), ("pitch", "yaw", "roll")):
        ax.hist(e[:, j], bins=72, range=(-180, 180), color="C0")
        ax.set_title(f"{name} (deg)  mean {e[:, j].mean():+.1f}  sd {e[:, j].std():.1f}")
    cc = np.bincount(labels["coarse_class"].astype(int), minlength=4)
    axes[3].bar(range(len(cc)), cc)
    axes[3].set_title("coarse class")
    fig.tight_layout()
    save_atomically(out / "pose.png", lambda p: fig.savefig(p, dpi=80))
    plt.close(fig)
    report["images"].append(str(out / "pose.png"))
    report["pose"] = {n: [float(e[:, j].min()), float(e[:, j].max())] for j, n in
                      enumerate(("pitch", "yaw", "roll"))}
    report["coarse_class_counts"] = cc.tolist()
    report["identities"] = int(len(np.unique(labels["identity"])))
    keys = [k for k in sorted(columns) if np.isfinite(columns[k]).any()][:max_param_plots]
    panels = []
    for k in keys:
        v = columns[k]
        if v.ndim == 1:
            panels.append((k, v))
        else:
            panels.extend((f"{k}[{j}]", v[:, j]) for j in range(v.shape[1]))
    panels = panels[:max_param_plots * 2]
    if panels:
        cols = 6
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
        for ax, (k, v) in zip(axes.flat, panels):
            v = v[np.isfinite(v)]
            ax.hist(v, bins=40, color="C1")
            ax.set_title(k, fontsize=8)
            ax.tick_params(labelsize=6)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis("off")
        fig.tight_layout()
        save_atomically(out / "params.png", lambda p: fig.savefig(p, dpi=80))
        plt.close(fig)
        report["images"].append(str(out / "params.png"))
    if "depth_noisy" in readers[0].image_fields:
        n = min(len(ds), 256)
        pick = np.linspace(0, len(ds) - 1, n).round().astype(int)
        b = ds.read_batch(pick, fields=("depth", "depth_noisy"))
        clean = (b["depth"] > 0).sum((1, 2))
        kept = ((b["depth_noisy"] > 0) & (b["depth"] > 0)).sum((1, 2)) / np.maximum(clean, 1)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.hist(kept, bins=40, color="C2")
        ax.set_title("depth_noisy: fraction of head pixels kept")
        fig.tight_layout()
        save_atomically(out / "depth.png", lambda p: fig.savefig(p, dpi=80))
        plt.close(fig)
        report["images"].append(str(out / "depth.png"))
        report["depth_kept_fraction_mean"] = float(kept.mean())


def format_report(r: dict) -> str:
    lines = [
        f"{r['folder']}: {r['samples']} of {r['planned']} samples in {r['shards']} of {r['planned_shards']} "
        f"shards ({'complete' if r['complete'] else 'INCOMPLETE: rerun the same `synth render` to finish'})",
        f"  size {r['bytes'] / 1e6:.1f} MB ({r['bytes'] / max(r['samples'], 1) / 1024:.1f} KB/sample), "
        f"duplicate indices: {r['duplicates']}",
        f"  schema v{'/v'.join(str(v) for v in r['schema_version']) if isinstance(r['schema_version'], list) else r['schema_version']} (of the shards), config {r['config_hash']}, code {r['code_version']}",
    ]
    if r.get("not_portable"):
        bad = r["not_portable"]
        names = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
        lines.append(f"  NOT PORTABLE: {len(bad)} of {r['shards']} shards ({names}) are schema v1/v2: their rgb is "
                     "row-delta coded outside the HDF5 filters, so plain HDF5 readers (h5py, h5dump, HDFView) get "
                     "the residuals, not the pixels (synth's reader is right); fix: synth migrate " + r["folder"])
    if "provenance" in r:
        p = r["provenance"]
        lines.append(f"  renderer {p['renderer_name']} ({p['renderer_version']}), first shard created {p['created']}")
    if "pose" in r:
        lines.append("  pose range (deg): " + ", ".join(f"{k} [{a:+.1f}, {b:+.1f}]" for k, (a, b) in r["pose"].items())
                     + f"; coarse classes {r['coarse_class_counts']}; {r['identities']} identities")
    if "depth_kept_fraction_mean" in r:
        lines.append(f"  depth_noisy keeps {100 * r['depth_kept_fraction_mean']:.1f} % of head pixels on average")
    lines.append("  datasets:")
    for name, d in r["schema"].items():
        lines.append(f"    {name:28s} {str(tuple(d['shape'])):20s} {d['dtype']:8s} chunks={d['chunks']} "
                     f"{d['compression'] or ''}{'+shuffle' if d['shuffle'] else ''}")
    for img in r["images"]:
        lines.append(f"  wrote {img}")
    return "\n".join(lines)


def report_json(r: dict) -> str:
    return json.dumps({k: v for k, v in r.items() if k != "text"}, indent=1, default=str)


__all__ = ["inspect_dataset", "format_report", "report_json", "ShardError"]
