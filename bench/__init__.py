"""Vigil's benchmarks: every figure is printed beside a baseline measured in the same run."""
