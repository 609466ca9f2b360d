"""Benchmarks that print their figures: `python -m bench [NAME] [--count N]`.

Speed is measured here, never by timed tests: each benchmark runs the real code on loopback
(the real server on a real SQLite file where a server is involved), in bounded loops, and
prints one line per figure with its count, wall time, rate, latency percentiles where they
apply, and the machine it ran on.
"""
