"""Markdown evaluation reports with PNG plots written beside them.

* :func:`write_eval_report` - one or more evaluated sets (:class:`train.metrics.EvalResult`):
  MAE table, ME/STD, criterion II curve, criterion III table and bars,
  coarse accuracy and confusion, runtime, and the run's facts (model,
  checkpoint, data, command) as a list.
* :func:`write_training_curves` - every numeric column of the engine's
  per-epoch CSV log against the epoch, grouped into panels (losses,
  validation errors, learning rate, then one panel per other column).
* :func:`write_robustness_report` - one row per level of a swept factor
  (illumination angle, blur, occlusion, colour ...) with per-angle ME / STD /
  MAE like the coarse-to-fine paper's Tables 6-7, plus a plot of the error
  against the level (lines for numeric levels, grouped bars for named ones).

Plots are PNG files named after the Markdown file's stem
(``biwi.md`` -> ``biwi_criterion2.png``) in the same folder and linked by
relative path, so the folder can be moved or published as it is. Angles are
in degrees throughout. matplotlib is imported inside the plotting functions
and draws through its Agg canvas, never touching pyplot's global state.
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import re
from pathlib import Path
from typing import Any, Sequence

from train.metrics import ANGLE_NAMES, EvalResult

_ANGLE_TITLES = ("Pitch", "Yaw", "Roll")
_COARSE_LABELS = ("0 (+p,+y)", "1 (+p,-y)", "2 (-p,+y)", "3 (-p,-y)")
_DASH = "–"


# --- Markdown helpers ----------------------------------------------------------------------------

def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return _DASH
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return _DASH if x is None else f"{100.0 * x:.1f}%"


def _cell(text: Any) -> str:
    """Table-safe cell text: pipes escaped, newlines flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |",
             "|" + "|".join(["---"] * len(headers)) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _meta_lines(meta: dict | None) -> list[str]:
    if not meta:
        return []
    out = []
    for key, value in meta.items():
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value, sort_keys=True)
        else:
            text = str(value)
        out.append(f"- **{key}**: `{text}`" if key == "command" else f"- **{key}**: {text}")
    return out + [""]


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s or "factor"


def _set_names(results: Sequence[EvalResult]) -> list[str]:
    return [r.name or f"set {i + 1}" for i, r in enumerate(results)]


def _prepare(path_md: str | Path) -> Path:
    path = Path(path_md)
    if path.suffix.lower() != ".md":
        raise ValueError(f"report path {path} should end in .md (plots are written beside it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_results(results: Sequence[EvalResult], what: str) -> list[EvalResult]:
    results = list(results)
    if not results:
        raise ValueError(f"{what}: no results to report; pass at least one EvalResult")
    for i, r in enumerate(results):
        if not isinstance(r, EvalResult):
            raise ValueError(f"{what}: item {i} is a {type(r).__name__}, expected train.metrics.EvalResult")
    return results


# --- plotting helpers ----------------------------------------------------------------------------

def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1):
    """A matplotlib Figure on an Agg canvas with an ``nrows`` x ``ncols`` grid of axes, row-major (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _grouped_bars(ax, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float]]],
                  errors: Sequence[Sequence[float]] | None = None) -> None:
    """Bars: one group per label in ``groups``, one bar per (name, values) series; NaN draws nothing."""
    import numpy as np

    n = max(len(series), 1)
    width = 0.8 / n
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series):
        yerr = None if errors is None else errors[k]
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=name, yerr=yerr,
               capsize=0 if yerr is None else 3)
    ax.set_xticks(x)
    long_labels = max(len(g) for g in groups) > 8
    ax.set_xticklabels(groups, rotation=30 if long_labels else 0, ha="right" if long_labels else "center")


# --- evaluation report ----------------------------------------------------------------------------

def _plot_criterion2(path: Path, results: Sequence[EvalResult], names: Sequence[str]) -> Path:
    fig, (ax,) = _figure(6.0, 4.0)
    for r, name in zip(results, names):
        ax.plot(r.criterion2.thresholds, [100.0 * f for f in r.criterion2.fractions], label=name)
    ax.set_xlabel("threshold (deg)")
    ax.set_ylabel("samples with all three errors < threshold (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Criterion II")
    return _save(fig, path)


def _range_label(lo: float, hi: float) -> str:
    return f"{lo:g}–{hi:g}"


def _plot_criterion3(path: Path, results: Sequence[EvalResult], names: Sequence[str]) -> Path:
    labels: list[str] = []
    for r in results:
        for lo, hi in r.criterion3.ranges:
            if _range_label(lo, hi) not in labels:
                labels.append(_range_label(lo, hi))
    fig, axes = _figure(12.0, 4.0, ncols=3)
    for a, ax in enumerate(axes):
        series = []
        for r, name in zip(results, names):
            by_label = {_range_label(lo, hi): m for (lo, hi), m in zip(r.criterion3.ranges, r.criterion3.mae[a])}
            series.append((name, [math.nan if by_label.get(lb) is None else by_label[lb] for lb in labels]))
        _grouped_bars(ax, labels, series)
        ax.set_title(f"{_ANGLE_TITLES[a]}: MAE by true |{ANGLE_NAMES[a]}|")
        ax.set_xlabel("true |angle| range (deg)")
        ax.set_ylabel("MAE (deg)")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0].legend()
    return _save(fig, path)


def write_eval_report(path_md: str | Path, results: Sequence[EvalResult], title: str,
                      meta: dict | None = None) -> Path:
    """Write a Markdown report of evaluated sets with PNG plots beside it; returns the .md path.

    results: one :class:`EvalResult` per evaluated set (the table rows).
    meta: facts about the run shown as a list (e.g. model, checkpoint, data,
    command); a ``command`` value is shown as code.
    """
    path = _prepare(path_md)
    results = _check_results(results, "write_eval_report")
    names = _set_names(results)
    stem = path.stem
    lines = [f"# {title}", ""] + _meta_lines(meta)

    lines += ["## Mean absolute error (deg)", ""]
    lines += _table(["Set", "N", "Pitch", "Yaw", "Roll", "Mean", "Geodesic mean", "Geodesic median"],
                    [[nm, r.n, *(_fmt(v) for v in r.mae.as_tuple()), _fmt(r.mae_mean),
                      _fmt(r.geodesic_mean), _fmt(r.geodesic_median)] for r, nm in zip(results, names)])
    lines += ["## Signed error: mean (ME) and standard deviation (STD), deg", "",
              "Error = prediction − truth, wrapped into (−180, 180].", ""]
    lines += _table(["Set"] + [f"{s} {a}" for a in _ANGLE_TITLES for s in ("ME", "STD")],
                    [[nm] + [_fmt(v) for a in range(3) for v in (r.me.as_tuple()[a], r.std.as_tuple()[a])]
                     for r, nm in zip(results, names)])

    points = sorted({t for r in results for t in r.criterion2.points})
    c2_png = _plot_criterion2(path.parent / f"{stem}_criterion2.png", results, names)
    lines += ["## Criterion II: samples with all three errors under a threshold", ""]
    lines += _table(["Set"] + [f"< {t:g}°" for t in points],
                    [[nm] + [_pct(r.criterion2.points.get(t)) for t in points] for r, nm in zip(results, names)])
    lines += [f"![Criterion II curves]({c2_png.name})", ""]

    c3_png = _plot_criterion3(path.parent / f"{stem}_criterion3.png", results, names)
    lines += ["## Criterion III: MAE by range of the true |angle| (deg)", "",
              "Each cell: MAE of that angle over samples whose true |angle| is in the range "
              "(its share of all samples in parentheses).", ""]
    for r, nm in zip(results, names):
        t3 = r.criterion3
        lines += [f"### {nm}", ""]
        lines += _table(["Range (deg)", *_ANGLE_TITLES],
                        [[_range_label(lo, hi)] + [f"{_fmt(t3.mae[a][k])} ({_pct(t3.share(a, k))})" for a in range(3)]
                         for k, (lo, hi) in enumerate(t3.ranges)])
    lines += [f"![Criterion III bars]({c3_png.name})", ""]

    with_coarse = [(r, nm) for r, nm in zip(results, names) if r.coarse is not None]
    if with_coarse:
        lines += ["## Coarse classification (signs of pitch and yaw)", ""]
        lines += _table(["Set", "Accuracy"], [[nm, _pct(r.coarse.accuracy)] for r, nm in with_coarse])
        for r, nm in with_coarse:
            lines += [f"Confusion, {nm} (rows: true category, columns: predicted):", ""]
            lines += _table(["true \\ pred", *_COARSE_LABELS],
                            [[_COARSE_LABELS[i], *row] for i, row in enumerate(r.coarse.confusion)])

    with_runtime = [(r, nm) for r, nm in zip(results, names) if r.runtime is not None]
    if with_runtime:
        lines += ["## Runtime", ""]
        lines += _table(["Set", "Median ms/image", "Mean ms/image", "Images per call", "Repeats"],
                        [[nm, _fmt(r.runtime.median_ms, 3), _fmt(r.runtime.mean_ms, 3),
                          _DASH if r.runtime.images is None else r.runtime.images,
                          _DASH if r.runtime.repeats is None else r.runtime.repeats] for r, nm in with_runtime])

    with_meta = [(r, nm) for r, nm in zip(results, names) if r.meta]
    if with_meta:
        lines += ["## Set details", ""]
        for r, nm in with_meta:
            lines += [f"### {nm}", ""] + _meta_lines(r.meta)

    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


# --- training curves ------------------------------------------------------------------------------

def _read_numeric_columns(history_csv: Path) -> dict[str, list[float]]:
    """Columns of a CSV whose non-empty cells all parse as numbers; empty cells become NaN."""
    if not history_csv.is_file():
        raise FileNotFoundError(f"training log {history_csv} not found "
                                "(the engine writes history.csv in the run folder)")
    with history_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ValueError(f"training log {history_csv} has no header row")
        rows = list(reader)
    if not rows:
        raise ValueError(f"training log {history_csv} has a header but no rows yet")
    columns: dict[str, list[float]] = {}
    for name in reader.fieldnames:
        values: list[float] = []
        for row in rows:
            cell = (row.get(name) or "").strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError:
                break
        else:
            if any(math.isfinite(v) for v in values):
                columns[name] = values
    return columns


def _panel(column: str) -> str:
    """Panel title of a history column: losses, validation errors, learning rate, or the column itself."""
    c = column.lower()
    if "loss" in c or c.startswith("train_"):
        return "training / validation loss"
    if c == "lr" or c.startswith("lr_") or c.endswith("_lr") or "learning_rate" in c:
        return "learning rate"
    if c.startswith("val"):
        return "validation error (deg)"
    return column  # anything else (seconds, samples_per_s ...) keeps its own axis and scale


def write_training_curves(path_png: str | Path, history_csv: str | Path) -> Path:
    """Plot every numeric column of a per-epoch CSV log against ``epoch`` (or the row number).

    Columns share a panel by name: losses (``*loss*``, ``train_*``),
    validation errors (``val*``, degrees), learning rate (``lr``, ``lr_*``,
    ``*_lr``, ``*learning_rate*``; log scale when all positive); any other
    numeric column (e.g. ``seconds``, ``samples_per_s``) gets a panel of its
    own so different units never share an axis. Non-numeric columns are
    skipped, empty cells leave gaps. Returns the PNG path.
    """
    path = Path(path_png)
    if path.suffix.lower() != ".png":
        raise ValueError(f"training-curve path {path} should end in .png")
    columns = _read_numeric_columns(Path(history_csv))
    x_name = next((c for c in columns if c.lower() == "epoch"), None)
    x = columns.pop(x_name) if x_name else [float(i + 1) for i in range(len(next(iter(columns.values()), [])))]
    if not columns:
        raise ValueError(f"training log {history_csv} has no numeric columns besides the epoch to plot")
    panels: dict[str, list[str]] = {}
    for name in columns:
        panels.setdefault(_panel(name), []).append(name)
    fixed = ("training / validation loss", "validation error (deg)", "learning rate")
    order = [k for k in fixed if k in panels] + [k for k in panels if k not in fixed]

    path.parent.mkdir(parents=True, exist_ok=True)
    ncols = min(3, len(order))
    nrows = math.ceil(len(order) / ncols)
    fig, axes = _figure(4.5 * ncols, 3.6 * nrows, ncols=ncols, nrows=nrows)
    for ax, panel in zip(axes, order):
        for name in panels[panel]:
            ax.plot(x, columns[name], marker="o", markersize=3, label=name)
        if panel == "learning rate" and all(v > 0 for n in panels[panel] for v in columns[n] if math.isfinite(v)):
            ax.set_yscale("log")
        ax.set_xlabel(x_name or "row")
        ax.set_title(panel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(order):]:
        ax.set_visible(False)
    return _save(fig, path)


# --- robustness report ------------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _level_text(v: Any) -> str:
    return f"{float(v):g}" if _is_number(v) else str(v)


def _plot_robustness(path: Path, factor: str, units: str, levels: Sequence[Any],
                     results: Sequence[EvalResult]) -> Path:
    import numpy as np

    xlabel = f"{factor} ({units})" if units else factor
    fig, (ax_mae, ax_me) = _figure(11.0, 4.0, ncols=2)
    mae = np.array([r.mae.as_tuple() for r in results])
    me = np.array([r.me.as_tuple() for r in results])
    std = np.array([r.std.as_tuple() for r in results])
    mean_mae = np.array([r.mae_mean for r in results])
    if all(_is_number(v) for v in levels):
        x = np.array([float(v) for v in levels])
        order = np.argsort(x, kind="stable")
        dodge = 0.015 * (float(np.ptp(x)) or 1.0)  # side-step the three error bars so they stay readable
        for a in range(3):
            ax_mae.plot(x[order], mae[order, a], marker="o", label=_ANGLE_TITLES[a])
            ax_me.errorbar(x[order] + (a - 1) * dodge, me[order, a], yerr=std[order, a], marker="o", capsize=3,
                           label=_ANGLE_TITLES[a])
        ax_mae.plot(x[order], mean_mae[order], marker="s", linestyle="--", color="black", label="Mean")
    else:
        labels = [_level_text(v) for v in levels]
        _grouped_bars(ax_mae, labels, [(_ANGLE_TITLES[a], mae[:, a]) for a in range(3)] + [("Mean", mean_mae)])
        _grouped_bars(ax_me, labels, [(_ANGLE_TITLES[a], me[:, a]) for a in range(3)],
                      errors=[std[:, a] for a in range(3)])
    ax_me.axhline(0.0, color="grey", linewidth=0.8)
    for ax, ylabel, ttl in ((ax_mae, "MAE (deg)", "Mean absolute error"),
                            (ax_me, "ME ± STD (deg)", "Signed error: mean ± std")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ttl} vs {factor}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save(fig, path)


def write_robustness_report(path_md: str | Path, factor: str, levels: Sequence[Any],
                            results: Sequence[EvalResult], units: str = "") -> Path:
    """Write a robustness sweep as Markdown + PNG: one row per level of ``factor``; returns the .md path.

    levels[i] is the value of the swept factor (a number such as a light angle
    in degrees or a blur sigma in pixels, or a name such as a light colour)
    under which ``results[i]`` was measured. Rows keep the given order. The
    plot draws lines when every level is a number, grouped bars otherwise.
    """
    path = _prepare(path_md)
    results = _check_results(results, "write_robustness_report")
    levels = list(levels)
    if len(levels) != len(results):
        raise ValueError(f"write_robustness_report: {len(levels)} levels but {len(results)} results; "
                         "pass one EvalResult per level, in the same order")
    if not factor:
        raise ValueError("write_robustness_report: name the swept factor (e.g. 'light elevation')")
    head = f"{factor} ({units})" if units else factor
    png = _plot_robustness(path.parent / f"{path.stem}_{_slug(factor)}.png", factor, units, levels, results)

    lines = [f"# Robustness to {factor}", "",
             f"One row per level of **{factor}**; everything else in the scene is held fixed. "
             "Errors in degrees; ME and STD are the mean and standard deviation of prediction − truth.", ""]
    lines += _table([head, "N"] + [f"{s} {a}" for a in _ANGLE_TITLES for s in ("ME", "STD")],
                    [[_level_text(v), r.n] + [_fmt(x) for a in range(3) for x in (r.me.as_tuple()[a],
                                                                               r.std.as_tuple()[a])]
                     for v, r in zip(levels, results)])

    has_coarse = any(r.coarse is not None for r in results)
    has_runtime = any(r.runtime is not None for r in results)
    headers = [head, "MAE pitch", "MAE yaw", "MAE roll", "MAE mean", "Geodesic mean"]
    headers += ["Coarse accuracy"] if has_coarse else []
    headers += ["ms/image (median)"] if has_runtime else []
    rows = []
    for v, r in zip(levels, results):
        row = [_level_text(v), *(_fmt(x) for x in r.mae.as_tuple()), _fmt(r.mae_mean), _fmt(r.geodesic_mean)]
        if has_coarse:
            row.append(_DASH if r.coarse is None else _pct(r.coarse.accuracy))
        if has_runtime:
            row.append(_DASH if r.runtime is None else _fmt(r.runtime.median_ms, 3))
        rows.append(row)
    lines += ["## Mean absolute error", ""] + _table(headers, rows)
    lines += [f"![Error against {factor}]({png.name})", ""]
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path
