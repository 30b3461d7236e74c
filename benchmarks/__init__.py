"""Benchmarks for siting: speed, memory and correctness against published optima.

Run ``python -m benchmarks.run NAME [ARGS...]`` (``all`` runs every one). Each benchmark writes its own
section to ``benchmarks/results/NAME.md``; ``RESULTS.md`` is rebuilt from those sections after every run.
"""
