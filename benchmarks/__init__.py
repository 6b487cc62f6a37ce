"""Benchmarks: served models against in-process baselines, measured in the same run."""
