"""What the inspection pass costs (issue 29): a kernel whose elements each iteration finds
by computing their indices is checked at each call by a sequential pass over the indices
(:mod:`blockloop.transform.inspection`).

The kernel is a butterfly stage on a vector (pair ``k`` is ``a[j]``, ``a[j + h]`` with
``j = (k // h) * 2h + k % h``), rotating each pair by an angle that depends on ``k``.
Printed, as medians of interleaved repetitions: plain numba's call, blockloop's whole call
with the pass (and the arguments' fingerprint, the checkpoints and the rest), the pass
alone, and blockloop's call where an earlier pass over the same inputs stands (a new
``turns`` each time: a new run, but the pass reads only ``h`` and the shapes), each with
its ratio to plain numba.

    python benchmarks/inspection.py                 # 2**23 elements, 5 repetitions
    python benchmarks/inspection.py --log2n 20 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop
from blockloop.runtime import reduction, verdicts


def stage(a, h, turns):
    for k in prange(a.shape[0] // 2):
        j = (k // h) * (2 * h) + k % h
        t = turns * k / a.shape[0]
        c, s = np.cos(t), np.sin(t)
        x = a[j]
        y = a[j + h]
        a[j] = c * x - s * y
        a[j + h] = s * x + c * y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2n", type=int, default=23)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    n, h = 1 << args.log2n, 1 << 7
    plain = njit(parallel=True, cache=True)(stage)
    passes: list[float] = []
    inspect = reduction.ReductionKind.inspect

    def timed(self: reduction.ReductionKind) -> None:
        start = time.perf_counter()
        inspect(self)
        passes.append(time.perf_counter() - start)

    reduction.ReductionKind.inspect = timed  # type: ignore[method-assign]
    keyed = verdicts.inspected_key
    fresh = {"pass": True}  # True: no key, so the pass runs

    def key(*args: object) -> object:
        return None if fresh["pass"] else keyed(*args)  # type: ignore[arg-type]

    reduction.inspected_key = key  # type: ignore[assignment]
    with tempfile.TemporaryDirectory(dir=".") as root:
        blocked = checkpointed_loop(checkpoint_dir=root, progress=False)(plain)
        a = np.random.default_rng(1).standard_normal(n)
        fresh["pass"] = False  # and remember the pass's verdict for h
        plain(a.copy(), h, 3.0), blocked(a.copy(), h, 3.0)  # compile both
        passes.clear()
        blocked_passes: list[float] = []
        plain_times, blocked_times, reused_times = [], [], []
        runs = ((plain, plain_times, True), (blocked, blocked_times, True))
        for rep in range(args.reps):
            for kernel, times, ran in (*runs, (blocked, reused_times, False)):
                x = a.copy()
                fresh["pass"] = ran
                start = time.perf_counter()
                kernel(x, h, 3.0 + rep + 0.5 * ran)  # a new argument each time: a new run
                times.append(time.perf_counter() - start)
                if kernel is blocked:
                    assert blocked.last_report.inspection == ("ran" if ran else "reused")
                    if ran:
                        del passes[:-1]  # the pass of this call only
                        blocked_passes.append(passes.pop())
                    passes.clear()
    p, b, s, r = (
        statistics.median(t) for t in (plain_times, blocked_times, blocked_passes, reused_times)
    )
    print(f"{n} elements, {numba.get_num_threads()} threads, {args.reps} repetitions")
    print(f"plain numba        {p * 1e3:8.1f} ms")
    print(f"blockloop          {b * 1e3:8.1f} ms   ratio {b / p:.2f}")
    print(f"  inspection pass  {s * 1e3:8.1f} ms   ratio {s / p:.2f} of plain numba")
    print(f"blockloop, reused  {r * 1e3:8.1f} ms   ratio {r / p:.2f}")


if __name__ == "__main__":
    main()
