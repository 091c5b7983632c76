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
}


def load(name: str):
    module = importlib.import_module(f"kernels.{name}")
    return getattr(module, name), module.make_args(SIZES[name])


if __name__ == "__main__":
    from kernels._cli import describe

    out = {}
    for name in SIZES:
        kernel, args = load(name)
        out[name] = describe(kernel(*args))["hash"]
    print(json.dumps(out))
