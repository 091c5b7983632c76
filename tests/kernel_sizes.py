"""Test sizes of the example kernels (small enough for CI, large enough for many tiles).

Run as a script it computes every kernel once and prints one JSON object of exact result
identities, for the thread-count test."""

from __future__ import annotations

import importlib
import json

SIZES = {
    "pi": 3_000_000,
    "monte_carlo_pi": 1_000_000,
    "histogram": 400_000,
    "mandelbrot_area": 160_000,
    "nbody_energy": 1_500,
    "dot": 1_000_000,
    "option_price": 1_000_000,
    "features": 200_000,
    "scatter": 1_000_000,
    "fibonacci": 3_000_000,
    "heat2d": (300, 96),
    "life": (300, 96),
    "jacobi": (3_000, 48),
    "cg": (3_000, 64),
    "kmeans": (20_000, 8),
    "moments": 2_000_000,
}
SEQUENTIAL = {"fibonacci", "heat2d", "life", "jacobi"}
ITERATIVE = ("jacobi", "cg", "kmeans")  # convergence loops with reductions in each step


def load(name: str):
    """The kernel and a fresh set of its test arguments (arrays may be updated in place)."""
    module = importlib.import_module(f"kernels.{name}")
    size = SIZES[name]
    args = module.make_args(*size) if isinstance(size, tuple) else module.make_args(size)
    return getattr(module, name), args


if __name__ == "__main__":
    from blockloop.tools.selftest import describe

    out = {}
    import sys

    for name in sys.argv[1:] or SIZES:
        kernel, args = load(name)
        result = describe(kernel(*args))["hash"]
        out[name] = [result, *(describe(a)["hash"] for a in args if hasattr(a, "dtype"))]
    print(json.dumps(out))
