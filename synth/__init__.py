"""Synthesis side: head bank, scene sampling, rendering, effects, shards and the Ray runner."""
import os

# See train/__init__.py: passive OpenMP waiting keeps torch (used by the head bank) from
# collapsing when the renderer or another worker shares the cores. An explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
