"""Benchmarks: timed runs that print a table and write JSON to benchmarks/results/; not tests."""
