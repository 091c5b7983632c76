"""Overhead of blockloop over plain numba on the pi kernel, with the default policy.

Prints the median ratio blockloop / plain numba over interleaved repetitions, with and
without ``fastmath``, the median durable commit time of a scalar-state checkpoint, and the
number of checkpoints each blocked run wrote. Goals: ratio <= 1.01 (<= 1.03 with
fastmath), commit <= 2 ms.

    python benchmarks/overhead.py            # n sized for >= 10 s of plain numba
    python benchmarks/overhead.py --n 1e9 --reps 3
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
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop
from blockloop.storage.manifest import Identity, RunState
from blockloop.storage.store import RunPaths, Store
from kernels.pi import pi


def make_pair(fastmath: bool):
    plain = njit(parallel=True, fastmath=fastmath, cache=True)(pi.py_func)
    return plain, checkpointed_loop(progress=False)(plain)


def commit_times(samples: int) -> list[float]:
    """Durable commits of a scalar-state checkpoint (a 30-deep pairwise stack of one float)."""
    with tempfile.TemporaryDirectory(dir=".") as root:
        store = Store(RunPaths(Path(root), "bench"), Identity("bench", "0" * 16), keep=2)
        times = []
        with store:
            stack = np.zeros((30, 1))
            for k in range(samples):
                stack[0, 0] = k
                _, seconds = store.save(
                    {"stack_total": stack.copy()}, RunState("bench", "tile", k, 10**9, "interval")
                )
                times.append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1.2e10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    n = int(args.n)
    print(f"pi(n={n:.3g}), {numba.get_num_threads()} threads, {args.reps} interleaved reps")
    for fastmath in (False, True):
        plain, _blocked = make_pair(fastmath)
        plain(1000)
        with tempfile.TemporaryDirectory(dir=".") as warm:
            checkpointed_loop(checkpoint_dir=warm, progress=False)(plain)(1000)
        ratios, t_plain, t_blocked, ckpts = [], [], [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            a = plain(n)
            t1 = time.perf_counter()
            with tempfile.TemporaryDirectory(dir=".") as root:
                kernel = checkpointed_loop(checkpoint_dir=root, progress=False)(plain)
                t2 = time.perf_counter()
                b = kernel(n)
                t3 = time.perf_counter()
                ckpts.append(kernel.last_report.checkpoints)
            t_plain.append(t1 - t0)
            t_blocked.append(t3 - t2)
            ratios.append((t3 - t2) / (t1 - t0))
            assert abs(a - b) <= 1e-9 * abs(a), (a, b)
        label = "fastmath=True " if fastmath else "fastmath=False"
        print(
            f"{label}: plain median {statistics.median(t_plain):.3f} s, blockloop median "
            f"{statistics.median(t_blocked):.3f} s, median ratio "
            f"{statistics.median(ratios):.4f} (per rep: {', '.join(f'{r:.4f}' for r in ratios)}), "
            f"checkpoints per run {ckpts}"
        )
    times = commit_times(200)
    print(
        "durable commit of a scalar-state checkpoint: "
        f"median {statistics.median(times) * 1e3:.2f} ms, "
        f"p90 {sorted(times)[int(0.9 * len(times))] * 1e3:.2f} ms over {len(times)} commits"
    )


if __name__ == "__main__":
    main()
