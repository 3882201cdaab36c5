"""Measurements that print or draw: the gate report, KID and precision/recall, per-class accuracy,
pixel realism (numpy and Pillow only: the survey imports it), figures, and the speed benchmark.

Importing this package loads nothing: each module brings its own dependencies.
"""
