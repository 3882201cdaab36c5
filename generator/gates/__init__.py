"""Automatic gates a generated portrait must pass before experts see it.

- face: a usable face (a detector's confidence at or above a threshold calibrated on real
  portraits: the 1st percentile of their scores), checked for equal pass rates across brightness;
- disorder: the requested disorder is in a classifier's top k, k chosen so that chance passes at
  most 20 % of portraits;
- privacy: not closer to a training portrait, in the classifier's feature space, than the
  `percentile`-th held-out real portrait is to its nearest training portrait.

`settings.GateSettings` holds their defaults once; `pipeline.GateSet` runs all three on a batch;
`evaluate` and `fill_pool` share both.
"""
