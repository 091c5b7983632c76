"""Every example kernel: blockloop / plain numba, one table.

Each kernel is sized so that plain numba takes about ``--seconds`` (default 3 s): a short
timed probe, its problem size scaled, timed and scaled again (memory-bound ``dot`` is as
large as ``--dot-gib`` of arguments allows, and called on them until it has taken as long).
The runs alternate plain numba and blockloop (default
policy: MTBF 24 h, Daly's interval from the measured write cost), each on fresh arguments
(the runs of a repetition share them for the kernels in ``SHARED``) and, for blockloop, a
fresh checkpoint directory; the table has the medians of each and
the median of the ratios of pairs of repetitions. Goal: every ratio <= 1.03. The order of
the two alternates from one repetition to the next, and a pair's ratio is blockloop's time
over plain numba's, each summed over the pair (ABBA): on this machine the second of two
runs was often a few per cent slower than the first, whichever it was, and a pair holds
each in each place once. An odd ``--reps`` is rounded up. ``kmeans`` runs a
fixed number of iterations (see ``CAPPED``).

The histogram is also timed against a correct plain-numba version (a private histogram
per thread, summed at the end), since plain numba's racy ``h[k] += w`` loses updates: in
pairs of their own, each run calling the kernel until about ``--seconds`` have passed (a
call takes a sixth of the racy version's), times per call in the table.
Convergence loops (``jacobi``, ``cg``) are sized by their iteration cap on a large grid, so
that the cap, not the tolerance, ends them.

    python benchmarks/kernels.py                      # every kernel, ~3 s each, 6 reps
    python benchmarks/kernels.py --only pi dot --reps 10
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
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


SHARED = {"dot", "histogram"}
"""Memory-bound kernels that only read their arguments: the runs of a repetition (and the
histogram's private-copy version) read the same arrays. Fresh arrays of 6 GiB for each run
made a ``dot`` call vary by +-20 % (0.27-0.40 s) with where their pages fell; the same
arrays, by 1-2 %."""


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


def sized(name: str, seconds: float, dot_bytes: float) -> tuple[int, int]:
    """The size at which plain numba takes about ``seconds``, and the calls a timed run
    makes: scaled from a short timed probe, then once more from a run at that size (a
    probe's first steps run slower, their memory still being mapped, so one scaling alone
    falls short). Only ``dot`` makes several calls: its size is capped by memory, so a
    timed run calls it on the same arguments until plain numba has taken ``seconds``."""
    module, kernel = _load(name)
    probe, _, power = KERNELS[name]
    kernel.original(*make_args(module, name, max(2, probe // 100)))  # compile
    n, calls = probe, 1
    for _ in range(2):
        args = None
        args = make_args(module, name, n)
        t0 = time.perf_counter()
        kernel.original(*args)
        took = time.perf_counter() - t0
        if name == "dot":
            calls = max(1, math.ceil(seconds / took * n / min(n, int(dot_bytes / 16))))
            n = min(int(n * seconds / took), int(dot_bytes / 16))  # two float64 arrays
        else:
            n = max(probe, int(n * (seconds / took) ** (1.0 / power)))
    return n, calls


def _timed(function, args: tuple, calls: int) -> tuple[object, float]:
    """``function(*args)`` called ``calls`` times: its last result, and the seconds."""
    t0 = time.perf_counter()
    for _ in range(calls):
        result = function(*args)
    return result, time.perf_counter() - t0


class FreshRuns:
    """Calls a blockloop kernel, each call a fresh run in a checkpoint directory of its own
    under ``root`` (the same arguments again would find the completed run)."""

    def __init__(self, kernel, root: str) -> None:
        self.kernel, self.root, self.calls = kernel, Path(root), 0

    def __call__(self, *args):
        self.calls += 1
        where = self.root / str(self.calls)
        self.kernel.options = dataclasses.replace(self.kernel.options, checkpoint_dir=where)
        return self.kernel(*args)


def measure(name: str, n: int, calls: int, reps: int, seconds: float) -> dict:
    """Interleaved plain and blockloop runs of one kernel at size ``n``, ``calls`` calls
    each (blockloop's each a fresh run, in a checkpoint directory of its own). The
    histogram's correct plain version runs in pairs of its own with blockloop, each run
    calling them until about ``seconds`` have passed."""
    module, kernel = _load(name)
    blocked = kernel
    with tempfile.TemporaryDirectory(dir=".") as warm:  # compile (or load) the blocked code
        blocked.options = dataclasses.replace(blocked.options, checkpoint_dir=warm, progress=False)
        blocked(*make_args(module, name, max(2, KERNELS[name][0] // 100)))
    plain_t, blocked_t, ratios = [], [], []
    private_t, vs_private_t, private_ratios = [], [], []
    private_calls = 0
    if name == "histogram":  # as many calls of the correct version as take plain's time
        took = _timed(histogram_private, make_args(module, name, n), 1)[1]
        private_calls = max(1, round(seconds / took))
    same_work = True
    for rep in range(reps + reps % 2):
        results = {}
        # ABBA: the order alternates, so that a drift of the machine's speed cancels out
        if name in SHARED:
            args = None  # the last run's arguments are freed before the next are made
            args = make_args(module, name, n)
        for which in ("plain", "blocked") if rep % 2 == 0 else ("blocked", "plain"):
            if name not in SHARED:
                args = None
                args = make_args(module, name, n)
            if which == "plain":
                results[which], took = _timed(kernel.original, args, calls)
                plain_t.append(took)
                continue
            with tempfile.TemporaryDirectory(dir=".") as root:
                results[which], took = _timed(FreshRuns(blocked, root), args, calls)
                blocked_t.append(took)
        if name in CAPPED:  # both ran to the cap: (labels, iterations)
            same_work &= results["plain"][1] == results["blocked"][1] == CAPPED[name]
        if private_calls:  # the correct plain version: a pair of its own, as long as the rest
            for which in ("private", "blocked") if rep % 2 == 0 else ("blocked", "private"):
                if which == "private":
                    private_t.append(_timed(histogram_private, args, private_calls)[1])
                    continue
                with tempfile.TemporaryDirectory(dir=".") as root:
                    vs_private_t.append(_timed(FreshRuns(blocked, root), args, private_calls)[1])
        if rep % 2 == 1:  # a pair of repetitions, one of each order
            ratios.append(sum(blocked_t[-2:]) / sum(plain_t[-2:]))
            if private_calls:
                private_ratios.append(sum(vs_private_t[-2:]) / sum(private_t[-2:]))
    out = {
        "n": n,
        "plain": statistics.median(plain_t),
        "blockloop": statistics.median(blocked_t),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "same_work": same_work,
    }
    if private_calls:  # seconds per call
        out["private"] = statistics.median(private_t) / private_calls
        out["vs_private"] = statistics.median(vs_private_t) / private_calls
        out["ratio_private"] = statistics.median(private_ratios)
        out["private_ratios"] = private_ratios
        out["private_calls"] = private_calls
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=6)
    parser.add_argument("--dot-gib", type=float, default=6.0)
    parser.add_argument("--only", nargs="*", choices=sorted(KERNELS))
    args = parser.parse_args()
    histogram_private(np.zeros(4), np.ones(4), 4, -1.0, 1.0)
    reps = args.reps + args.reps % 2
    print(f"{numba.get_num_threads()} threads, {reps} interleaved reps (ABBA pairs), medians")
    print(f"{'kernel':<16} {'size':>12} {'plain s':>8} {'blockloop s':>11} {'ratio':>7}  per pair")
    for name in args.only or KERNELS:
        n, calls = sized(name, args.seconds, args.dot_gib * 2**30)
        r = measure(name, n, calls, args.reps, args.seconds)
        pairs = ", ".join(f"{x:.3f}" for x in r["ratios"])
        print(
            f"{name:<16} {n:>12.4g} {r['plain']:>8.3f} {r['blockloop']:>11.3f} "
            f"{r['ratio']:>7.3f}  {pairs}"
            + (f"  ({CAPPED[name]} iterations each)" if name in CAPPED else "")
            + (f"  ({calls} calls a run)" if calls > 1 else ""),
            flush=True,
        )
        if not r["same_work"]:
            print(f"  {name}: the two did not run the same iterations; its ratio means nothing")
        if "private" in r:
            print(
                f"{'  vs private':<16} {'':>12} {r['private']:>8.3f} {r['vs_private']:>11.3f} "
                f"{r['ratio_private']:>7.3f}  "
                + ", ".join(f"{x:.3f}" for x in r["private_ratios"])
                + f"  (a histogram per thread; {r['private_calls']} calls a run)"
            )


if __name__ == "__main__":
    main()
