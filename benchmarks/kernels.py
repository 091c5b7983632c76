"""Every example kernel: blockloop / plain numba, one table.

Each kernel is sized so that plain numba takes about ``--seconds`` (default 3 s): a short
timed probe, its problem size scaled, timed and scaled again (memory-bound ``dot`` is as
large as ``--dot-gib`` of arguments allows). The runs alternate plain numba and blockloop (default
policy: MTBF 24 h, Daly's interval from the measured write cost), each on fresh arguments
and, for blockloop, a fresh checkpoint directory; the table has the medians of each and
the median of the per-repetition ratios. Goal: every ratio <= 1.03. ``kmeans`` runs a
fixed number of iterations (see ``CAPPED``).

The histogram is also timed against a correct plain-numba version (a private histogram
per thread, summed at the end), since plain numba's racy ``h[k] += w`` loses updates.
Convergence loops (``jacobi``, ``cg``) are sized by their iteration cap on a large grid, so
that the cap, not the tolerance, ends them.

    python benchmarks/kernels.py                      # every kernel, ~3 s each, 3 reps
    python benchmarks/kernels.py --only pi dot --reps 5
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# name -> (probe size, extra make_args arguments, how time grows with the size)
KERNELS: dict[str, tuple[int, tuple, float]] = {
    "pi": (10**8, (), 1.0),
    "monte_carlo_pi": (10**7, (), 1.0),
    "option_price": (10**7, (), 1.0),
    "histogram": (10**7, (), 1.0),
    "mandelbrot_area": (10**5, (), 1.0),
    "nbody_energy": (3_000, (), 2.0),
    "dot": (10**7, (), 1.0),
    "features": (10**6, (), 1.0),
    "scatter": (10**6, (), 1.0),
    "moments": (10**7, (), 1.0),
    "fibonacci": (10**7, (), 1.0),
    "heat2d": (50, (1024,), 1.0),
    "life": (50, (1024,), 1.0),
    "jacobi": (200, (768,), 1.0),
    "cg": (50, (1024,), 1.0),
    "kmeans": (10**5, (16,), 1.0),
}

CAPPED = {"kmeans": 30}
"""Kernels run for a fixed number of iterations (their last argument): plain numba's
``kmeans`` races on ``counts[c] += 1`` and never converges (it runs to its cap of 1,000
iterations, blockloop's converges in 60-300), so both are capped below convergence and do
the same work; a line under the table says so if they did not."""


def make_args(module, name: str, n: int) -> tuple:
    """The kernel's arguments at size ``n`` (its iteration cap replaced where capped)."""
    args = module.make_args(n, *KERNELS[name][1])
    return (*args[:-1], CAPPED[name]) if name in CAPPED else args


@njit(parallel=True)  # not cached: get_num_threads is a dynamic global to numba's cache
def histogram_private(x, w, nbins, lo, hi):
    """A correct plain-numba histogram: one private histogram per thread, then summed."""
    threads = numba.get_num_threads()
    parts = np.zeros((threads, nbins))
    n = x.shape[0]
    scale = nbins / (hi - lo)
    for t in prange(threads):
        for i in range(t * n // threads, (t + 1) * n // threads):
            v = (x[i] - lo) * scale
            if v >= 0.0 and v < nbins:
                parts[t, int(v)] += w[i]
    h = np.zeros(nbins)
    for t in range(threads):
        h += parts[t]
    return h


def _load(name: str):
    module = importlib.import_module(f"kernels.{name}")
    return module, getattr(module, name)


def sized(name: str, seconds: float, dot_bytes: float) -> int:
    """The size at which plain numba takes about ``seconds``: scaled from a short timed
    probe, then once more from a run at that size (a probe's first steps run slower,
    their memory still being mapped, so one scaling alone falls short)."""
    module, kernel = _load(name)
    probe, _, power = KERNELS[name]
    kernel.original(*make_args(module, name, max(2, probe // 100)))  # compile
    n = probe
    for _ in range(2):
        args = make_args(module, name, n)
        t0 = time.perf_counter()
        kernel.original(*args)
        took = time.perf_counter() - t0
        n = max(probe, int(n * (seconds / took) ** (1.0 / power)))
        if name == "dot":
            n = min(n, int(dot_bytes / 16))  # two float64 arrays
    return n


def measure(name: str, n: int, reps: int) -> dict:
    """Interleaved plain and blockloop runs of one kernel at size ``n``."""
    module, kernel = _load(name)
    blocked = kernel
    with tempfile.TemporaryDirectory(dir=".") as warm:  # compile (or load) the blocked code
        blocked.options = dataclasses.replace(blocked.options, checkpoint_dir=warm, progress=False)
        blocked(*make_args(module, name, max(2, KERNELS[name][0] // 100)))
    plain_t, blocked_t, ratios, private_t = [], [], [], []
    same_work = True
    for _ in range(reps):
        args = make_args(module, name, n)
        t0 = time.perf_counter()
        plain_result = kernel.original(*args)
        plain_t.append(time.perf_counter() - t0)
        if name == "histogram":
            args = make_args(module, name, n)
            t0 = time.perf_counter()
            histogram_private(*args)
            private_t.append(time.perf_counter() - t0)
        args = make_args(module, name, n)
        with tempfile.TemporaryDirectory(dir=".") as root:
            blocked.options = dataclasses.replace(blocked.options, checkpoint_dir=root)
            t0 = time.perf_counter()
            blocked_result = blocked(*args)
            blocked_t.append(time.perf_counter() - t0)
        if name in CAPPED:  # both ran to the cap: (labels, iterations)
            same_work &= plain_result[1] == blocked_result[1] == CAPPED[name]
        ratios.append(blocked_t[-1] / plain_t[-1])
    out = {
        "n": n,
        "plain": statistics.median(plain_t),
        "blockloop": statistics.median(blocked_t),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "same_work": same_work,
    }
    if private_t:
        out["private"] = statistics.median(private_t)
        out["ratio_private"] = statistics.median(
            b / p for b, p in zip(blocked_t, private_t, strict=True)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dot-gib", type=float, default=6.0)
    parser.add_argument("--only", nargs="*", choices=sorted(KERNELS))
    args = parser.parse_args()
    histogram_private(np.zeros(4), np.ones(4), 4, -1.0, 1.0)
    print(f"{numba.get_num_threads()} threads, {args.reps} interleaved reps, medians")
    print(f"{'kernel':<16} {'size':>12} {'plain s':>8} {'blockloop s':>11} {'ratio':>7}  per rep")
    for name in args.only or KERNELS:
        n = sized(name, args.seconds, args.dot_gib * 2**30)
        r = measure(name, n, args.reps)
        reps = ", ".join(f"{x:.3f}" for x in r["ratios"])
        print(
            f"{name:<16} {n:>12.4g} {r['plain']:>8.3f} {r['blockloop']:>11.3f} "
            f"{r['ratio']:>7.3f}  {reps}"
            + (f"  ({CAPPED[name]} iterations each)" if name in CAPPED else ""),
            flush=True,
        )
        if not r["same_work"]:
            print(f"  {name}: the two did not run the same iterations; its ratio means nothing")
        if "private" in r:
            print(
                f"{'  vs private':<16} {'':>12} {r['private']:>8.3f} {r['blockloop']:>11.3f} "
                f"{r['ratio_private']:>7.3f}  (correct plain numba: a histogram per thread)"
            )


if __name__ == "__main__":
    main()
