"""The head-bank protocol shared by every identity source, and its error type."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from synth.heads.mesh import HeadMesh


class HeadBankError(Exception):
    """A head bank cannot be built or read; the message names the file and the fix."""


@runtime_checkable
class HeadBank(Protocol):
    """A fixed pool of head identities, indexed ``0 .. len(bank) - 1``.

    ``get(i)`` returns the same :class:`HeadMesh` (canonical head frame, mm) for
    the same ``i`` every time; ``describe()`` returns JSON-safe settings that,
    together with the code version, reproduce the pool.
    """

    def __len__(self) -> int: ...

    def get(self, identity: int) -> HeadMesh: ...

    def describe(self) -> dict: ...


def check_identity(identity: int, size: int) -> int:
    """Validate an identity index against a pool size; return it as a plain int."""
    i = int(identity)
    if i != identity or not 0 <= i < size:
        raise IndexError(f"identity {identity!r} out of range for a pool of {size}")
    return i
