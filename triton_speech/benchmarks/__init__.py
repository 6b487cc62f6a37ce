"""``python -m benchmarks`` (``make bench``): served vs in-process and baselines, side by side, as ratios."""
