"""Peak resident memory of plain numba and of blockloop, each run in a process of its own.

Three shapes whose state is large: a time loop over two N x N plates (heat2d), a map loop
writing an N x N output row by row, and whole-state writes (rows written at permuted
indices, saved by changed blocks). Each process imports numba, makes its arguments, runs
the kernel once to compile it, then measures the peak RSS of a second call (the kernel's
arrays are made before the measured call in both). blockloop checkpoints at a fixed interval
short enough for several interval checkpoints. Printed: the peaks, blockloop's extra memory
against the goal of max(64 MiB, 10 % of the state), and how its checkpoints were written.

    python benchmarks/memory.py               # 4096 x 4096 float64: 128 MiB per array
    python benchmarks/memory.py --size 8192   # 512 MiB per array
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MiB = 1 << 20


@njit(parallel=True, cache=True)
def plates(u, steps):
    v = u.copy()
    for _t in range(steps):
        for i in prange(1, u.shape[0] - 1):
            for j in range(1, u.shape[1] - 1):
                v[i, j] = u[i, j] + 0.2 * (
                    u[i + 1, j] + u[i - 1, j] + u[i, j + 1] + u[i, j - 1] - 4.0 * u[i, j]
                )
        u, v = v, u
    return u


@njit(parallel=True, cache=True)
def rows(x, out, reps):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            acc = x[i, j]
            for _ in range(reps):
                acc = np.sqrt(acc * acc + 1.0)
            out[i, j] = acc
    return out


@njit(parallel=True, cache=True)
def permuted(x, perm, out, reps):
    for i in prange(x.shape[0]):
        k = perm[i]
        for j in range(x.shape[1]):
            acc = x[i, j]
            for _ in range(reps):
                acc = np.sqrt(acc * acc + 1.0)
            out[k, j] = acc
    return out


def _args(shape: str, n: int) -> tuple:
    g = np.random.default_rng(0)
    if shape == "time loop":
        return (g.random((n, n)), 40)
    x = g.random((n, n))
    if shape == "map loop":
        return (x, np.zeros((n, n)), 30)
    return (x, g.permutation(n), np.zeros((n, n)), 30)


KERNELS = {"time loop": plates, "map loop": rows, "whole-state arrays": permuted}


def child(shape: str, mode: str, n: int) -> dict:
    """One measurement, in this process: the peak RSS of the second call."""
    from blockloop import checkpointed_loop

    kernel = KERNELS[shape]
    with tempfile.TemporaryDirectory() as root:
        if mode == "blockloop":
            kernel = checkpointed_loop(checkpoint_dir=root, interval=0.3, progress=False)(kernel)
        small = _args(shape, 64)
        kernel(*small)  # compiled before the measurement
        args = _args(shape, n)
        state = sum(a.nbytes for a in args if isinstance(a, np.ndarray) and a.ndim == 2)
        if shape == "time loop":
            state *= 2  # the kernel's second plate
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        kernel(*args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        report = getattr(kernel, "last_report", None)
        writes = list(report.writes) if report is not None else []
    return {"peak": peak, "before": before, "state": state, "writes": writes}


def measure(shape: str, mode: str, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", shape, mode, str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BLOCKLOOP_PROGRESS": "0"},
    )
    return json.loads(out.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="N: arrays of N x N float64")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        shape, mode, n = args.child
        print(json.dumps(child(shape, mode, int(n))))
        return 0
    print(f"peak RSS, N = {args.size} (each run in its own process)")
    print(f"{'shape':<20} {'state':>9} {'plain':>9} {'blockloop':>10} {'extra':>9} {'goal':>9}"
          f" {'ratio':>6}  checkpoints")  # fmt: skip
    ok = True
    for shape in KERNELS:
        plain = measure(shape, "plain", args.size)
        ours = measure(shape, "blockloop", args.size)
        extra = ours["peak"] - plain["peak"]
        goal = max(64 * MiB, plain["state"] // 10)
        ok &= extra <= goal
        kinds = {w: ours["writes"].count(w) for w in dict.fromkeys(ours["writes"])}
        said = ", ".join(f"{k} {w}" for w, k in kinds.items()) or "none"
        print(
            f"{shape:<20} {plain['state'] / MiB:7.0f} M {plain['peak'] / MiB:7.0f} M "
            f"{ours['peak'] / MiB:8.0f} M {extra / MiB:7.0f} M {goal / MiB:7.0f} M "
            f"{ours['peak'] / plain['peak']:6.3f}  {said}"
        )
    print("within the goal for every shape" if ok else "OVER the goal for some shape")
    return 0


if __name__ == "__main__":
    sys.exit(main())
