"""The errors of a render run, and how a failed shard attempt is described.

Shared by the in-process path (:mod:`synth.runner`), the Ray path (:mod:`synth.ray_pool`) and the
folder checks (:mod:`synth.run_folder`). Errors that come back from a Ray task are unwrapped
(:func:`task_error`) and shown as their own first line (:func:`one_line`), without Ray's remote
traceback and its colour codes.
"""
from __future__ import annotations

import re

from synth.config import ConfigError
from synth.heads.bank import HeadBankError


class RunError(Exception):
    """A run that cannot start or finish; the message names the folder/sample and the fix.

    ``exit_code``: what the CLI exits with: 2 for a bad input or an unusable folder or disk
    (fix it and rerun), 1 for shards that failed (:class:`ShardsFailed`).
    """

    exit_code = 2


class ShardsFailed(RunError):
    """Some shards kept failing after their retries (the others finished and are kept)."""

    exit_code = 1


class SampleError(Exception):
    """A sample that failed repeatedly: carries its index and seed."""

    def __init__(self, index: int, seed: int, error: str):
        super().__init__(f"sample index {index} (seed {seed}) failed: {error}")
        self.index, self.seed, self.error = index, seed, error

    def __reduce__(self):
        return (SampleError, (self.index, self.seed, self.error))


class DiskError(Exception):
    """Writing the output failed for a reason a retry cannot fix (full, read-only, ...)."""


#: Errors that mean the run's configuration is wrong: raised as they are, never retried.
CONFIG_ERRORS = (ConfigError, HeadBankError, RunError)

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, without terminal colour codes (Ray colours its own text)."""
    text = _ANSI.sub("", str(exc)).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def task_error(exc: BaseException) -> BaseException:
    """The exception a Ray task raised, unwrapped from Ray's RayTaskError (whose text is the remote
    traceback); any other exception as it is."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def describe_failure(entry: dict, exc: BaseException) -> str:
    """One line for a shard that failed for good: the sample (index, seed) when one was the cause."""
    cause = exc
    while cause is not None and not isinstance(cause, SampleError):
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, SampleError):
        return f"{entry['file']}: {_ANSI.sub('', str(cause))}"
    return f"{entry['file']} (indices {entry['start']}..{entry['stop'] - 1}): {one_line(task_error(exc))}"


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
    """One line for a shard record's ``retried`` list: which attempt failed, where, and why (the
    original error, unwrapped from Ray's)."""
    where = f" on node {node_id[:12]}" if node_id else ""
    err = task_error(exc)
    text = _ANSI.sub("", str(err)).strip()
    first = text.splitlines()[0][:200] if text else ""
    return f"attempt {attempt + 1}{where}: {type(err).__name__}: {first}"
