"""Redcloud benchmarks (`make bench` → `python -m bench`). Targets: ../shared/BENCHMARKS.md.

Each benchmark is a module ``bench/b<N>_<name>.py`` registering a function with
``@benchmark(...)`` from ``bench.registry``; the harness (``bench.harness``) finds the modules,
runs them, computes per-run ratios against a baseline measured in the same run, and writes
``bench/results/latest.json``."""
