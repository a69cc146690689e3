"""The training side's error types (the CLI turns each into one line and exit code 2, or the error's own
``exit_code``: ``train.distributed.WorkerLostError`` exits 1)."""
from __future__ import annotations


class FitError(RuntimeError):
    """A fit that cannot start or continue (message names the file or option and the fix)."""


class CheckpointError(FitError):
    """A checkpoint file that is missing, truncated, not ours, or holds more than tensors and plain values."""
