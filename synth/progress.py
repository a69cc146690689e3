"""The render progress bar: tqdm when installed, else a plain line to stderr every 5 s."""
from __future__ import annotations

import sys
import time


def progress_bar(n: int, initial: int, enabled: bool):
    """A bar over ``n`` samples, ``initial`` of them already done; None when not ``enabled``."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # a declared dependency, but never fail a render over a progress bar
        return PlainProgress(n, initial)
    return tqdm(total=n, initial=initial, unit="sample", dynamic_ncols=True, smoothing=0.1,
                desc="render", file=sys.stderr)


class PlainProgress:
    """Minimal stand-in for tqdm: a line to stderr at most every 5 s."""

    def __init__(self, total: int, initial: int):
        self.total, self.n, self._n0 = total, initial, initial
        self._t0 = self._last = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self._last > 5 or self.n >= self.total:
            rate = (self.n - self._n0) / max(now - self._t0, 1e-9)
            eta = (self.total - self.n) / max(rate, 1e-9)
            print(f"render {self.n}/{self.total} samples, {rate:.1f} samples/s, ETA {eta:.0f} s",
                  file=sys.stderr, flush=True)
            self._last = now

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass
