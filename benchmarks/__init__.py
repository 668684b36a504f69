"""The benchmarks, kept out of the installed package, one job a module: the plain reference implementations
(``reference``), a synthetic corpus of the real size (``synthetic``), the machine (``machine``) and its GEMM peak
(``peak``), the timed comparisons (``comparisons``), the whole run (``suite``) and its table (``tables``), scoring a
large table (``streaming``), and the command that runs them (``run``: ``python scripts/benchmark.py`` or
``movie-gender benchmark`` in a checkout)."""
