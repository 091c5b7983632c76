"""MPI: the cost of combining rounds across ranks, and ranks vs threads for pi.

Prints (a) the time rank 0 spends in the per-round combination (gathering the segment
nodes, folding them, agreeing on signals and the next round) as a fraction of its chunk
time (goal <= 1 %), with the time it waited for the slower rank first (load imbalance,
shown separately), and (b) the parallel efficiency of pi with 2 ranks x 1 thread against
1 rank x 2 threads (time ratio, interleaved repetitions, medians).

    python benchmarks/mpi_overhead.py                 # n = 6e9 (about 5 s per run here)
    python benchmarks/mpi_overhead.py --n 2e10 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(ranks: int, threads: int, n: int, root: str) -> dict:
    """Rank 0's output of one job (its report's compute time excludes start-up)."""
    cmd = [sys.executable, "-m", "kernels.pi", "--json", "--n", str(n), "--checkpoint-dir", root]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
        cmd = [mpiexec or "mpiexec", "-n", str(ranks), *cmd]
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=6e9)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    n = int(args.n)
    with tempfile.TemporaryDirectory(prefix="blockloop-mpi-") as tmp:
        run(2, 1, 10**6, f"{tmp}/warm")  # compile once into the shared cache
        run(1, 2, 10**6, f"{tmp}/warm1")
        mpi, threads, fractions, waits, compute = [], [], [], [], []
        for rep in range(args.reps):
            data = run(2, 1, n, f"{tmp}/mpi{rep}")
            r = data["report"]
            assert r["ranks"] == 2
            mpi.append(r["compute_time"])
            chunk = r["compute_time"] - r["combine_time"] - r["wait_time"]
            fractions.append(r["combine_time"] / chunk)
            waits.append(r["wait_time"] / chunk)
            compute.append(data["hash"])
            data = run(1, 2, n, f"{tmp}/thr{rep}")
            threads.append(data["report"]["compute_time"])
            compute.append(data["hash"])
        print(f"pi(n={n:.3g}), {args.reps} interleaved repetitions")
        print(
            f"(a) combination across ranks: median {statistics.median(fractions):.3%} of chunk "
            f"time (per rep: {', '.join(f'{f:.3%}' for f in fractions)}); waiting for the "
            f"slower rank before it (imbalance): median {statistics.median(waits):.2%}"
        )
        ratio = statistics.median(threads) / statistics.median(mpi)
        print(
            f"(b) 2 ranks x 1 thread: median {statistics.median(mpi):.2f} s; 1 rank x 2 "
            f"threads: median {statistics.median(threads):.2f} s; efficiency of ranks vs "
            f"threads {ratio:.3f}"
        )
        print(f"result bits identical across all runs: {len(set(compute)) == 1}")


if __name__ == "__main__":
    main()
