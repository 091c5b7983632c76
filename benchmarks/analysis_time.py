"""What blockloop's analysis adds to a kernel's first call, against numba's own compile.

For every kernel of the corpus (tests/corpus) and of kernels/, in one process: the time
blockloop takes to analyse and render the kernel with the globals of the moment (what
decoration and the first call each do once, before anything is compiled), and the time
numba takes to compile the original kernel for its arguments (a fresh dispatcher, no disk
cache). Printed: medians of 5 repetitions per kernel, and the ratio analysis / compile.
The goal: at most 0.2 (the analysis adds no more than 20 % to numba's compile time).

    python benchmarks/analysis_time.py            # every corpus kernel (a few minutes)
    python benchmarks/analysis_time.py --only 20  # the first 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import config
from blockloop.transform import read_source
from blockloop.view.blocked import block_alternatives
from blockloop.view.helpers import scope_of
from tests.corpus import all_cases


def analysis_seconds(func) -> float:
    """One analysis and rendering, as decoration and the first call do."""
    source = read_source(func)
    t0 = time.perf_counter()
    block_alternatives(func, source, scope_of(func), {}, config.exact())
    return time.perf_counter() - t0


def compile_seconds(func, args: tuple) -> float:
    """numba compiling the original kernel for ``args``, without its disk cache."""
    fresh = njit(parallel=True)(func)
    t0 = time.perf_counter()
    fresh.compile(tuple(fresh.typeof_pyval(a) for a in args))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, default=0, help="the first N kernels only")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    cases = [c for c in all_cases() if c.expect == "accept" and not c.gap]
    if args.only:
        cases = cases[: args.only]
    ratios = []
    print(f"{'kernel':<48} {'analysis ms':>12} {'numba compile ms':>17} {'ratio':>7}")
    for case in cases:
        func = case.kernel.py_func
        analysis = statistics.median(analysis_seconds(func) for _ in range(args.reps))
        built = case.args()
        compiling = statistics.median(compile_seconds(func, built) for _ in range(args.reps))
        ratios.append(analysis / compiling)
        print(f"{case.name:<48} {analysis * 1e3:12.1f} {compiling * 1e3:17.1f} {ratios[-1]:7.3f}")
    print(
        f"{len(ratios)} kernels: median ratio {statistics.median(ratios):.3f}, "
        f"largest {max(ratios):.3f} (goal: at most 0.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
