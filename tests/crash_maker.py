"""A sample maker whose process dies once, imported by Ray workers as ``tests.crash_maker`` (so it
imports nothing from the test modules or conftest, which a worker cannot import)."""
from __future__ import annotations

import os
from pathlib import Path


def crash_once_maker(cfg, seed):
    """Sphere-head maker whose process dies (``os._exit``) at index 7, once per marker file.

    For the Ray path: the actor holding shard 1 dies with a second shard queued behind it.
    """
    from synth.runner import sphere_sample_maker

    maker = sphere_sample_maker(cfg, seed)
    marker = Path(os.environ["SYNTH_TEST_CRASH_MARKER"])
    real = maker.make

    def make(index):
        if index == 7 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return real(index)

    maker.make = make
    return maker
