"""Checkpointing a large state: heat2d with two N x N float64 buffers (>= 256 MB by default).

Prints, all measured in this run:

(a) the disk's own durable write bandwidth (files of the state's size, written with write +
    fsync and with early writeback, each new one made durable before the previous one is
    deleted, as a checkpoint rotation does), on an otherwise idle machine and again while
    the plain kernel computes beside it in another process;
(b) blockloop's checkpoint write bandwidth (bytes of one generation / seconds to commit
    it durably), measured alternately with (a) in the same conditions -- goal >= 70 % of
    (a) -- and on the background writer during a real run;
(c) how much of the background write time the compute loop was held up (waiting for the
    previous write and copying the snapshot) -- goal <= 10 %; (b) and (c) raise the copy
    budget above the state's size so that the writes go to the background writer;
(d) the overhead ratio blockloop / plain numba at the Daly interval for MTBF = 1 h, over
    interleaved repetitions (median), with the default copy budget (a state this large is
    written synchronously, so peak memory stays within plain numba's + max(64 MiB, 10 %))
    and, alternating with it, with background writes (a copy of the state); also the
    share of each run that the loop was held up by interval checkpoints, measured inside
    the run (on a machine whose speed drifts, the end-to-end ratio is the noisier figure).

    python benchmarks/large_state.py                 # 4096 x 4096: 256 MB of state
    python benchmarks/large_state.py --size 2048 --seconds 10 --reps 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blockloop import checkpointed_loop, daly_interval
from blockloop.storage.manifest import Identity, RunState
from blockloop.storage.store import RunPaths, Store
from kernels.heat2d import heat2d, make_args

ROOT = Path(__file__).resolve().parent.parent
STATE = RunState(kernel="bench", unit="step", done=1, total=2, reason="interval")


WAYS = ("write + fsync", "with early writeback", "blockloop commit")


def _probe(path: Path, nbytes: int, block: np.ndarray, early: bool) -> float:
    """Seconds to write ``nbytes`` of ``block`` into a new file durably."""
    start = time.perf_counter()
    with open(path, "wb") as f:
        written = 0
        while written < nbytes:
            written += f.write(memoryview(block)[: min(nbytes - written, block.size)])
            if early:
                f.flush()
                os.posix_fadvise(f.fileno(), 0, written, os.POSIX_FADV_DONTNEED)
        os.fsync(f.fileno())
    return time.perf_counter() - start


def bandwidths(snapshot: dict, where: Path, name: str, rounds: int = 4) -> dict[str, float]:
    """Bytes per second of durable writes of the state's size into ``where``, three ways.

    ``write + fsync`` is what a plain program does; ``with early writeback`` also asks the
    kernel (``posix_fadvise(DONTNEED)`` every 16 MiB) to start writing back what it has so
    far, as blockloop's store does; ``blockloop commit`` is the store's commit of
    ``snapshot`` (checksums, zip, manifest, renames, directory fsync), the call the
    background writer makes. Each way writes a new file while its previous one still exists
    and deletes that one only afterwards, as a checkpoint rotation must (deleting first would
    hand the next write the pages just freed). The ways alternate, ``rounds`` times, so a
    disk whose speed drifts meets all three alike; the median of each.
    """
    nbytes = sum(a.nbytes for a in snapshot.values())
    block = np.random.default_rng(0).integers(0, 255, 16 << 20, dtype=np.uint8)
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    previous: dict[str, Path] = {}
    with Store(RunPaths(where, name), Identity("bench", "0" * 16), keep=1) as store:
        for k in range(rounds):
            for i, way in enumerate(WAYS):
                if way == "blockloop commit":
                    times[way].append(store.save(snapshot, STATE)[1])
                    continue
                path = where / f"{name}-probe-{i}-{k}.bin"
                times[way].append(_probe(path, nbytes, block, early=i == 1))
                if way in previous:
                    previous[way].unlink()
                previous[way] = path
    for path in previous.values():
        path.unlink()
    return {way: nbytes / statistics.median(t) for way, t in times.items()}


def show(label: str, bw: dict[str, float]) -> float:
    """Print the three ways; return the disk's figure (the better probe)."""
    disk = max(bw[WAYS[0]], bw[WAYS[1]])
    print(
        f"{label}: disk {', '.join(f'{w} {bw[w] / 2**20:.0f} MiB/s' for w in WAYS[:2])}; "
        f"blockloop commit {bw[WAYS[2]] / 2**20:.0f} MiB/s = {bw[WAYS[2]] / disk:.0%} of "
        f"the disk's better way"
    )
    return disk


_BESIDE = """
import sys
from kernels.heat2d import heat2d, make_args
u, _, alpha = make_args(0, int(sys.argv[1]))
heat2d.original(u, 2, alpha)  # compiled (or loaded from the cache) before we say so
print("computing", flush=True)
while True:
    heat2d.original(u, 1000, alpha)
"""


@contextlib.contextmanager
def plain_kernel_beside(size: int):
    """The plain kernel computing in another process for as long as the block lasts.

    The same contention for cores, memory bandwidth and the kernel's writeback threads that
    blockloop's background writer meets in a run. The block starts once the other process
    says it is computing.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen(
        [sys.executable, "-c", _BESIDE, str(size)], cwd=ROOT, env=env, stdout=subprocess.PIPE
    ) as other:
        try:
            if other.stdout.readline().strip() != b"computing":
                raise RuntimeError("the plain kernel beside the disk probe did not start")
            yield
        finally:
            other.kill()


def steps_for(seconds: float, size: int) -> int:
    """Steps of the plain kernel that take about ``seconds`` on this machine."""
    u, _, alpha = make_args(0, size)
    heat2d.original(u, 2, alpha)  # compile
    t0 = time.perf_counter()
    heat2d.original(u, 10, alpha)
    per_step = (time.perf_counter() - t0) / 10
    return max(10, int(seconds / per_step))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="grid edge (default 4096)")
    parser.add_argument("--seconds", type=float, default=60.0, help="plain run length")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=".", help="where checkpoints go (default: here)")
    args = parser.parse_args()
    state_bytes = 2 * args.size * args.size * 8
    print(f"heat2d {args.size}x{args.size}: {state_bytes / 2**20:.0f} MiB of state")

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        u, _, alpha = make_args(0, args.size)
        snapshot = {"u": u, "v": u.copy()}
        print("(a) disk durable write bandwidth, rotating files of the state's size, and")
        print("(b) blockloop's commit of the state, alternating with them (goal >= 70 %):")
        show("    idle machine", bandwidths(snapshot, root, "idle"))
        with plain_kernel_beside(args.size):
            loaded = show("    plain kernel computing beside", bandwidths(snapshot, root, "busy"))
        del snapshot

        # (b) in a run, (c): interval checkpoints every 2.5 s of compute, so that several go
        # through the background writer and each finishes before the next is due
        steps = steps_for(min(args.seconds, 20.0), args.size)
        kernel = checkpointed_loop(
            checkpoint_dir=root / "bw", interval=2.5, keep=1, copy_budget=2 * state_bytes
        )(heat2d.original)
        u, _, alpha = make_args(steps, args.size)
        kernel(u, steps, alpha)
        r = kernel.last_report
        per_ckpt = r.write_seconds / r.checkpoints
        print(
            f"    in a run, on the background writer while the loop computes: "
            f"{state_bytes / per_ckpt / 2**20:.0f} MiB/s = {state_bytes / per_ckpt / loaded:.0%}"
            f" of the disk beside compute above ({r.checkpoints} checkpoints, "
            f"{per_ckpt:.2f} s each)"
        )
        background = r.write_seconds - per_ckpt  # the final checkpoint is synchronous
        print(
            f"(c) compute loop held up {r.blocked_seconds:.2f} s of {background:.2f} s of "
            f"background writing = {r.blocked_seconds / max(background, 1e-9):.1%}"
        )

        # (d): the default policy with MTBF = 1 h against plain numba, interleaved; each
        # repetition runs plain numba, then blockloop with each copy budget
        steps = steps_for(args.seconds, args.size)
        budgets = {"synchronous (default)": None, "background": 2 * state_bytes}
        ratios: dict[str, list[float]] = {way: [] for way in budgets}
        held: dict[str, list[float]] = {way: [] for way in budgets}
        for rep in range(args.reps):
            u, _, alpha = make_args(steps, args.size)
            t0 = time.perf_counter()
            plain = heat2d.original(u, steps, alpha)
            t_plain = time.perf_counter() - t0
            print(f"    rep {rep}: plain {t_plain:.2f} s")
            for k, (way, budget) in enumerate(budgets.items()):
                kernel = checkpointed_loop(
                    checkpoint_dir=root / f"d{rep}-{k}",
                    mtbf="1h",
                    keep=1,
                    copy_budget=budget,
                )(heat2d.original)
                u, _, alpha = make_args(steps, args.size)
                t0 = time.perf_counter()
                blocked = kernel(u, steps, alpha)
                t_blocked = time.perf_counter() - t0
                assert np.array_equal(plain, blocked)
                ratios[way].append(t_blocked / t_plain)
                r = kernel.last_report
                held[way].append(r.blocked_seconds / t_blocked)
                print(
                    f"      {way}: {t_blocked:.2f} s, {r.checkpoints} checkpoints "
                    f"({', '.join(sorted(set(r.writes)))}), write cost {r.write_cost:.3f} s, "
                    f"interval {r.interval:.1f} s "
                    f"(Daly {daly_interval(r.write_cost, 3600):.1f} s), loop held up by "
                    f"interval checkpoints {r.blocked_seconds:.2f} s = {held[way][-1]:.2%}"
                )
        for way, values in ratios.items():
            print(
                f"(d) overhead at MTBF 1 h ({steps} steps), {way}: median ratio "
                f"{statistics.median(values):.4f} (per rep: "
                f"{', '.join(f'{x:.4f}' for x in values)}); loop held up by interval "
                f"checkpoints: median {statistics.median(held[way]):.2%} of the run"
            )


if __name__ == "__main__":
    main()
