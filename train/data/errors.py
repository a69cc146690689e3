"""The one exception type raised by the data readers, protocols and mixer."""
from __future__ import annotations

from pathlib import Path


class DatasetError(Exception):
    """A dataset file or folder is missing, truncated or malformed.

    The message always names the offending file (``path``) and, where there
    is one, the fix. Subclasses ``Exception`` only, so callers can catch it
    apart from programming errors.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        super().__init__(f"{message} [{self.path}]" if path is not None and str(path) not in message else message)


class MixSpecError(DatasetError, ValueError):
    """A ``kind:PATH:weight`` mixing spec could not be parsed or resolved."""
