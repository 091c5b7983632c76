"""What blockloop's analysis adds to a kernel's first call, against numba's own compile.

For every kernel of the corpus (tests/corpus), in one process, three times:

- **typed view**: numba's front end and type inference run on the original kernel for the
  call's argument types, and on the functions it calls for their calls' types
  (``view/typed.py``, without its disk cache): what the first call adds to numba's own
  work on a cold cache;
- **analysis**: blockloop analysing and rendering the kernel twice, without types (as at
  decoration) and with the typed view (as at the first call);
- **numba compile**: numba compiling the original kernel for the same arguments (a fresh
  dispatcher, no disk cache).

Printed: medians of 5 repetitions per kernel, and the ratio (typed view + analysis) /
compile. With ``--fresh N``, also the first call of the decorated kernel in fresh
processes with a cold numba cache, for the first N kernels, with the typed view and with
it turned off (interleaved, medians of ``--reps``): the whole first-call cost it adds,
helpers and overloads compiled for typing included.

The goal: at most 0.2 (no more than 20 % added to numba's compile time). Helpers
the kernel calls are compiled once in the process by whichever runs first, then reused by
both, as in a real first call (the typed view compiles them, the compile then reuses them).

    python benchmarks/analysis_time.py            # every corpus kernel (a few minutes)
    python benchmarks/analysis_time.py --only 20  # the first 20
    python benchmarks/analysis_time.py --only 0 --fresh 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import config
from blockloop.transform import read_source
from blockloop.view import typed
from blockloop.view.blocked import block_alternatives, block_at_decoration
from blockloop.view.helpers import scope_of
from tests.corpus import all_cases


def typed_seconds(func, args: tuple) -> tuple[float, typed.NameTypes]:
    """numba's typed view of ``func`` for ``args``, computed (not read from its cache)."""
    t0 = time.perf_counter()
    argtypes = typed.argument_types(args)
    view = typed._infer(func, read_source(func), argtypes, {}, ", ".join(map(str, argtypes)))
    return time.perf_counter() - t0, view


def analysis_seconds(func, view: typed.NameTypes) -> float:
    """The analysis and rendering at decoration (no types) and at the first call."""
    source = read_source(func)
    t0 = time.perf_counter()
    block_at_decoration(func, source, scope_of(func), {}, config.exact())
    block_alternatives(func, source, scope_of(func), {}, config.exact(), view)
    return time.perf_counter() - t0


def compile_seconds(func, args: tuple) -> float:
    """numba compiling the original kernel for ``args``, without its disk cache."""
    fresh = njit(parallel=True)(func)
    t0 = time.perf_counter()
    fresh.compile(tuple(fresh.typeof_pyval(a) for a in args))
    return time.perf_counter() - t0


_FIRST_CALL = """
import sys, time
import blockloop, blockloop.kernel
from blockloop.transform.types import UNKNOWN
from tests.corpus import all_cases
spent = [0.0]
def timed(*a, view=blockloop.kernel.typed_view):
    t0 = time.perf_counter()
    out = view(*a)
    spent[0] += time.perf_counter() - t0
    return out
blockloop.kernel.typed_view = timed if sys.argv[2] == "on" else (lambda *a: UNKNOWN)
case = next(c for c in all_cases() if c.name == sys.argv[1])
kernel = blockloop.checkpointed_loop(case.kernel)
args = case.args()
t0 = time.perf_counter()
kernel(*args)
print(time.perf_counter() - t0, spent[0])
"""


def first_call_seconds(name: str, view: str) -> tuple[float, float]:
    """The decorated kernel's first call in a fresh process with a cold cache, and the
    part of it spent in the typed view."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "BLOCKLOOP_CACHE_DIR": tmp,
            "BLOCKLOOP_DIR": tmp,
            "NUMBA_CACHE_DIR": tmp,
            "PYTHONPATH": str(root),
        }
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_CALL, name, view],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        )
    total, typing = out.stdout.split()[-2:]
    return float(total), float(typing)


def fresh_processes(cases: list, reps: int) -> None:
    print(
        f"\n{'first call, cold cache':<40} {'view on s':>9} {'off s':>7} {'on/off':>7} "
        f"{'in view s':>9} {'view/off':>8}"
    )
    totals, shares = [], []
    for case in cases:
        on, off, view = [], [], []
        for _ in range(reps):  # interleaved
            total, typing = first_call_seconds(case.name, "on")
            on.append(total)
            view.append(typing)
            off.append(first_call_seconds(case.name, "off")[0])
        a, b, v = statistics.median(on), statistics.median(off), statistics.median(view)
        totals.append(a / b)
        shares.append(v / b)
        print(f"{case.name:<40} {a:9.2f} {b:7.2f} {a / b:7.3f} {v:9.3f} {v / b:8.3f}")
    print(
        f"{len(totals)} kernels: median first call with / without the view "
        f"{statistics.median(totals):.3f}; median time in the view / first call without it "
        f"{statistics.median(shares):.3f} (goal: at most 0.2)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, default=None, help="the first N kernels only")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=0, help="first calls in fresh processes")
    args = parser.parse_args(argv)
    every = [c for c in all_cases() if c.expect == "accept" and not c.gap]
    if args.fresh:
        fresh_processes(every[: args.fresh], args.reps)
    cases = every if args.only is None else every[: args.only]
    if not cases:
        return 0
    ratios = []
    untyped = 0
    head = f"{'kernel':<44} {'typed view ms':>13} {'analysis ms':>11} {'numba compile ms':>16}"
    print(f"{head} {'ratio':>6}")
    for case in cases:
        func = case.kernel.py_func
        built = case.args()
        views = [typed_seconds(func, built) for _ in range(args.reps)]
        view = views[-1][1]
        untyped += not view.typed
        viewing = statistics.median(t for t, _ in views)
        analysis = statistics.median(analysis_seconds(func, view) for _ in range(args.reps))
        compiling = statistics.median(compile_seconds(func, built) for _ in range(args.reps))
        ratios.append((viewing + analysis) / compiling)
        print(
            f"{case.name:<44} {viewing * 1e3:13.1f} {analysis * 1e3:11.1f} "
            f"{compiling * 1e3:16.1f} {ratios[-1]:6.3f}"
        )
    print(
        f"{len(ratios)} kernels ({untyped} that numba's front end could not type this way): "
        f"median ratio {statistics.median(ratios):.3f}, largest {max(ratios):.3f} "
        "(goal: at most 0.2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
