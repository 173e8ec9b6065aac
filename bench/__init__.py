"""Benchmarks of the poll cycle at scale (issue 8): see bench/run.py and `make bench`."""
