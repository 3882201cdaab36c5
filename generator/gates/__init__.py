"""Automatic gates a generated portrait must pass before experts see it.

- face: a usable face (a detector's confidence at or above a threshold, 0.999 as in the paper);
- disorder: the requested disorder is among a classifier's top k;
- privacy: not closer to a training portrait, in the classifier's feature space, than the
  `percentile`-th held-out real portrait is to its nearest training portrait.

`pipeline.GateSet` runs all three on a batch; `evaluate` and `fill_pool` share it.
"""
