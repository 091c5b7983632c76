"""MPI overhead of each distributed loop shape: 2 ranks x 1 thread against 1 rank x 2 threads.

``python benchmarks/mpi_overhead.py`` launches, interleaved and ``--repeat`` times each, the
map kernel ``features`` (a map beside a reduction), the stencil ``heat2d`` (two buffers, one
halo row each side), the time loops with reductions in every step ``jacobi`` (a residual
``max``) and ``cg`` (dot products; both ``while`` loops, here run to their step limit),
``kmeans`` (labels written by rows, sums and counts reduced, run to convergence), the kernel
of two phases ``moments`` (the second reduction uses the first's result) and the reduction
``pi`` (``--only`` picks some):

- one process with 2 numba threads (no launcher), and
- ``mpiexec -n 2`` with 1 numba thread per rank,

and prints the median seconds of the blocked call (after a warm-up call that compiles it,
each rank timed from a barrier to its return, the slowest rank counted), their ratio
(throughput of 2 ranks over 1 rank; the goal is at least 0.9 for the map and the stencil),
the time rank 0 spent combining across ranks (gathering nodes, the halo exchange,
agreeing on stops) as a fraction of its chunks, the bytes each rank sent and wrote in the
timed call (which ends by giving every rank the whole output), and the bytes rank 0 sends
while the loop runs, per step or tile, against the output's size (counted in one more,
untimed call with ``gather="own"``, which leaves each rank its own rows: a map sends only
its reductions' partials, a stencil only its halo rows).

Run as a worker (``mpiexec -n R python benchmarks/mpi_overhead.py --worker NAME N SIZE``), it
times one call and rank 0 prints one JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    "features": (1_500_000, {}),
    "heat2d": (300, {"size": 3000}),
    "jacobi": (1000, {"size": 1500}),
    "cg": (600, {"size": 1500}),
    "kmeans": (500_000, {"size": 16}),
    "moments": (60_000_000, {}),
    "pi": (2_000_000_000, {}),
}
WHAT = {
    "features": "map + reduction",
    "heat2d": "stencil",
    "jacobi": "stencil, max in each step",
    "cg": "dot products in each step",
    "kmeans": "map, sums, break",
    "moments": "two phases",
    "pi": "reduction",
}


def worker(name: str, n: int, size: int | None) -> None:
    """Time one call of ``kernels.NAME`` on this rank; rank 0 prints the job's figures.

    Over several ranks, one more call (untimed, ``gather="own"``) counts the bytes rank 0
    sends while the loop runs."""
    sys.path.insert(0, str(ROOT))  # the examples, not benchmarks/kernels.py beside this file
    module = importlib.import_module(f"kernels.{name}")
    kernel = getattr(module, name)
    root = tempfile.mkdtemp(prefix="bl-mpi-bench-") if _rank() == 0 else ""
    comm = None
    if int(os.environ.get("PMI_SIZE", "1")) > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        root = comm.bcast(root, root=0)
    os.environ["BLOCKLOOP_DIR"] = root
    extra = {"size": size} if size else {}
    kernel(*module.make_args(max(n // 100, 1), **extra))  # compile (or load) the functions
    if comm is not None:
        comm.Barrier()
    t0 = time.perf_counter()
    result = kernel(*module.make_args(n, **extra))
    elapsed = time.perf_counter() - t0
    report = kernel.last_report
    chunks = report.compute_time - report.combine_time - report.wait_time
    mine = {
        "seconds": elapsed,
        "sent": report.bytes_sent,
        "written": report.bytes_written,
        "combine": report.combine_time / chunks if chunks > 0 else 0.0,
    }
    if comm is not None:  # what the loop sends, without the final gather
        kernel.options = dataclasses.replace(kernel.options, gather="own")
        os.environ["BLOCKLOOP_DIR"] = os.path.join(root, "own")
        kernel(*module.make_args(n, **extra))
        mine["running"] = kernel.last_report.bytes_sent
        mine["units"] = f"{kernel.last_report.units_total} {kernel.last_report.unit}s"
    every = comm.gather(mine, root=0) if comm is not None else [mine]
    if _rank() == 0:
        assert every is not None
        parts = result if isinstance(result, tuple) else (result,)
        state = sum(getattr(a, "nbytes", 0) for a in parts)  # the output arrays
        print(json.dumps({"ranks": every, "state": state}))
        shutil.rmtree(root, ignore_errors=True)


def _rank() -> int:
    return int(os.environ.get("PMI_RANK", "0"))


def launch(name: str, n: int, extra: dict, ranks: int) -> dict:
    env = dict(
        os.environ, NUMBA_NUM_THREADS=str(2 // ranks), BLOCKLOOP_PROGRESS="0", PYTHONPATH=str(ROOT)
    )
    cmd = [sys.executable, __file__, "--worker", name, str(n), str(extra.get("size", 0))]
    if ranks > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
        cmd = [mpiexec or "mpiexec", "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("NAME", "N", "SIZE"))
    parser.add_argument("--only", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    head = f"{'1 rank x 2 thr':>15}{'2 ranks x 1 thr':>17}{'ratio':>7}{'combine':>9}"
    print(f"{'kernel':<38}{head}  bytes")
    for name in args.only:
        n, extra = SHAPES[name]
        times: dict[int, list[float]] = {1: [], 2: []}
        last: dict[int, dict] = {}
        for _ in range(args.repeat):
            for ranks in (1, 2):  # interleaved
                last[ranks] = launch(name, n, extra, ranks)
                times[ranks].append(max(r["seconds"] for r in last[ranks]["ranks"]))
        one, two = statistics.median(times[1]), statistics.median(times[2])
        job = last[2]
        ranks = enumerate(job["ranks"])
        sent = ", ".join(f"rank {k} sent {r['sent']:,} wrote {r['written']:,}" for k, r in ranks)
        label, zero = f"{name} ({WHAT[name]})", job["ranks"][0]
        units = zero["units"].split()
        each = zero["running"] / max(int(units[0]), 1)
        print(
            f"{label:<38}{one:>13.3f} s{two:>15.3f} s{one / two:>7.3f}{zero['combine']:>8.2%}  "
            f"{sent}; output {job['state']:,}; while running, rank 0 sent {zero['running']:,} "
            f"in {zero['units']} ({each:,.0f} a {units[1][:-1]})"
        )


if __name__ == "__main__":
    main()
