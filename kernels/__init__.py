"""Real example kernels, each runnable as ``python -m kernels.NAME --help``."""
