"""What exactness costs: ``exact=True`` against the default sums, and blockloop.random
against a SplitMix64 hash.

1. ``pi`` (compute-bound) and ``dot`` (memory-bound), and the ``histogram`` (indexed
   updates), each blocked twice -- the default pairwise sums and ``exact=True`` -- and run
   alternately on the same arguments with fresh checkpoint directories; the table has the
   medians of each and of the per-repetition ratios. Goals: pi <= 1.25, dot <= 1.5.
2. ``monte_carlo_pi`` as plain numba on :mod:`blockloop.random` (Philox4x32-10) against
   the same kernel drawing from the SplitMix64 finaliser that the example used before
   (defined here), alternating. Goal <= 1.3.

Each kernel is sized so that its default (or SplitMix) run takes about ``--seconds``
(``dot`` at most ``--dot-gib`` of arguments).

    python benchmarks/exact.py
    python benchmarks/exact.py --seconds 1 --reps 5
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop

SUMS = {"pi": 10**8, "dot": 10**7, "histogram": 10**7}  # name -> probe size

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def _splitmix_uniform(seed, counter):
    """A double in [0, 1) from SplitMix64's output function of (seed, counter)."""
    z = np.uint64(seed) * _GAMMA + np.uint64(counter)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * _INV53


@njit(parallel=True, cache=True)
def monte_carlo_pi_splitmix(n, seed):
    inside = 0
    for i in prange(n):
        x = _splitmix_uniform(seed, 2 * i)
        y = _splitmix_uniform(seed, 2 * i + 1)
        if x * x + y * y < 1.0:
            inside += 1
    return 4.0 * inside / n


def _timed(fn: Callable, *args: object) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _size(run: Callable[[int], float], probe: int, seconds: float) -> int:
    run(max(2, probe // 1000))  # compile
    return max(probe, int(probe * seconds / run(probe)))


def exact_sums(name: str, seconds: float, reps: int, most: int) -> dict:
    """Default and exact=True blockloop runs of one example kernel, alternating."""
    module = importlib.import_module(f"kernels.{name}")
    original = getattr(module, name).original
    with tempfile.TemporaryDirectory(dir=".") as root:
        kernels = {
            exact: checkpointed_loop(exact=exact, checkpoint_dir=root, progress=False)(original)
            for exact in (False, True)
        }
        count = iter(range(10**9))

        def run(kernel, args) -> float:
            # a directory of its own per call: every call is a fresh run
            kernel.options = dataclasses.replace(
                kernel.options, checkpoint_dir=f"{root}/{next(count)}"
            )
            return _timed(kernel, *args)

        for kernel in kernels.values():
            run(kernel, module.make_args(1000))  # compile
        n = _size(lambda m: run(kernels[False], module.make_args(m)), SUMS[name], seconds)
        n = min(n, most)
        args = module.make_args(n)
        default_t, exact_t = [], []
        for _ in range(reps):
            default_t.append(run(kernels[False], args))
            exact_t.append(run(kernels[True], args))
    return _summary(n, default_t, exact_t)


def generators(seconds: float, reps: int) -> dict:
    """monte_carlo_pi on blockloop.random against the SplitMix64 version, plain numba."""
    from kernels.monte_carlo_pi import monte_carlo_pi

    philox = monte_carlo_pi.original
    philox(1000, 2024)
    n = _size(lambda m: _timed(monte_carlo_pi_splitmix, m, 2024), 10**7, seconds)
    split_t, philox_t = [], []
    for _ in range(reps):
        split_t.append(_timed(monte_carlo_pi_splitmix, n, 2024))
        philox_t.append(_timed(philox, n, 2024))
    return _summary(n, split_t, philox_t)


def _summary(n: int, base: list[float], other: list[float]) -> dict:
    ratios = [o / b for b, o in zip(base, other, strict=True)]
    return {
        "n": n,
        "base": statistics.median(base),
        "other": statistics.median(other),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=[*SUMS, "monte_carlo_pi"])
    parser.add_argument("--dot-gib", type=float, default=2.0, help="dot's two arguments, GiB")
    args = parser.parse_args()
    print(f"{numba.get_num_threads()} threads, {args.reps} interleaved reps, medians")
    head = f"{'kernel':<16} {'size':>10} {'default s':>9} {'exact s':>8} {'ratio':>6}  goal"
    print(head + "  per rep")
    goals = {"pi": 1.25, "dot": 1.5, "histogram": None, "monte_carlo_pi": 1.3}
    for name in args.only or [*SUMS, "monte_carlo_pi"]:
        if name == "monte_carlo_pi":
            print(f"{'':<16} {'':>10} {'splitmix':>9} {'philox':>8}")
            r = generators(args.seconds, args.reps)
        else:
            most = int(args.dot_gib * 2**30 / 16) if name == "dot" else 2**62
            r = exact_sums(name, args.seconds, args.reps, most)
        goal = goals[name]
        reps = ", ".join(f"{x:.3f}" for x in r["ratios"])
        print(
            f"{name:<16} {r['n']:>10.3g} {r['base']:>9.3f} {r['other']:>8.3f} "
            f"{r['ratio']:>6.3f}  {'' if goal is None else f'<= {goal}':<7} {reps}",
            flush=True,
        )


if __name__ == "__main__":
    main()
