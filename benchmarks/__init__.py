"""The benchmark suite behind docs/performance.md: ``python -m benchmarks`` (``make bench``)."""
