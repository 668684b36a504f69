"""The benchmarks, kept out of the installed package: plain reference implementations, a synthetic corpus of the
real size, the machine's GEMM peak and the tables of ratios (``suite``), scoring a large table (``streaming``), and
the command that runs them (``run``: ``python scripts/benchmark.py`` or ``movie-gender benchmark`` in a checkout)."""
