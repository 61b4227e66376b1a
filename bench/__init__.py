"""Throughput benchmarks of the hub, each figure measured beside its ceiling in the same run.

``python -m bench`` (``make bench``) writes ``bench/results.md``, ``bench/results.json`` and PNG plots.
See ``bench/README.md``.
"""
