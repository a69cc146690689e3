"""The errors of a render run, and how a failed shard attempt is described.

Shared by the in-process path (:mod:`synth.runner`) and the Ray path (:mod:`synth.ray_pool`).
"""
from __future__ import annotations


class RunError(Exception):
    """A run that cannot start or finish; the message names the folder/sample and the fix."""


class SampleError(Exception):
    """A sample that failed repeatedly: carries its index and seed."""

    def __init__(self, index: int, seed: int, error: str):
        super().__init__(f"sample index {index} (seed {seed}) failed: {error}")
        self.index, self.seed, self.error = index, seed, error

    def __reduce__(self):
        return (SampleError, (self.index, self.seed, self.error))


class DiskError(Exception):
    """Writing the output failed for a reason a retry cannot fix (full, read-only, ...)."""


def describe_failure(entry: dict, exc: BaseException) -> str:
    """One line for a shard that failed for good: the sample (index, seed) when one was the cause."""
    cause = exc
    while cause is not None and not isinstance(cause, SampleError):
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, SampleError):
        return f"{entry['file']}: {cause}"
    return f"{entry['file']} (indices {entry['start']}..{entry['stop'] - 1}): {type(exc).__name__}: {exc}"


def is_disk_error(exc: BaseException) -> DiskError | None:
    """The DiskError in ``exc``'s cause chain (Ray's ``cause`` included), if any."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DiskError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
        seen += 1
    return None


def attempt_note(attempt: int, node_id: str | None, exc: BaseException) -> str:
    """One line for a shard record's ``retried`` list: which attempt failed, where, and why."""
    where = f" on node {node_id[:12]}" if node_id else ""
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"attempt {attempt + 1}{where}: {type(exc).__name__}: {first}"
