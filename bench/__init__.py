"""Benchmarks that print comparison tables: `python -m bench` (or `make bench`) runs them all.

budget     rate-limit budget use against a fixed window, beside a naive client
latency    signal-to-restart latency: status polls and the Alertmanager webhook
scale      10,000 connectors in 100 clusters, beside polling each connector's status
footprint  process start to /readyz and idle memory, daemon and demo

Each table says which clock its rows ran on: virtual (bench/virtualtime.py, exact and fast) or
real (loopback sockets, wall time on this machine).
"""
