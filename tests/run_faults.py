"""Sample makers that fail on purpose, for the runner's failure tests (importable by Ray workers too:
the tests put this folder on PYTHONPATH, and the runner hands PYTHONPATH to its actors).

``full_disk_maker``: sphere heads, written by a process whose disk is full from sample index 6 on
    (``ShardWriter.append`` raises ENOSPC, as h5py does then). It patches the writer of the process it
    runs in for good: use it in a worker process (a Ray actor, a CLI subprocess), not in pytest's.
``bank_error_maker``: fails while the worker starts, as a corrupt head mesh does.
"""
from __future__ import annotations

import errno

from synth.heads.bank import HeadBankError
from synth.runner import sphere_sample_maker
from synth.shards import ShardWriter

FULL_FROM_INDEX = 6


def full_disk_maker(cfg, seed):
    real_append = ShardWriter.append

    def append(self, sample):
        if int(sample["index"]) >= FULL_FROM_INDEX:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_append(self, sample)

    ShardWriter.append = append
    return sphere_sample_maker(cfg, seed)


def bank_error_maker(cfg, seed):
    raise HeadBankError("heads/broken.obj: cannot read the mesh (truncated); re-export it as OBJ/PLY/GLB.")
