"""Benchmarks: `uv run python -m bench` runs them all; see bench/README.md."""
