"""Benchmark harness: throughput, latency, CPU per request and capacity units (issue 6).

``python -m bench.run`` starts the backends, the service and a load generator, seeds a data
set, measures every access pattern through HTTP and directly with aioboto3 (the floor), and
writes JSON, Markdown and a plot under ``bench/results/``.
"""
