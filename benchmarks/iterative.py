"""Overhead of blockloop on convergence loops: conjugate gradients and Jacobi.

Each solver runs with tolerance 0 and an iteration cap sized so that plain numba takes
about ``--seconds`` (default 10 s); the runs alternate plain numba and blockloop
(``mtbf="1h"``: Daly's interval from the measured write cost) and the script prints each
one's median time and the median of the per-repetition ratios blockloop / plain numba.
Goal: ratio <= 1.05.

Plain numba's in-step reductions follow the thread count, blockloop's fixed tiles do
not, so the two need not agree in the last bits: only times are compared (and the
iteration counts printed).

    python benchmarks/iterative.py                 # sized for ~10 s of plain numba
    python benchmarks/iterative.py --seconds 3 --reps 3
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numba

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop
from kernels import cg as cg_module
from kernels import jacobi as jacobi_module

# (module, kernel, grid edge): the grid is fixed; the iteration cap sets the duration
SOLVERS = {
    "cg": (cg_module, cg_module.cg, 1024),
    "jacobi": (jacobi_module, jacobi_module.jacobi, 768),
}


def capped(module, steps: int, size: int) -> tuple:
    """The example's arguments with tolerance 0: the run stops at the iteration cap
    ``steps``, so the cap alone sets its duration."""
    *first, _tol, _maxit = module.make_args(steps, size)
    return (*first, 0.0, steps)


def sized(module, kernel, size: int, seconds: float) -> int:
    """The iteration cap whose plain run takes about ``seconds``, scaled from a short
    timed run."""
    probe = 200
    kernel.original(*capped(module, probe, size))  # compile
    t0 = time.perf_counter()
    kernel.original(*capped(module, probe, size))
    per_step = (time.perf_counter() - t0) / probe
    return max(probe, int(seconds / per_step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", choices=sorted(SOLVERS))
    args = parser.parse_args()
    print(f"{numba.get_num_threads()} threads, {args.reps} interleaved reps, MTBF 1 h")
    for name, (module, kernel, size) in SOLVERS.items():
        if args.only and name != args.only:
            continue
        steps = sized(module, kernel, size, args.seconds)
        blocked = checkpointed_loop(mtbf="1h", progress=False)(kernel.original)
        with tempfile.TemporaryDirectory(dir=".") as warm:  # compile the blocked module
            blocked.options = dataclasses.replace(blocked.options, checkpoint_dir=warm)
            blocked(*module.make_args(3, size))
        t_plain, t_blocked, ratios, ckpts, its = [], [], [], [], []
        for _ in range(args.reps):
            fresh = capped(module, steps, size)
            t0 = time.perf_counter()
            _, it_plain = kernel.original(*fresh)
            t1 = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=".") as root:
                blocked.options = dataclasses.replace(blocked.options, checkpoint_dir=root)
                fresh = capped(module, steps, size)
                t2 = time.perf_counter()
                _, it_blocked = blocked(*fresh)
                t3 = time.perf_counter()
                ckpts.append(blocked.last_report.checkpoints)
            t_plain.append(t1 - t0)
            t_blocked.append(t3 - t2)
            ratios.append((t3 - t2) / (t1 - t0))
            its.append((it_plain, it_blocked))
        print(
            f"{name} ({size}x{size}, {steps} iterations): plain median "
            f"{statistics.median(t_plain):.2f} s, blockloop median "
            f"{statistics.median(t_blocked):.2f} s, median ratio {statistics.median(ratios):.4f} "
            f"(per rep: {', '.join(f'{r:.4f}' for r in ratios)}); checkpoints per run {ckpts}; "
            f"iterations plain/blockloop {its[0]}"
        )


if __name__ == "__main__":
    main()
