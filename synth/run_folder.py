"""A render's run folder: the shard plan, and checking, claiming or resuming ``--out`` before rendering.

``prepare_folder(cfg, out, n, shard_size)`` creates ``out`` or checks it, and returns what
is left to render (:class:`Prepared`):

* a new or empty folder gets a ``manifest.json`` claiming it for this config and plan;
* a folder with a manifest is resumed: listed shards are checked (present, same size, opens,
  right count, range and config hash; ``verify`` also compares sha256), bad ones set aside as
  ``*.corrupt-<time>``, complete shards a crash left unlisted adopted (listed with
  ``adopted: true`` and no node or host: who wrote them is not known), stale ``*.tmp-*``
  files removed. Another config, head frame, ``--n`` or ``--shard-size`` is refused, naming
  the keys that differ and the fix;
* a manifest that lists no shard, in a folder without shard files, is the claim of a run
  that stopped before its first shard (a bad input, a kill): it blocks nothing and is
  replaced by this run's.

The manifest's shard entries are plain ``shard-NNNNN.h5`` names (``synth.shards.read_manifest``
refuses any other), so nothing outside ``out`` is ever checked, hashed or set aside.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from synth.config import SynthConfig, config_hash, config_to_dict, flatten
from synth.heads.head_frame import HEAD_FRAME_VERSION
from synth.provenance import code_version, now_iso, sha256_file
from synth.run_errors import RunError
from synth.shards import (MANIFEST_FORMAT, SCHEMA_VERSION, SHARD_NAME, SHARD_PATTERN, TMP_MARKER, ShardError,
                          ShardReader, read_manifest, write_manifest)


@dataclass
class Prepared:
    """What :func:`prepare_folder` found: the manifest as now written, the shards still to render, and
    whether this call made the folder (``new_folder``) or wrote its first claim (``new_manifest``)."""

    manifest: dict
    todo: list[dict]
    new_folder: bool
    new_manifest: bool


# --- planning ---------------------------------------------------------------------------------

def plan_shards(n: int, shard_size: int) -> list[dict]:
    """[{shard, file, start, stop, count}] covering indices 0..n-1."""
    if n < 1:
        raise RunError(f"--n {n}: nothing to render; fix: give --n >= 1")
    if shard_size < 1:
        raise RunError(f"--shard-size {shard_size}: fix: give --shard-size >= 1")
    out = []
    for k, start in enumerate(range(0, n, shard_size)):
        stop = min(start + shard_size, n)
        out.append({"shard": k, "file": SHARD_PATTERN.format(k), "start": start, "stop": stop,
                    "count": stop - start})
    return out


def config_diff(a: dict, b: dict) -> list[str]:
    """Dotted keys whose values differ between two resolved config dicts."""
    fa, fb = flatten(a), flatten(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k, "<absent>") != fb.get(k, "<absent>"))


# --- the folder -------------------------------------------------------------------------------

def check_shard(out: Path, rec: dict, chash: str, verify: bool) -> str | None:
    """None when the listed shard is intact, else why not."""
    path = out / rec["file"]
    if not path.is_file():
        return "missing"
    if rec.get("bytes") is not None and path.stat().st_size != int(rec["bytes"]):
        return f"size {path.stat().st_size} != manifest {rec['bytes']}"
    try:
        with ShardReader(path) as r:
            if len(r) != int(rec["count"]) or r.index_range != (int(rec["start"]), int(rec["stop"])):
                return f"holds {len(r)} samples {r.index_range}, expected {rec['count']}"
            if r.attrs["config_hash"] != chash:
                return "written with another config"
    except ShardError as exc:
        return str(exc)
    if verify and rec.get("sha256") and sha256_file(path) != rec["sha256"]:
        return "sha256 differs from the manifest"
    return None


def set_aside(path: Path) -> Path:
    """Rename a damaged shard to ``<name>.corrupt-<time>`` (kept, never deleted); returns the new path."""
    dest = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    os.replace(path, dest)
    return dest


def _unclaimed(out: Path, manifest: dict, log) -> bool:
    """True for the manifest of a run that stopped before its first shard (no shard listed or present)."""
    if manifest.get("shards") or any(SHARD_NAME.fullmatch(p.name) for p in out.iterdir()):
        return False
    log(f"{out}: replacing the manifest.json of a run that stopped before its first shard")
    return True


def prepare_folder(cfg: SynthConfig, out: Path, n: int, shard_size: int, verify: bool = False,
                   log=print) -> Prepared:
    """Create or check ``out`` (module doc); returns the manifest (written) and the shards still to render."""
    chash = config_hash(cfg)
    cdict = config_to_dict(cfg)
    plan = plan_shards(n, shard_size)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: is a file, not a folder; fix: choose a new or empty --out")
    new_folder = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out}: cannot create the output folder ({exc.strerror or exc}); "
                       "fix: choose a writable --out") from None
    try:
        manifest = read_manifest(out)
    except ShardError as exc:
        raise RunError(str(exc)) from None
    new_manifest = manifest is None or _unclaimed(out, manifest, log)
    if manifest is None:
        stray = [p.name for p in out.iterdir() if not (p.name.startswith("shard-") and p.suffix == ".h5"
                                                       or TMP_MARKER in p.name)]
        if stray:
            raise RunError(f"{out}: folder is not empty and has no manifest.json (found {', '.join(stray[:5])}); "
                           "fix: choose a new or empty --out")
    if new_manifest:
        manifest = {"format": MANIFEST_FORMAT, "schema_version": SCHEMA_VERSION, "config_hash": chash,
                    "config": cdict, "seed": cfg.seed, "n": n, "shard_size": shard_size,
                    "n_shards": len(plan), "shards": [], "complete": False, "head_frame_version": HEAD_FRAME_VERSION,
                    "code_version": code_version(), "created": now_iso()}
    else:
        if manifest.get("config_hash") != chash:
            keys = config_diff(manifest.get("config", {}), cdict)
            shown = ", ".join(keys[:12]) + (" ..." if len(keys) > 12 else "")
            raise RunError(f"{out}: holds a run with another config (hash {manifest.get('config_hash')} vs "
                           f"{chash}; differing keys: {shown or 'unknown'}); fix: render into a new --out, "
                           "or rerun with the same config/preset/--set/--seed as that run")
        old_frame = int(manifest.get("head_frame_version", 1))
        if old_frame != HEAD_FRAME_VERSION:
            raise RunError(f"{out}: was rendered with head-frame version {old_frame} (pitch zero defined "
                           f"differently, see synth/heads/head_frame.py), this code writes version "
                           f"{HEAD_FRAME_VERSION}; fix: render into a new --out (its labels cannot be mixed)")
        if int(manifest.get("shard_size", -1)) != shard_size or int(manifest.get("n", -1)) != n:
            raise RunError(f"{out}: holds a run of --n {manifest.get('n')} --shard-size "
                           f"{manifest.get('shard_size')}, this command asks for --n {n} --shard-size "
                           f"{shard_size}; fix: rerun with --n {manifest.get('n')} --shard-size "
                           f"{manifest.get('shard_size')}, or render into a new --out")
    # stale temporary files from killed writers
    for p in out.iterdir():
        if TMP_MARKER in p.name:
            try:
                p.unlink()
                log(f"removed stale temporary file {p.name}")
            except OSError:
                pass
    planned = {e["file"]: e for e in plan}
    kept = []
    for rec in manifest.get("shards", []):
        problem = None if rec.get("file") in planned else "not in the plan"
        problem = problem or check_shard(out, rec, chash, verify)
        if problem is None:
            kept.append(rec)
        else:
            path = out / rec["file"]
            where = f" (set aside as {set_aside(path).name})" if path.exists() else ""
            log(f"shard {rec['file']}: {problem}; rendering it again{where}")
    listed = {r["file"] for r in kept}
    # complete shards renamed into place but not yet listed when the process died
    for e in plan:
        path = out / e["file"]
        if e["file"] not in listed and path.is_file():
            problem = check_shard(out, dict(e, bytes=None), chash, False)
            if problem is None:
                kept.append(dict(e, file=e["file"], bytes=path.stat().st_size, sha256=sha256_file(path), adopted=True,
                                 node_id=None, host=None, retried=[]))  # who wrote it is not known
                log(f"adopted complete shard {e['file']} missing from the manifest")
            else:
                log(f"shard {e['file']}: {problem}; set aside as {set_aside(path).name}")
    manifest["shards"] = sorted(kept, key=lambda r: r["start"])
    manifest["complete"] = len(kept) == len(plan)
    try:
        write_manifest(out, manifest)
    except OSError as exc:
        raise RunError(f"{out}: cannot write manifest.json ({exc.strerror or exc}); fix: make the folder "
                       "writable (free space, remount read-write) or choose another --out") from None
    done = {r["file"] for r in kept}
    return Prepared(manifest, [e for e in plan if e["file"] not in done], new_folder, new_manifest)


def withdraw_claim(out: Path, prepared: Prepared) -> None:
    """Undo what :func:`prepare_folder` wrote for a run that failed before its first shard: remove the
    manifest it created (and ``out`` when it made it and nothing else is there), so that the corrected
    rerun starts as if this one never ran."""
    if not prepared.new_manifest:
        return
    try:
        (out / "manifest.json").unlink(missing_ok=True)
        if prepared.new_folder and not any(out.iterdir()):
            out.rmdir()
    except OSError:
        pass
