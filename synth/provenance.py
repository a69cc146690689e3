"""Where a file came from: the code version (package version + git commit), UTC timestamps, sha256.

Shards and manifests record ``code_version()`` and ``now_iso()``; run folders, migrations and the
head-bank install check files with ``sha256_file``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path


def _git_commit(start: Path) -> str | None:
    """The checked-out commit, read from .git files (no git process); None when unknown."""
    for d in (start, *start.parents):
        git = d / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref:"):
                    return head[:40]
                ref = head.split(None, 1)[1]
                f = git / ref
                if f.is_file():
                    return f.read_text().strip()[:40]
                packed = git / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0][:40]
            except OSError:
                return None
            return None
    return None


def code_version() -> str:
    """``headpose-synth <version>`` plus ``+g<commit>`` when a git checkout is found."""
    version = None
    try:
        from importlib.metadata import version as _v

        version = _v("headpose-synth")
    except Exception:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        if pyproject.is_file():
            for line in pyproject.read_text().splitlines():
                if line.strip().startswith("version"):
                    version = line.split("=", 1)[1].strip().strip('"')
                    break
    out = f"headpose-synth {version or 'unknown'}"
    commit = _git_commit(Path(__file__).resolve().parent)
    return out + (f"+g{commit[:12]}" if commit else "")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | Path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
