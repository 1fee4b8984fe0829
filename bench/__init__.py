"""Benchmark harness: openips vs bare libvips vs Pillow on generated inputs (see bench/README.md)."""
