"""Training side: readers, models, engine, metrics and reports for head-pose networks."""
import os

# OpenMP threads that busy-wait collapse when any other process wants a core: measured on the
# 2-core machine, an SSR-Net-MD training step took 9.2 s with torch's default (active) waiting
# and 0.6 s with passive waiting while one other process was busy. libgomp reads this when torch
# loads, so it is set before anything here imports torch; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
