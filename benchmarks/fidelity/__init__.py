"""Fidelity benchmark: how well the listing normaliser reads REAL public job-board dumps.

The dumps themselves never enter this repository (their terms forbid republishing): they live in a data
directory outside it (`FIDELITY_DATA`, default /work/realdata) with a hand-labelled truth file. See
`benchmarks/fidelity/sources.py` (one adapter per board shape) and `benchmarks/fidelity/score.py`.
"""
