"""Benchmarks: the data generator, the harness that runs every figure, and their helpers."""
