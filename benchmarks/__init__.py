"""Benchmarks of xstilts against the tools users would otherwise use (see README.md)."""
